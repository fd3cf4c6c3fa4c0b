"""The zygote: imports torch once inside the sandbox, then forks one child per submission.

The trusted side (`client.py`) starts this file inside the sandbox as part of
the package `mmexam_sandbox` (see `client.BOOT`), with two arguments: the
control socket's descriptor (a SOCK_SEQPACKET socket to the trusted side) and
its configuration as JSON. The zygote imports torch and the trusted module
files it was given, warms them up, and then waits for commands on the
control socket (the message kinds of `wire.py`):

- ``open``: comes with two file descriptors from the trusted side, a stream
  socket for the submission's protocol and a pipe for its stdout/stderr. The
  zygote forks a child (`child.py`) for them.
- ``finish``: kills the child, everything it started, and reports how it ended.
- ``script``: keeps the grader's replayed calls, decoded, for every later child.
- ``stats``, ``ping``: CPU time so far; a sign of life.

This file must not import mmexam: the package is invisible inside the
sandbox. Only the standard library, torch, its sibling files and the trusted
module files are used.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import select
import shutil
import signal
import socket
import time

from .child import child_main
from .confine import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    prctl,
    rss,
    vsize,
)
from .modules import load_modules
from .wipe import wipe
from .wire import (
    FINISH,
    HEADER,
    MAX_META,
    OPEN,
    PING,
    SCRIPT,
    STATS,
    decode_tensors,
    encode_tensors,
    frame_meta,
    pack_frame,
)

_MADV_COLLAPSE = 25
_HUGE_PAGE = 2 << 20


class Zygote:
    """Answers the trusted side's commands; forks the children."""

    def __init__(self, ctrl: socket.socket, config: dict, registry: dict) -> None:
        self.ctrl = ctrl
        self.config = config
        self.registry = registry  # class name -> trusted nn.Module class, for every child
        self.pid_ns = bool(config["pid_namespace"])
        self.live: dict[int, dict] = {}
        self.counter = 0
        self.scripts: dict[str, dict] = {}  # file name -> the grader's replayed calls, decoded

    def warm_up(self) -> None:
        """Pay torch's first-use costs once, here, instead of in every child."""
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        import torch.distributions  # students reach for Normal / kl_divergence

        # A non-scalar backward with explicit upstream gradients imports sympy
        # and hundreds of modules (0.7 s) on first use: pay it once, here.
        import torch.fx.experimental.symbolic_shapes

        a = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
        b = torch.randn(8, 5)
        if self.config["device"] == "cpu":
            # Not on the GPU lane: the autograd engine's first backward counts
            # the CUDA devices, which initialises CUDA here and makes it fail
            # ("initialization error") in every forked child.
            (a @ a.T).sum().backward()
            torch.autograd.backward([a * 2], [torch.ones_like(a)])
            torch.autograd.grad([(a * 3).sum(-1)], [a], [torch.ones(8, dtype=torch.float64)])
        F.softmax(b, dim=-1).log().sum()
        F.log_softmax(b, dim=0)
        F.cross_entropy(b, torch.arange(8) % 5)
        F.normalize(b, dim=-1)
        torch.einsum("bi,bj->bij", b, b).flatten(1)
        torch.tanh(b).exp().sqrt()
        layer = torch.nn.Linear(5, 5).eval()  # an nn.Module built and called, as trusted ones are
        layer.register_buffer("shift", torch.zeros(5))
        layer(b)
        decode_tensors(encode_tensors({"x": b, "y": a}), 1 << 20)

    def serve(self) -> None:
        self.ctrl.sendall(
            pack_frame({"ready": True, "pid": os.getpid(), "threads": _threads(), "vsize": vsize()})
        )
        while True:
            timeout = 0.05 if any(c["rss_limit"] for c in self.live.values()) else None
            ready, _, _ = select.select([self.ctrl], [], [], timeout)
            if not ready:
                self._poll_memory()
                continue
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.ctrl, MAX_META + HEADER.size, 4)
            except OSError:
                return
            if not data:
                return
            meta = frame_meta(data)
            kind = meta.get("kind")
            if kind == OPEN:
                reply = self.open(fds, meta)
            elif kind == FINISH:
                for fd in fds:
                    os.close(fd)
                reply = self.finish(int(meta["pid"]), float(meta.get("grace", 0.0)))
            elif kind == SCRIPT:
                reply = self.script(fds)
            elif kind == PING:
                reply = {"pong": True}
            elif kind == STATS:
                mine = resource.getrusage(resource.RUSAGE_SELF)
                done = resource.getrusage(resource.RUSAGE_CHILDREN)
                reply = {
                    "cpu": mine.ru_utime + mine.ru_stime + done.ru_utime + done.ru_stime,
                    "children_cpu": done.ru_utime + done.ru_stime,
                }
            else:
                return
            self.ctrl.sendall(pack_frame(reply))

    def open(self, fds: list[int], meta: dict) -> dict:
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return {"error": "open needs two file descriptors"}
        sock_fd, out_fd = fds
        self.counter += 1
        workdir = os.path.join(
            self.config["tmp"], f"mmexam-submission-{os.getpid()}-{self.counter}"
        )
        config = dict(self.config)
        config["memory_mb"] = int(meta.get("memory_mb") or config["memory_mb"])
        try:
            # The sandbox's failure, never the student's: the grader restarts the zygote.
            os.mkdir(workdir, 0o700)
            pid = os.fork()
        except OSError as exc:
            os.close(sock_fd)
            os.close(out_fd)
            shutil.rmtree(workdir, ignore_errors=True)
            return {"error": f"cannot start a child: {exc}"}
        if pid == 0:
            child_main(sock_fd, out_fd, set(), workdir, config, self.scripts, self.registry)
        os.close(sock_fd)
        os.close(out_fd)
        rss_limit = 0
        if config["device"] != "cpu" or not config["rlimit_as"]:
            rss_limit = rss(os.getpid()) + (config["memory_mb"] + config["rss_slack_mb"]) * (
                1 << 20
            )
        self.live[pid] = {"workdir": workdir, "rss_limit": rss_limit, "reason": None}
        return {"pid": pid}

    def script(self, fds: list[int]) -> dict:
        """Keep a script (one frame in a memfd: its calls and their tensors), decoded once
        here so that every later child is born with it."""
        try:
            if len(fds) != 1:
                return {"error": "a script comes as one file descriptor"}
            size = os.fstat(fds[0]).st_size
            if size > self.config["max_request_bytes"]:
                return {"error": "the script is too large"}
            data = os.pread(fds[0], size, 0)
        finally:
            for fd in fds:
                os.close(fd)
        meta_len, blob_len = HEADER.unpack_from(data)
        if meta_len > MAX_META or HEADER.size + meta_len + blob_len != len(data):
            return {"error": "the script is not one frame"}
        meta = json.loads(data[HEADER.size : HEADER.size + meta_len])
        tensors = decode_tensors(data[HEADER.size + meta_len :], len(data))
        self.scripts[str(meta["file"])] = {"calls": meta["calls"], "tensors": tensors}
        # Kept for every child to come: out of the collector's sight, like the imports.
        gc.freeze()
        return {"id": meta["id"]}

    def _poll_memory(self) -> None:
        for pid, child in self.live.items():
            over = child["rss_limit"] and rss(pid) > child["rss_limit"]
            if over and child["reason"] is None:
                child["reason"] = "memory"
                _kill_tree(pid)

    def finish(self, pid: int, grace: float) -> dict:
        child = self.live.pop(pid, None)
        if child is None:
            return {"error": f"no child {pid}"}
        status = None
        deadline = time.monotonic() + grace
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.002)
        killed = not done
        if not done:
            _kill_tree(pid)
            _, status, usage = os.wait4(pid, 0)
        self._sweep()
        if self.config.get("wipe") and not self.live:
            dirty = wipe(self.config["tmp"])
        else:
            shutil.rmtree(child["workdir"], ignore_errors=True)
            dirty = []
        reply = {
            "dirty": dirty[:20],
            "killed": killed,
            "cpu": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "minflt": usage.ru_minflt,
            "reason": child["reason"],
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        }
        return reply

    def _sweep(self) -> None:
        """Kill and reap everything the child left behind (daemons, threads, forks)."""
        for _ in range(200):
            if self.pid_ns:
                try:
                    os.kill(-1, signal.SIGKILL)  # everything we may signal in our PID namespace
                except OSError:
                    pass
            orphans = [p for p in _children(os.getpid()) if p not in self.live]
            for p in orphans:
                _kill_tree(p)
            reaped = False
            while True:
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                reaped = True
            if not orphans and not reaped:
                return
            if orphans and not reaped:
                time.sleep(0.001)


