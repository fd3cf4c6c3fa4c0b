"""Isolation on the trusted side: the resource limits and the bubblewrap command.

Student code runs in `bwrap` (bubblewrap) when it works here: new PID,
network, IPC, UTS and mount namespaces; only the interpreter, its standard
library, site-packages, /usr and the loader's /etc files are mounted,
read-only; an empty tmpfs hides the mmexam package (and with it any data it
ships) and the checkout it runs from wherever they lie under those; /tmp is
a private size-limited tmpfs. As root, bwrap sets up the mounts and
`setpriv` drops to a per-sandbox unprivileged uid, so RLIMIT_NPROC binds and
nothing outside is writable. (The interpreter may live under a mode-0700
/root, so the privilege drop happens inside, after the mounts; a sandbox
started by a normal user uses bwrap's own user namespace instead.)
Otherwise "rlimits-only": the same process model and limits, with a loud
warning. Inside, each child confines itself further (`confine.py`).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import site
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SANDBOX_DIR = "/opt/mmexam-sandbox"  # where the worker's files appear inside bwrap


class SandboxWarning(UserWarning):
    """Student code runs without bubblewrap's isolation (rlimits only)."""


STUDENT_CPUS = 1.0
"""The CPU quota of a student's control group: all its processes together get at most
this many CPUs' worth of time, so over `t` seconds of wall clock they use at most
`t * STUDENT_CPUS` seconds of CPU."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for student code; every field has a documented default (README)."""

    cpu_seconds_per_call: float = 5.0  # RLIMIT_CPU armed per call (import counts as a call)
    # The whole file's budget: CPU time of all the student's processes, read from the
    # student's control group, so a neighbour's load on a shared machine does not count
    # against it (a call that starts inside the budget may finish it: at most one call's
    # CPU over). Without control groups the wall clock stands in, with this many seconds.
    cpu_seconds_per_submission: float = 60.0
    # With control groups, a backstop for code that waits instead of computing (trusted clock).
    wall_seconds_per_submission: float = 180.0
    # Address space above the zygote's per process (RLIMIT_AS; RSS on the GPU lane), and
    # with control groups all the student's processes together (+ 256 MB, tmpfs and shm too).
    memory_mb: int = 2048
    max_processes: int = 64  # RLIMIT_NPROC for the child (threads count); pids.max of its group
    output_bytes: int = 64 * 1024  # captured stdout+stderr per submission; the rest is dropped
    result_mb: int = 64  # largest set of tensors one call may return
    file_mb: int = 16  # RLIMIT_FSIZE: largest file the child may write in its private folder

    @property
    def seconds_per_call(self) -> float:
        """Wall-clock limit of one call on the trusted side: twice the CPU limit plus 5 s."""
        return 2 * self.cpu_seconds_per_call + 5.0


_probe_lock = threading.Lock()
_probe_cache: dict[str, str | None] = {}
_uid_counter = itertools.count()


def is_root() -> bool:
    """Whether this process runs as root (then bwrap needs no user namespace)."""
    return os.geteuid() == 0


def probe_bwrap() -> str | None:
    """None when bwrap can build a sandbox here, else why not (one line)."""
    with _probe_lock:
        if "bwrap" in _probe_cache:
            return _probe_cache["bwrap"]
        reason = None
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            reason = "bubblewrap (bwrap) is not installed"
        elif is_root() and shutil.which("setpriv") is None:
            reason = "setpriv (util-linux) is not installed, needed to drop root"
        else:
            args = [bwrap, *_namespace_flags(), *_system_binds(), "--", "/bin/true"]
            try:
                done = subprocess.run(args, capture_output=True, timeout=30, check=False)
                if done.returncode != 0:
                    text = done.stderr.decode("utf-8", "replace").strip().splitlines()
                    reason = f"bwrap does not start here: {text[-1] if text else done.returncode}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                reason = f"bwrap does not start here: {exc}"
        _probe_cache["bwrap"] = reason
        return reason


def isolation_status() -> tuple[str, str | None]:
    """("bwrap", None) where bubblewrap works here, else ("rlimits-only", the loud warning)."""
    reason = probe_bwrap()
    if reason is None:
        from mmexam.sandbox.cgroups import probe

        _, no_cgroups = probe()
        if no_cgroups is None:
            return "bwrap", None
        return "bwrap", (
            f"WARNING: no control groups for the sandbox ({no_cgroups}): memory, processes "
            "and CPU are limited per process (rlimits) only — a student's processes together "
            "can use more, and CPU is not accounted per student. Run as root on a machine "
            "with cgroup v2 (memory, pids, cpu) or v1 controllers."
        )
    return "rlimits-only", (
        f"WARNING: student code runs WITHOUT a sandbox ({reason}): only rlimits apply — "
        "it can read and write your files and use the network. Install bubblewrap "
        "(apt install bubblewrap): without it mmexam runs student code only when asked "
        "to with --no-sandbox."
    )


