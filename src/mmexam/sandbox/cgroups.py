"""Control groups for the sandbox, from outside: memory, processes and CPU of a whole box.

Limits a process sets on itself (rlimits) bind one process; a student with 64
processes has 64 of them. A control group binds them all together, and only
the trusted side — root, outside the box — can change it. Each `Sandbox`
gets one group (the *box*) with two leaves: `zygote` (bubblewrap, which
joins before it runs) and `student`. Once the zygote has imported torch, the
trusted side moves it into `student` — once per zygote — and every child it
forks is born there: no child is ever moved. (Moving a process waits for an
RCU grace period on a default kernel, 13.6 ms on average on the CI machine;
once per student that cost a few per cent of the grader's throughput.) The
zygote's own memory stays charged to `zygote`, where it was allocated; the
kernel's OOM killer ranks every child first (`oom_score_adj` 1000, set from
outside; the child's /proc files belong to root, so the student cannot lower
it) and the zygote last. The trusted side sets the limits, reads what was
used (peak memory, CPU time), kills whatever the student left in `student`
before the next student, and removes the groups at the end.

Two kernels' interfaces behind one class:

- cgroup v2 (one unified hierarchy), where the memory, pids and cpu
  controllers can be enabled below this process's own group;
- cgroup v1, one hierarchy per controller (memory, pids, cpu, cpuacct), as on
  the machines this was built on (root can create groups there).

The memory controller charges anonymous memory, tmpfs pages (the box's /tmp),
SysV and POSIX shared memory and memfd alike to the group of the process that
touched them. Where neither works (no root, no controllers) `probe()` says why
and the sandbox falls back to rlimits, loudly.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

CONTROLLERS_V1 = ("memory", "pids", "cpu", "cpuacct")
CONTROLLERS_V2 = ("memory", "pids", "cpu")
_counter = itertools.count()
_probe_lock = threading.Lock()
_probed: list[tuple[_Hierarchy | None, str | None]] = []


class CgroupError(OSError):
    """A control group could not be made, filled, read or removed."""


def _read(path: Path) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: Path, value: str | int) -> None:
    with open(path, "w") as handle:
        handle.write(str(value))


class _Hierarchy:
    """Where this process may create groups: one folder per controller (v1), or one (v2)."""

    def __init__(self, version: int, parents: dict[str, Path]) -> None:
        self.version = version
        self.parents = parents  # controller -> the folder new groups go in (v2: one folder)

    def folders(self, name: str) -> dict[str, Path]:
        return {c: p / name for c, p in self.parents.items()}


def _own_groups() -> dict[str, str]:
    """This process's group in each hierarchy: controller (or '' for v2) -> path."""
    groups = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


def _mounts() -> tuple[dict[str, Path], Path | None]:
    """v1 mount point of each controller, and the cgroup2 mount (if any)."""
    v1: dict[str, Path] = {}
    v2 = None
    for line in _read(Path("/proc/self/mounts")).splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        if fields[2] == "cgroup2" and v2 is None:
            v2 = Path(fields[1])
        elif fields[2] == "cgroup":
            for option in fields[3].split(","):
                if option in CONTROLLERS_V1:
                    v1.setdefault(option, Path(fields[1]))
    return v1, v2


def _writable(folder: Path) -> bool:
    test = folder / f"mmexam-probe-{os.getpid()}-{next(_counter)}"
    try:
        test.mkdir()
    except OSError:
        return False
    try:
        test.rmdir()
    except OSError:
        pass
    return True


def _probe_v2(mount: Path, own: dict[str, str]) -> _Hierarchy | None:
    parent = mount / own.get("", "/").lstrip("/")
    try:
        available = _read(parent / "cgroup.controllers").split()
        if not set(CONTROLLERS_V2) <= set(available):
            return None
        enabled = _read(parent / "cgroup.subtree_control").split()
        missing = [c for c in CONTROLLERS_V2 if c not in enabled]
        if missing:
            _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
    except OSError:
        return None
    return _Hierarchy(2, {"": parent}) if _writable(parent) else None


def _probe_v1(mounts: dict[str, Path], own: dict[str, str]) -> _Hierarchy | None:
    if not set(CONTROLLERS_V1) <= set(mounts):
        return None
    parents = {c: mounts[c] / own.get(c, "/").lstrip("/") for c in CONTROLLERS_V1}
    if not all(_writable(p) for p in parents.values()):
        return None
    return _Hierarchy(1, parents)


