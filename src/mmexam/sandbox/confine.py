"""What the sandboxed processes do to themselves: prctl flags, rlimits, the seccomp filter.

Runs inside the sandbox (imported by the zygote and its children as a
sibling file), so it imports nothing but the standard library.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import struct

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, value: int) -> None:
    """prctl(option, value), where the platform has it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to harden
        pass


def vsize() -> int:
    """This process's virtual size in bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def rss(pid: int) -> int:
    """The resident size of process `pid` in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def set_child_limits(config: dict) -> None:
    """The rlimits of a fresh child: no core, a file size, a CPU total, processes, memory."""

    def limit(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_MSGQUEUE, 0)  # no POSIX message queue: they outlive the student
    limit(resource.RLIMIT_FSIZE, config["file_bytes"])
    cpu = math.ceil(config["cpu_seconds_total"])
    limit(resource.RLIMIT_CPU, cpu)
    if config["max_processes"] > 0:
        limit(resource.RLIMIT_NPROC, config["nproc_base"] + config["max_processes"])
    if config["device"] == "cpu" and config["rlimit_as"]:
        limit(resource.RLIMIT_AS, vsize() + config["memory_mb"] * (1 << 20))


# ---------------------------------------------------------------------------
# A seccomp filter for the child: no namespaces, no ptrace, no kernel extras
# ---------------------------------------------------------------------------
#
# Student code needs none of these system calls; each is kernel attack
# surface (a user namespace, above all). The filter answers EPERM (ENOSYS for
# clone3, so the C library falls back to clone, whose flags can be checked).
#
# Signals may reach only the child itself, its own process group and the
# processes it started (their PIDs are higher than its own): never the zygote,
# whose death would cost every later file a restart (importing torch again).

_SECCOMP_ARCHES = {
    # AUDIT_ARCH value: (denied syscall numbers, clone, clone3, signal-sending calls)
    "x86_64": (
        0xC000003E,
        (272, 308, 165, 166, 155, 101, 310, 311, 250, 248, 249, 321, 298, 323, 246, 175, 313,
         176, 167, 168, 169, 304, 303, 161, 163, 164, 172, 173, 179, 424),
        56,
        435,
        (62, 200, 234, 129, 297),  # kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo
    ),
    "aarch64": (
        0xC00000B7,
        (97, 268, 40, 39, 41, 117, 270, 271, 219, 217, 218, 280, 241, 282, 104, 105, 273, 106,
         224, 225, 142, 265, 264, 51, 89, 170, 60, 424),
        220,
        435,
        (129, 130, 131, 138, 240),
    ),
}  # fmt: skip
# Calls refused by one argument: (syscall number per arch, offset of the argument in
# seccomp_data, the values refused — or, with allow=True, the only value allowed).
# fcntl F_SETOWN / F_SETSIG / F_SETOWN_EX and ioctl FIOSETOWN / SIOCSPGRP make the
# kernel send a signal (SIGIO, or any chosen one) to another process — the zygote —
# past the signal filter below; socket(2) and socketpair(2) only for AF_UNIX: no
# AF_VSOCK, AF_NETLINK, AF_PACKET… (kernel surface, and a way out of the network
# namespace for vsock).
_F_SETOWN, _F_SETSIG, _F_SETOWN_EX = 8, 10, 15
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902
_AF_UNIX = 1
_ARG_RULES: dict[str, tuple[tuple[int, int, tuple[int, ...], bool], ...]] = {
    "x86_64": (
        (72, 24, (_F_SETOWN, _F_SETSIG, _F_SETOWN_EX), False),  # fcntl(fd, cmd)
        (16, 24, (_FIOSETOWN, _SIOCSPGRP), False),  # ioctl(fd, request)
        (41, 16, (_AF_UNIX,), True),  # socket(domain)
        (53, 16, (_AF_UNIX,), True),  # socketpair(domain)
    ),
    "aarch64": (
        (25, 24, (_F_SETOWN, _F_SETSIG, _F_SETOWN_EX), False),
        (29, 24, (_FIOSETOWN, _SIOCSPGRP), False),
        (198, 16, (_AF_UNIX,), True),
        (199, 16, (_AF_UNIX,), True),
    ),
}


def _argument_rule(
    number: int, offset: int, values: tuple[int, ...], allow: bool, eperm: int
) -> list[tuple[int, int, int, int]]:
    """BPF that answers EPERM when syscall `number`'s argument at `offset` is one of
    `values` (allow=False) or none of them (allow=True); A holds the syscall number
    before and after."""
    ld, jeq, ja, ret = 0x20, 0x15, 0x05, 0x06
    n = len(values)
    # Lines: 0 load the argument, 1..n compare, n+1 jump, n+2 EPERM, n+3 reload the number.
    block = [(ld, 0, 0, offset)]
    for i, v in enumerate(values):
        block.append((jeq, n + 1 - i if allow else n - i, 0, v))  # to the reload / to EPERM
    block.append((ja, 0, 0, 0 if allow else 1))  # no value matched: EPERM / the reload
    block.append((ret, 0, 0, eperm))
    block.append((ld, 0, 0, 0))
    return [(jeq, 0, len(block), number), *block]


_CLONE_NAMESPACES = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x04000000 | 0x08000000
_CLONE_NAMESPACES |= 0x02000000  # NEWUSER, NEWNS, NEWPID, NEWNET, NEWUTS, NEWIPC, NEWCGROUP


def seccomp_program(machine: str, own_pid: int) -> bytes | None:
    """The classic-BPF program for `machine` in the process `own_pid`, or None where the
    machine is not known."""
    arch = _SECCOMP_ARCHES.get(machine)
    if arch is None:
        return None
    audit, denied, clone, clone3, signalling = arch
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    ld, jeq, jge, jset, ja, ret = 0x20, 0x15, 0x35, 0x45, 0x05, 0x06
    body = [(ld, 0, 0, 0)]  # A = nr
    for number in denied:
        body.append((jeq, 0, 1, number))
        body.append((ret, 0, 0, eperm))
    for rule in _ARG_RULES.get(machine, ()):
        body += _argument_rule(*rule, eperm)
    for i, number in enumerate(signalling):  # to the target check below
        body.append((jeq, len(signalling) - i, 0, number))
    body.append((ja, 0, 0, 7))  # not a signal: past the target check
    body += [
        (ld, 0, 0, 16),  # A = the target: pid, -pgid, 0 (own group) or -1 (everyone)
        (jeq, 4, 0, 0),
        (jeq, 3, 0, -own_pid & 0xFFFFFFFF),
        (jge, 1, 0, 0x80000000),  # another group, or -1
        (jge, 1, 0, own_pid),  # itself or a process it started, else the zygote (or init)
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    body.append((jeq, 0, 1, clone3))
    body.append((ret, 0, 0, enosys))
    body.append((jeq, 0, 3, clone))
    body.append((ld, 0, 0, 16))  # A = low word of args[0], the clone flags
    body.append((jset, 0, 1, _CLONE_NAMESPACES))
    body.append((ret, 0, 0, eperm))
    body.append((ret, 0, 0, allow))
    head = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, allow)]  # another ABI: leave it be
    return b"".join(struct.pack("<HBBI", *insn) for insn in head + body)


def install_seccomp() -> bool:
    """Load the filter into this process (and its future children); whether it worked."""
    program = seccomp_program(os.uname().machine, os.getpid())
    if program is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(program, len(program))

        class _Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        prog = _Prog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return False
        return libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
    except (OSError, AttributeError):
        return False