def _namespace_flags() -> list[str]:
    if is_root():
        # No user namespace: root sets up the mounts, setpriv drops to a real uid inside.
        return [
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        ]  # fmt: skip
    return ["--unshare-all", "--die-with-parent", "--new-session"]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        args += ["--ro-bind-try", path, path]
    # /proc read-only: nothing inside writes there. (A child's own /proc files are root's
    # already, the zygote being non-dumpable: its OOM-killer rank stays as the grader set it.)
    args += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev"]
    return args


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def python_paths() -> list[str]:
    """Folders the interpreter and the packages the worker imports live in."""
    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    found.append(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    found.extend(site.getsitepackages())
    for name in ("torch", "safetensors", "numpy", "typing_extensions", "sympy", "filelock"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            found.append(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
    paths: list[str] = []
    for path in sorted({os.path.abspath(p) for p in found if p and os.path.isdir(p)}, key=len):
        if not any(_under(path, kept) for kept in paths) and not _under(path, "/usr"):
            paths.append(path)
    return paths


def _secret_paths() -> list[str]:
    """What must stay invisible: the mmexam package (and any data it ships) and its checkout."""
    package = Path(__file__).resolve().parents[1]
    secrets = {str(package)}
    repo = package.parent.parent
    if (repo / "pyproject.toml").is_file() and package.parent.name == "src":
        secrets.add(str(repo))
    for sp in site.getsitepackages():
        candidate = os.path.join(sp, package.name)
        if os.path.isdir(candidate):
            secrets.add(candidate)
    return sorted({os.path.abspath(s) for s in secrets})


def hidden_paths(python_paths: list[str], hide: Sequence[str]) -> tuple[list[str], list[str]]:
    """The binds and the masks (empty tmpfs) that keep the secrets out of the box.

    A secret is masked where it lies under something bound (anything else does not
    exist inside). A secret that *is* a bound folder — a course folder made into a
    venv in place (`python3 -m venv .` inside it), so it is the Python prefix — is
    masked whole and only the interpreter's parts of it (bin, lib, lib64, include,
    pyvenv.cfg) come back; one that holds a bind gets that bind back on top."""
    binds = list(python_paths)
    secrets = sorted({*_secret_paths(), *(os.path.abspath(h) for h in hide)})
    masks = [s for s in secrets if any(_under(s, b) for b in binds + ["/usr"])]
    for secret in masks:
        if secret in binds:
            binds.remove(secret)
            for part in ("bin", "lib", "lib64", "include", "pyvenv.cfg"):
                path = os.path.join(secret, part)
                if os.path.lexists(path) and not any(_under(path, b) for b in binds):
                    binds.append(path)
    return binds, masks


def bwrap_command(
    python_paths: list[str],
    files: dict[str, str],
    env: dict[str, str],
    tmp_mb: int,
    hide: Sequence[str] = (),
) -> list[str]:
    """The bwrap command line, up to the `--`: `files` maps a path inside to a file outside;
    `hide`: more folders to keep invisible (see `hidden_paths`)."""
    binds, masks = hidden_paths(python_paths, hide)
    dests = binds + masks + list(files) + ["/etc/ld.so.cache"]
    dirs: set[str] = set()
    for dest in dests:
        parent = os.path.dirname(dest)
        while parent not in ("/", ""):
            if not any(_under(parent, b) for b in binds + ["/usr"]):
                dirs.add(parent)
            parent = os.path.dirname(parent)
    args = ["bwrap", *_namespace_flags(), *_system_binds()]
    # The private /tmp comes before the binds: a checkout (and its venv) under /tmp,
    # as in a CI clone, is bound on top of it instead of being hidden by it.
    args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
    dirs.discard("/tmp")
    for path in sorted(dirs, key=lambda p: (p.count("/"), p)):
        args += ["--perms", "0755", "--dir", path]
    for path in binds:
        args += ["--ro-bind", path, path]
    for path in masks:
        args += ["--tmpfs", path]
        for bind in binds:  # a bind inside a mask (a venv inside the repo) comes back
            if bind != path and _under(bind, path):
                args += ["--ro-bind", bind, bind]
    for dest, source in files.items():
        args += ["--ro-bind", source, dest]
    if env.get("MMEXAM_SANDBOX_CUDA"):
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind-try", str(dev), str(dev)]
        args += ["--ro-bind-try", "/sys", "/sys"]
    args += ["--hostname", "mmexam-sandbox", "--chdir", "/tmp", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def tasks_of_uid(uid: int) -> int:
    """How many tasks (threads) `uid` runs now — RLIMIT_NPROC counts them all."""
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                count += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            continue
    return count


def sandbox_uid() -> int:
    """A uid of its own for each sandbox, so RLIMIT_NPROC counts only that sandbox's tasks."""
    return 1_800_000_000 + (os.getpid() * 64 + next(_uid_counter)) % 100_000_000