def _collapse_to_huge_pages() -> int:
    """Back the zygote's anonymous memory (torch and the interpreter's heap) with huge pages.

    fork() copies, and every child's exit frees, one page-table entry per 4 KiB
    page the zygote has: some 45,000 for torch's ~180 MB. Collapsed into 2 MiB
    pages (MADV_COLLAPSE, Linux 6.1+) they are one entry each, which makes a
    fork and an exit several milliseconds cheaper. A child that writes to one
    still copies only the 4 KiB it touches. Where the kernel cannot (older
    kernels, THP disabled) nothing changes. Returns the bytes collapsed.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/self/maps") as handle:
            lines = handle.read().splitlines()
    except (OSError, AttributeError):
        return 0
    madvise = libc.madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    done = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[5:] not in ([], ["[heap]"]):
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        low = -(-low // _HUGE_PAGE) * _HUGE_PAGE
        high = high // _HUGE_PAGE * _HUGE_PAGE
        if high > low and madvise(low, high - low, _MADV_COLLAPSE) == 0:
            done += high - low
    return done


def _kill_tree(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


def _children(pid: int) -> list[int]:
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            found = [int(x) for x in handle.read().split()]
    except OSError:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def main(argv: list[str]) -> int:
    """Run the zygote: `argv` is [control socket descriptor, configuration JSON]."""
    ctrl_fd = int(argv[0])
    config = json.loads(argv[1])
    registry = load_modules(tuple(config["modules"]))
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    ctrl = socket.socket(fileno=ctrl_fd)
    zygote = Zygote(ctrl, config, registry)
    zygote.warm_up()
    # Everything imported so far is shared with every child copy-on-write; a
    # garbage collection in a child would write to all of it and copy every
    # page. Freezing moves these objects out of the collector's sight.
    gc.collect()
    gc.freeze()
    _collapse_to_huge_pages()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    zygote.serve()
    return 0
