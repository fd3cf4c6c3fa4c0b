"""Between two students, inside the sandbox: empty /tmp and the IPC namespace, and say what stayed.

The zygote and every child it forks share one bubblewrap box: one private
/tmp and one IPC namespace. After a student's child and everything it started
are dead, the zygote calls `wipe`: every entry of /tmp goes (folders a student
made unreadable are opened up first — they belong to the same uid), and every
System V shared memory segment, semaphore set and message queue of the
namespace is removed (what `ipcrm -a` does). Then it looks again and returns
what is still there; anything at all makes the trusted side restart the zygote
(a fresh box) before the next student, at the grader's cost.

POSIX message queues cannot be listed without mounting mqueue; the children's
RLIMIT_MSGQUEUE is 0, so none can be made. Runs inside the sandbox: the
standard library only.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat

_IPC_RMID = 0
# /proc/sysvipc file -> the libc call that removes one of its objects, by id
_SYSV = {"shm": "shmctl", "sem": "semctl", "msg": "msgctl"}


def _open_up(path: str) -> None:
    """Make every folder under `path` (the student's own uid) listable and writable."""
    for root, dirs, _files in os.walk(path, onerror=lambda _e: None):
        for name in dirs:
            full = os.path.join(root, name)
            try:
                if not os.path.islink(full):
                    os.chmod(full, 0o700)
            except OSError:
                pass


def _remove(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if not stat.S_ISDIR(mode):
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        _open_up(path)
        shutil.rmtree(path, ignore_errors=True)


def _sysv_ids(kind: str) -> list[int]:
    try:
        with open(f"/proc/sysvipc/{kind}") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return []
    ids = []
    for line in lines:
        fields = line.split()
        if len(fields) > 1 and fields[1].lstrip("-").isdigit():
            ids.append(int(fields[1]))
    return ids


def _remove_sysv() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    for kind, function in _SYSV.items():
        remove = getattr(libc, function, None)
        if remove is None:
            continue
        for ident in _sysv_ids(kind):
            if kind == "sem":
                remove(ident, 0, _IPC_RMID, 0)
            else:
                remove(ident, _IPC_RMID, None)


def _mounted_under(tmp: str) -> set[str]:
    """The entries of `tmp` that hold the box's own mounts (bubblewrap made them, root-owned).

    A grader whose interpreter or course lives under /tmp (a venv in a clone there)
    has it bound into the box below the private /tmp: those folders are the box's,
    not a student's, cannot be removed, and must not count as leftovers."""
    prefix = tmp.rstrip("/") + "/"
    kept = set()
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 4 and fields[4].startswith(prefix):
                    kept.add(fields[4][len(prefix) :].split("/", 1)[0])
    except OSError:
        pass
    return kept


def leftovers(tmp: str) -> list[str]:
    """What a student could have left for the next one: entries of `tmp`, SysV objects."""
    found = []
    try:
        kept = _mounted_under(tmp)
        found += [os.path.join(tmp, name) for name in os.listdir(tmp) if name not in kept]
    except OSError as exc:
        found.append(f"{tmp} cannot be listed ({exc.strerror})")
    for kind in _SYSV:
        found += [f"SysV {kind} {ident}" for ident in _sysv_ids(kind)]
    return found


def wipe(tmp: str) -> list[str]:
    """Empty `tmp` and the IPC namespace; what is still there afterwards (nothing, normally)."""
    try:
        names = os.listdir(tmp)
    except OSError:
        names = []
    kept = _mounted_under(tmp)
    for name in names:
        if name not in kept:
            _remove(os.path.join(tmp, name))
    _remove_sysv()
    return leftovers(tmp)