def probe() -> tuple[_Hierarchy | None, str | None]:
    """The hierarchy to make groups in, or None and why not (one line); cached."""
    with _probe_lock:
        if not _probed:
            _probed.append(_probe())
        return _probed[0]


def _probe() -> tuple[_Hierarchy | None, str | None]:
    if os.environ.get("MMEXAM_NO_CGROUPS"):
        return None, "MMEXAM_NO_CGROUPS is set"
    try:
        v1, v2 = _mounts()
        own = _own_groups()
    except (OSError, ValueError) as exc:
        return None, f"the control groups cannot be read ({exc})"
    if v2 is not None:
        found = _probe_v2(v2, own)
        if found is not None:
            return found, None
    found = _probe_v1(v1, own)
    if found is not None:
        return found, None
    if os.geteuid() != 0:
        return None, "not root, and no cgroup delegated to this user"
    return None, (
        "no usable cgroup controllers: neither cgroup v2 with memory, pids and cpu "
        "enabled nor cgroup v1 memory, pids, cpu and cpuacct hierarchies that can be written"
    )


class Cgroup:
    """One control group in every hierarchy it lives in; made by `Cgroup.create` or `.child`."""

    def __init__(self, hierarchy: _Hierarchy, folders: dict[str, Path]) -> None:
        self.hierarchy = hierarchy
        self.version = hierarchy.version
        self.folders = folders
        self._peak_fd: int | None = None

    @classmethod
    def create(cls, hierarchy: _Hierarchy, prefix: str = "mmexam") -> Cgroup:
        """A new top-level group for this process, `<prefix>-<pid>-<n>`."""
        _remove_stale(hierarchy, prefix)
        name = f"{prefix}-{os.getpid()}-{next(_counter)}"
        group = cls(hierarchy, hierarchy.folders(name))
        group._make()
        if group.version == 2:
            _write(group._file("cgroup.subtree_control"), "+memory +pids +cpu")
        return group

    def child(self, name: str) -> Cgroup:
        """A group inside this one (inherits its limits: they bind both together)."""
        group = Cgroup(self.hierarchy, {c: p / name for c, p in self.folders.items()})
        group._make()
        return group

    def _make(self) -> None:
        for folder in self.folders.values():
            try:
                folder.mkdir()
            except FileExistsError:
                pass
            except OSError as exc:
                raise CgroupError(f"cannot create the control group {folder}: {exc}") from None

    def _file(self, name: str) -> Path:
        """The file `name` ('memory.limit_in_bytes', 'pids.max', ...) in its controller's folder."""
        if self.version == 2:
            return self.folders[""] / name
        controller = name.split(".", 1)[0]
        if controller == "cgroup":
            controller = "pids"
        return self.folders[controller] / name

    # -- membership ----------------------------------------------------------------

    def add(self, pid: int) -> None:
        """Move process `pid` (all its threads) into this group, in every hierarchy."""
        for folder in self.folders.values():
            _write(folder / "cgroup.procs", pid)

    def procs(self) -> list[int]:
        """The processes in this group now (the pids hierarchy's view under v1)."""
        try:
            return [int(p) for p in _read(self._file("cgroup.procs")).split()]
        except OSError:
            return []

    def kill_all(self, keep: frozenset[int] = frozenset(), timeout: float = 2.0) -> int:
        """SIGKILL every process in the group but `keep` until none is left; how many were
        killed."""
        killed = 0
        deadline = time.monotonic() + timeout
        while True:
            pids = [pid for pid in self.procs() if pid not in keep]
            if not pids or time.monotonic() > deadline:
                return killed
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            time.sleep(0.002)

    # -- limits ----------------------------------------------------------------------

    def limit(self, memory_bytes: int | None, processes: int | None, cpus: float | None) -> None:
        """Memory (anonymous, tmpfs, shm, memfd; no swap), tasks, and CPUs' worth of time."""
        if memory_bytes is not None:
            if self.version == 2:
                _write(self._file("memory.max"), memory_bytes)
                _try_write(self._file("memory.swap.max"), 0)
            else:
                _write(self._file("memory.limit_in_bytes"), memory_bytes)
                _try_write(self._file("memory.memsw.limit_in_bytes"), memory_bytes)
        if processes is not None:
            _write(self._file("pids.max"), processes)
        if cpus is not None:
            period = 100_000
            quota = max(1000, int(cpus * period))
            if self.version == 2:
                _write(self._file("cpu.max"), f"{quota} {period}")
            else:
                _write(self._file("cpu.cfs_period_us"), period)
                _write(self._file("cpu.cfs_quota_us"), quota)

    # -- measurements ------------------------------------------------------------------

    def memory_now(self) -> int:
        """Bytes charged to the group now."""
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return int(_read(self._file(name)))

    def reset_peak(self) -> None:
        """Start the peak over from the memory charged now."""
        if self.version == 1:
            _write(self._file("memory.max_usage_in_bytes"), 0)
            return
        if self._peak_fd is None:  # v2 resets the peak seen through one open file
            self._peak_fd = os.open(self._file("memory.peak"), os.O_RDWR)
        os.pwrite(self._peak_fd, b"reset\n", 0)

    def memory_peak(self) -> int:
        """The most bytes charged to the group since it was made or `reset_peak`."""
        if self.version == 1:
            return int(_read(self._file("memory.max_usage_in_bytes")))
        if self._peak_fd is not None:
            return int(os.pread(self._peak_fd, 64, 0))
        return int(_read(self._file("memory.peak")))

    def oom_kills(self) -> int:
        """How many processes the kernel killed here for running out of the group's memory."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in _read(self._file(name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
            if self.version == 1:  # kernels before 4.13: the failure count instead
                return int(_read(self._file("memory.failcnt")))
        except (OSError, ValueError):
            pass
        return 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of every process that ran in the group, dead ones included."""
        if self.version == 2:
            for line in _read(self._file("cpu.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return 0.0
        return int(_read(self._file("cpuacct.usage"))) / 1e9

    def remove(self) -> None:
        """Kill what is left and remove the group (its child groups must be removed first)."""
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        self.kill_all()
        for folder in self.folders.values():
            _rmdir(folder)


def _try_write(path: Path, value: str | int) -> None:
    try:
        _write(path, value)
    except OSError:  # no swap accounting here: nothing to limit
        pass


def _rmdir(folder: Path) -> None:
    for _ in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)  # the last killed process is still exiting


def _remove_stale(hierarchy: _Hierarchy, prefix: str) -> None:
    """Remove the empty groups of earlier runs whose process is gone."""
    for parent in hierarchy.parents.values():
        try:
            names = [p.name for p in parent.iterdir() if p.name.startswith(prefix + "-")]
        except OSError:
            continue
        for name in names:
            try:
                pid = int(name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid == os.getpid() or Path(f"/proc/{pid}").exists():
                continue
            try:
                subs = [sub for sub in (parent / name).iterdir() if sub.is_dir()]
            except OSError:  # another worker of this run removed it first
                continue
            for sub in subs:
                _rmdir_quiet(sub)
            _rmdir_quiet(parent / name)


def _rmdir_quiet(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _ns_pid(pid: int) -> int | None:
    """Process `pid`'s number inside its innermost PID namespace (the zygote's view)."""
    try:
        for line in _read(Path(f"/proc/{pid}/status")).splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


def _host_pid(group: Cgroup, ns_pid: int) -> int:
    """The host pid of the process in `group` that is `ns_pid` in the box's PID namespace."""
    for pid in group.procs():
        if _ns_pid(pid) == ns_pid and pid != os.getpid():
            return pid
    raise CgroupError(f"the sandbox's process {ns_pid} is not in its control group")


def _oom_score_adj(pid: int, value: int) -> None:
    """Set how the kernel's OOM killer ranks `pid` (-1000 never .. 1000 first), where this
    process may: lowering needs CAP_SYS_RESOURCE (which root in some containers lacks),
    raising does not."""
    try:
        _write(Path(f"/proc/{pid}/oom_score_adj"), value)
    except OSError:
        pass


class BoxGroups:
    """The groups of one sandbox: `box` (limits for everything), `zygote` and `student`.

    `enter` runs in the forked process before it execs bubblewrap, so the box
    starts inside `zygote`; `seat` moves the ready zygote into `student`, where
    its children are born; `admit` takes a fresh child's measure before any
    student code runs in it; `release` kills what the student left and says
    what the student used.
    """

    def __init__(
        self,
        hierarchy: _Hierarchy,
        *,
        student_bytes: int,
        box_bytes: int,
        processes: int,
        cpus: float,
    ) -> None:
        self.student_bytes = student_bytes
        self.box_bytes = box_bytes
        self.processes = processes
        self.box = Cgroup.create(hierarchy)
        try:
            self.box.limit(box_bytes, processes + 64, None)
            self.zygote = self.box.child("zygote")
            self.student = self.box.child("student")
            self.student.limit(student_bytes, processes, cpus)
        except OSError:
            self.box.remove()
            raise
        self._keep: frozenset[int] = frozenset()  # the zygote, in `student` with the children
        self._cpu0 = 0.0
        self._oom0 = 0

    def enter(self) -> None:
        """In the process about to exec the sandbox (Popen's preexec_fn): join `zygote`."""
        self.zygote.add(os.getpid())

    def seat(self, ns_pid: int) -> None:
        """Move the zygote (`ns_pid` in its namespace), ready and done importing, into `student`.

        Its memory so far stays charged to `zygote` (neither v1 nor v2 moves a
        process's charges with it); what it allocates from now on, and every
        child, is charged to `student`, whose process limit grows by the
        zygote's threads. The OOM killer is told never to pick it (where this
        process may say so); every child is ranked first in any case (`admit`).
        """
        pid = _host_pid(self.zygote, ns_pid)
        threads = len(os.listdir(f"/proc/{pid}/task"))
        _oom_score_adj(pid, -1000)
        self.student.limit(None, self.processes + threads, None)
        self.student.add(pid)
        self._keep = frozenset({pid})

    def admit(self, ns_pid: int) -> int:
        """The host pid of the child the zygote just forked (`ns_pid` in its namespace), born
        in `student`. The OOM killer is told to pick it first; the student group's peak memory
        and CPU start from here."""
        pid = _host_pid(self.student, ns_pid)
        self.student.kill_all(self._keep | {pid})  # anything that outlived `release`
        _oom_score_adj(pid, 1000)
        self.student.reset_peak()
        self._cpu0 = self.student.cpu_seconds()
        self._oom0 = self.student.oom_kills()
        return pid

    def release(self) -> dict:
        """Kill every process the student left; what the student's processes used in all
        (the zygote's share: reaping the child and emptying `/tmp`, a few milliseconds)."""
        left = self.student.kill_all(self._keep)
        return {
            "left": left,
            "cpu": self.student.cpu_seconds() - self._cpu0,
            "peak_bytes": self.student.memory_peak(),
            "oom_kills": self.student.oom_kills() - self._oom0,
        }

    def account(self, status: dict) -> None:
        """Add what the student's group saw to a child's `status` (kill its leftovers first);
        an unreadable group marks the box dirty (it is replaced)."""
        try:
            used = self.release()
        except OSError as exc:
            status["dirty"] = [f"control group: {exc}"]
            return
        status["student_cpu"] = used["cpu"]
        status["peak_bytes"] = used["peak_bytes"]
        status["left_behind"] = used["left"]
        if used["oom_kills"] and status.get("reason") is None:
            status["reason"] = "memory"

    def mark(self) -> int | None:
        """Start measuring one call: the bytes the student's group holds now (its peak
        starts over from them), or None if the group cannot be read."""
        try:
            self.student.reset_peak()
            return self.student.memory_now()
        except OSError:
            return None

    def since(self, mark: int) -> int | None:
        """The most bytes the student's group held above `mark` since `mark()`."""
        try:
            return max(0, self.student.memory_peak() - mark)
        except OSError:
            return None

    def usage(self) -> dict:
        """The box's and the student group's peak memory and limits in bytes, the box's CPU
        seconds, and how many processes of the student's the student group holds now."""
        return {
            "box_peak_bytes": self.box.memory_peak(),
            "box_limit_bytes": self.box_bytes,
            "student_peak_bytes": self.student.memory_peak(),
            "student_limit_bytes": self.student_bytes,
            "cpu_seconds": self.box.cpu_seconds(),
            "student_processes": len([p for p in self.student.procs() if p not in self._keep]),
        }

    def kill_all(self) -> None:
        """Everything in the box: the student's processes and the zygote, then bubblewrap."""
        self.student.kill_all()
        self.zygote.kill_all()
        self._keep = frozenset()

    def close(self) -> None:
        """Kill everything and remove the groups."""
        for group in (self.student, self.zygote, self.box):
            group.remove()
