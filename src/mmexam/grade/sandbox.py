"""Run student code in a sandbox and get plain tensors back — the trusted side.

One `Sandbox` starts one sandboxed *zygote* process (`sandbox_worker.py`)
that imports torch once. Each `Sandbox.open(source, filename)` makes the
zygote fork a fresh child for that submission; `StudentModule.call(...)`
sends tensors to it and reads back plain `torch.Tensor`s. The child dies
when the module is closed, and with it everything it started.

Isolation (see README, "Sandbox and limits"):

- `bwrap` (bubblewrap) when it works: new PID, network, IPC, UTS and mount
  namespaces; only the interpreter, its standard library, site-packages,
  /usr and the loader's /etc files are mounted, read-only; an empty tmpfs
  hides the mmexam package data (graders/, the bank) wherever it lies under
  those; /tmp is a private size-limited tmpfs. As root, bwrap sets up the
  mounts and `setpriv` drops to a per-sandbox unprivileged uid, so
  RLIMIT_NPROC binds and nothing outside is writable. (The interpreter may
  live under a mode-0700 /root, so the privilege drop happens inside, after
  the mounts; a sandbox started by a normal user uses bwrap's own user
  namespace instead.)
- otherwise "rlimits-only": the same process model and limits, with a loud
  warning; `require_sandbox=True` raises `SandboxError` instead.

Every frame the child sends is hostile input: lengths are capped before
anything is read, JSON is validated, and tensors are rebuilt from
safetensors bytes — nothing is unpickled and no student object ever reaches
this process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import math
import os
import select
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmexam.errors import SandboxError
from mmexam.grade.modules import ModuleSpec
from mmexam.grade.sandbox_worker import (
    HEADER,
    MAX_META,
    MAX_SOURCE,
    OUT_OF_MEMORY,
    TensorFormatError,
    decode_tensors,
    encode_tensors,
    pack_frame,
)

WORKER = Path(__file__).resolve().parent / "sandbox_worker.py"
MODULES_FILE = Path(__file__).resolve().parent / "modules.py"
SANDBOX_DIR = "/opt/mmexam-sandbox"  # where the two worker files appear inside bwrap
ZYGOTE_START_SECONDS = 180.0  # importing torch on a busy machine
CONTROL_SECONDS = 30.0  # a zygote that does not answer a command within this is restarted


class SandboxWarning(UserWarning):
    """Student code runs without bubblewrap's isolation (rlimits only)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for student code; every field has a documented default (README)."""

    cpu_seconds_per_call: float = 5.0  # RLIMIT_CPU armed per call (import counts as a call)
    wall_seconds_per_submission: float = 60.0  # from open() to the last call, trusted clock
    memory_mb: int = 2048  # address space above the zygote's (RLIMIT_AS); RSS on the GPU lane
    max_processes: int = 64  # RLIMIT_NPROC for the child (threads count)
    output_bytes: int = 64 * 1024  # captured stdout+stderr per submission; the rest is dropped
    result_mb: int = 64  # largest set of tensors one call may return
    file_mb: int = 16  # RLIMIT_FSIZE: largest file the child may write in its private folder

    @property
    def seconds_per_call(self) -> float:
        """Wall-clock limit of one call on the trusted side: twice the CPU limit plus 5 s."""
        return 2 * self.cpu_seconds_per_call + 5.0


@dataclass
class CallOutcome:
    """What one call of a student function produced, as plain data."""

    ok: bool
    value: object = None  # torch.Tensor or tuple of them (plain, from safetensors), else None
    error: str | None = None  # "raised ValueError: ...", "exceeded 5 s CPU", "returned int, ..."
    devices: tuple[str, ...] = ()  # device of each returned tensor inside the sandbox
    inputs_after: tuple | None = None  # the positional args as they were after the call
    seconds: float = 0.0  # wall-clock time of the round trip, trusted clock
    grads: tuple | None = None  # with call(..., vjp=g): gradient per arg, shaped like args
    kwargs_after: dict[str, Any] | None = None  # the keyword args after the call


# ---------------------------------------------------------------------------
# Choosing and building the sandbox command
# ---------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_cache: dict[str, str | None] = {}
_uid_counter = itertools.count()


def _is_root() -> bool:
    return os.geteuid() == 0


def _probe_bwrap() -> str | None:
    """None when bwrap can build a sandbox here, else why not (one line)."""
    with _probe_lock:
        if "bwrap" in _probe_cache:
            return _probe_cache["bwrap"]
        reason = None
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            reason = "bubblewrap (bwrap) is not installed"
        elif _is_root() and shutil.which("setpriv") is None:
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
    reason = _probe_bwrap()
    if reason is None:
        return "bwrap", None
    return "rlimits-only", (
        f"WARNING: student code runs WITHOUT a sandbox ({reason}): only rlimits apply — "
        "it can read and write your files and use the network. Install bubblewrap "
        "(apt install bubblewrap) or pass --require-sandbox to refuse."
    )


def _namespace_flags() -> list[str]:
    if _is_root():
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
    args += ["--proc", "/proc", "--dev", "/dev"]
    return args


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _python_paths() -> list[str]:
    """Folders the interpreter and the packages the worker imports live in."""
    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    found.append(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    found.extend(site.getsitepackages())
    for name in ("torch", "safetensors", "numpy", "typing_extensions", "sympy", "filelock"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            found.append(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
    paths = []
    for path in sorted({os.path.abspath(p) for p in found if p and os.path.isdir(p)}, key=len):
        if not any(_under(path, kept) for kept in paths) and not _under(path, "/usr"):
            paths.append(path)
    return paths


def _secret_paths() -> list[str]:
    """What must stay invisible: the mmexam package and its data, graders/, the bank."""
    from mmexam import paths as mmexam_paths

    package = Path(mmexam_paths.__file__).resolve().parent
    secrets = {str(package), str(mmexam_paths.GRADERS), str(mmexam_paths.DEFAULT_BANK)}
    repo = package.parent.parent
    if (repo / "pyproject.toml").is_file() and (repo / "graders").is_dir():
        secrets.add(str(repo))
    for sp in site.getsitepackages():
        candidate = os.path.join(sp, "mmexam")
        if os.path.isdir(candidate):
            secrets.add(candidate)
    return sorted({os.path.abspath(s) for s in secrets})


def _bwrap_command(python_paths: list[str], env: dict[str, str], tmp_mb: int) -> list[str]:
    binds = list(python_paths)
    masks = [s for s in _secret_paths() if any(_under(s, b) for b in binds + ["/usr"])]
    dests = binds + masks + [f"{SANDBOX_DIR}/sandbox_worker.py", "/etc/ld.so.cache"]
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
    args += ["--ro-bind", str(WORKER), f"{SANDBOX_DIR}/sandbox_worker.py"]
    args += ["--ro-bind", str(MODULES_FILE), f"{SANDBOX_DIR}/modules.py"]
    if env.get("MMEXAM_SANDBOX_CUDA"):
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind-try", str(dev), str(dev)]
        args += ["--ro-bind-try", "/sys", "/sys"]
    args += ["--hostname", "mmexam-sandbox", "--chdir", "/tmp", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def _tasks_of_uid(uid: int) -> int:
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


def _sandbox_uid() -> int:
    """A uid of its own for each sandbox, so RLIMIT_NPROC counts only that sandbox's tasks."""
    return 1_800_000_000 + (os.getpid() * 64 + next(_uid_counter)) % 100_000_000


# ---------------------------------------------------------------------------
# Talking to the child: deadline-bound, capped, hostile input
# ---------------------------------------------------------------------------


class _Timeout(Exception):
    pass


class _Closed(Exception):
    pass


class _BadFrame(Exception):
    pass


class _Conn:
    """The protocol socket and the stdout pipe of one child, read with deadlines and caps."""

    def __init__(self, sock: socket.socket, out_fd: int, out_cap: int) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.out_fd = out_fd
        self.out_cap = out_cap
        self.out = bytearray()
        self.dropped = 0
        sock.setblocking(False)
        os.set_blocking(out_fd, False)
        self.poller = select.poll()
        self.poller.register(out_fd, select.POLLIN)
        self.poller.register(self.fd, select.POLLIN)
        self.out_open = True
        self.pending = bytearray()  # bytes read past the last frame
        self.scratch = memoryview(bytearray(1 << 20))  # recv() would allocate its size each time

    def _read_out(self) -> None:
        while self.out_open:
            try:
                chunk = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.poller.unregister(self.out_fd)
                self.out_open = False
                return
            room = self.out_cap - len(self.out)
            if room > 0:
                self.out += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def exchange(self, frame: bytes, deadline: float, max_blob: int) -> tuple[dict, bytearray]:
        """Send one frame, then read one frame back before `deadline`."""
        self.send_frame(frame, deadline)
        return self.receive(deadline, max_blob)

    def send_frame(self, frame: bytes, deadline: float) -> None:
        """Send all of `frame` before `deadline`, draining the child's output meanwhile."""
        view = memoryview(frame)
        sent = 0
        while True:
            try:
                sent += self.sock.send(view[sent:])
            except BlockingIOError:
                pass
            except OSError:
                raise _Closed from None
            if sent >= len(view):
                return
            self.poller.modify(self.fd, select.POLLOUT)
            try:
                self._wait(deadline)
            finally:
                self.poller.modify(self.fd, select.POLLIN)

    def _wait(self, deadline: float) -> list[tuple[int, int]]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Timeout
        events = self.poller.poll(left * 1000 + 1)
        if any(fd == self.out_fd for fd, _ in events):
            self._read_out()
        return events

    def receive(self, deadline: float, max_blob: int) -> tuple[dict, bytearray]:
        """Read the next frame before `deadline`.

        The reply's lengths are checked against MAX_META and `max_blob` before
        anything is allocated; what the child prints meanwhile is drained.
        Bytes past the frame stay buffered for the next one (batches stream).
        """
        pending = self.pending
        while True:
            if len(pending) >= HEADER.size:
                meta_len, blob_len = HEADER.unpack_from(pending)
                if meta_len > MAX_META or blob_len > max_blob:
                    raise _BadFrame(
                        f"sent a reply of {(meta_len + blob_len) >> 20} MB, "
                        f"more than the {max_blob >> 20} MB limit"
                    )
                end = HEADER.size + meta_len + blob_len
                if len(pending) >= end:
                    meta_bytes = pending[HEADER.size : HEADER.size + meta_len]
                    blob = pending[HEADER.size + meta_len : end]  # a copy, writable: no second one
                    del pending[:end]
                    try:
                        meta = json.loads(meta_bytes.decode("utf-8"))
                    except ValueError:  # UnicodeDecodeError included
                        raise _BadFrame("sent a reply that is not valid JSON") from None
                    if not isinstance(meta, dict):
                        raise _BadFrame("sent a reply that is not a JSON object")
                    return meta, blob
                want = end - len(pending)
            else:
                want = HEADER.size - len(pending)
            scratch = self.scratch
            try:
                n = self.sock.recv_into(scratch, min(max(want, 65536), len(scratch)))
            except BlockingIOError:
                self._wait(deadline)
                continue
            except OSError:
                raise _Closed from None
            if not n:
                raise _Closed
            pending += scratch[:n]

    def drain(self, seconds: float = 0.0) -> None:
        """Read what the child printed, waiting up to `seconds` for the pipe to close."""
        deadline = time.monotonic() + seconds
        while self.out_open:
            self._read_out()
            left = deadline - time.monotonic()
            if left <= 0 or not self.out_open:
                return
            select.select([self.out_fd], [], [], left)

    def stdout(self) -> str:
        text = self.out.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output not kept]\n"
        return text

    def close(self) -> None:
        self.sock.close()
        try:
            os.close(self.out_fd)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Encoding arguments (trusted side)
# ---------------------------------------------------------------------------


class _Encoder:
    """Arguments -> JSON tree + named tensors; one encoder may serve many calls (a batch)."""

    def __init__(self) -> None:
        self.tensors: dict[str, Any] = {}
        self.by_id: dict[int, str] = {}
        self.keep: list[Any] = []  # the encoded objects, so their ids stay unique
        self.current: list[str] = []  # keys of tensor arguments of the call being encoded

    def tensor(self, value, *, leaf: bool) -> dict:
        key = self.by_id.get(id(value))
        if key is None:
            key = str(len(self.tensors))
            self.by_id[id(value)] = key
            self.keep.append(value)
            self.tensors[key] = value.detach().to("cpu").contiguous()
        if leaf and key not in self.current:
            self.current.append(key)
        return {"T": key}

    def encode(self, value) -> Any:
        import torch

        if isinstance(value, torch.Tensor):
            return self.tensor(value, leaf=True)
        if isinstance(value, ModuleSpec):
            state = {k: self.tensor(v, leaf=False)["T"] for k, v in value.state.items()}
            return {"M": value.name, "S": state}
        if isinstance(value, tuple):
            return {"U": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {"D": {str(k): self.encode(v) for k, v in value.items()}}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot send {type(value).__name__} to the sandbox")

    def call(self, call: _Call, filename: str) -> tuple[dict, _Plan]:
        """The wire form of one call (without its sequence number) and how to read its reply."""
        self.current = []
        args_node = self.encode(tuple(call.args))
        kwargs_node = self.encode(dict(call.kwargs))
        meta: dict[str, Any] = {
            "function": call.function,
            "file": filename,
            "args": args_node["U"],
            "kwargs": kwargs_node,
            "memory_mb": call.memory_mb,
        }
        n_out = 0
        if call.vjp is not None:
            ups = call.vjp if isinstance(call.vjp, tuple) else (call.vjp,)
            n_out = len(ups)
            meta["grad"] = {"upstream": [self.tensor(u, leaf=False)["T"] for u in ups]}
        return meta, _Plan(args_node, kwargs_node, tuple(self.current), n_out)

    def blob(self) -> bytes:
        return encode_tensors(self.tensors) if self.tensors else b""


@dataclass(frozen=True)
class _Call:
    """One call as the grader asked for it."""

    function: str
    args: tuple
    kwargs: dict
    memory_mb: int | None
    vjp: Any


@dataclass(frozen=True)
class _Plan:
    """How to read the reply to one encoded call."""

    args_node: dict
    kwargs_node: dict
    leaves: tuple[str, ...]
    n_out: int


def _same_value(a: Any, b: Any) -> bool:
    """The same argument: the same tensor/module object, or equal plain values of one type."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(x is y or _same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    import torch

    if isinstance(a, (torch.Tensor, ModuleSpec)):
        return False  # another object, whatever it holds
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def _same_call(a: _Call, b: _Call) -> bool:
    return (
        a.function == b.function
        and a.memory_mb == b.memory_mb
        and _same_value(a.args, b.args)
        and _same_value(a.kwargs, b.kwargs)
        and _same_value(a.vjp, b.vjp)
    )


class _Script:
    """The calls the grader made for one file name, replayed ahead of time for the next student.

    The checks ask every student's file the same questions with the same
    tensor objects, so after the first file the sandbox sends the whole
    sequence at once and the child answers call after call while the grader
    judges. A call that differs from the script is simply made on its own.

    The inputs are the same for every student, so the zygote gets the script
    once (`frame`) and decodes its tensors before forking: a child born after
    that finds them in its memory and is sent only the script's number.
    """

    def __init__(self, calls: list[_Call], filename: str, ident: int) -> None:
        self.calls = calls
        self.ident = ident
        encoder = _Encoder()
        self.metas: list[dict] = []
        self.plans: list[_Plan] = []
        for call in calls:
            meta, plan = encoder.call(call, filename)
            self.metas.append(meta)
            self.plans.append(plan)
        self.blob = encoder.blob()
        self.keep = encoder.keep
        self.frame = pack_frame(
            {"kind": "script", "file": filename, "id": ident, "calls": self.metas}, self.blob
        )


def _rebuild(node, original, replace: dict[str, Any], default):
    """`original` with each tensor argument replaced by replace[key] (or `default(tensor)`)."""
    if isinstance(node, dict) and "T" in node:
        return replace.get(node["T"], default(original))
    if isinstance(node, dict) and "U" in node:
        return tuple(_rebuild(n, o, replace, default) for n, o in zip(node["U"], original))
    if isinstance(node, dict) and "D" in node:
        return {k: _rebuild(node["D"][str(k)], v, replace, default) for k, v in original.items()}
    if isinstance(node, list):
        return [_rebuild(n, o, replace, default) for n, o in zip(node, original)]
    return original


class _ChildProc:
    """One forked child of the zygote, with the files imported in it."""

    def __init__(self, pid: int, conn: _Conn, key: object, scripts: dict[str, int]) -> None:
        self.pid = pid
        self.conn = conn
        self.key = key  # the session owner, or the StudentModule without a session
        self.scripts = scripts  # file name -> the script the zygote held when it forked this child
        self.loaded: dict[str, StudentModule] = {}
        self.alive = True
        self.seq = 0
        self.status: dict | None = None

    def next_seq(self, n: int = 1) -> int:
        first = self.seq + 1
        self.seq += n
        return first


# ---------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------


class Sandbox:
    """One sandboxed zygote (torch imported once), reused for many submissions.

    Example:
        with Sandbox() as sandbox, sandbox.open(source, "fusion.py") as student:
            outcome = student.call("tensor_fusion", x_a, x_b)
    """

    def __init__(
        self, limits: Limits | None = None, *, require_sandbox: bool = False, device: str = "cpu"
    ) -> None:
        self.limits = limits or Limits()
        self.device = device
        if device != "cpu" and not device.startswith("cuda"):
            raise SandboxError(f"unknown device '{device}' — use 'cpu' or 'cuda'")
        self.isolation, self.warning = isolation_status()
        if self.warning is not None:
            if require_sandbox:
                raise SandboxError(
                    f"the sandbox is required but unavailable: {_probe_bwrap()} — install "
                    "bubblewrap (apt install bubblewrap) or drop --require-sandbox"
                )
            warnings.warn(self.warning, SandboxWarning, stacklevel=2)
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._stderr: Any = None
        self._ready: dict | None = None
        self._open: StudentModule | None = None
        self._child: _ChildProc | None = None
        self._owner: str | None = None
        self._scripts: dict[str, _Script] = {}
        self._script_ids = itertools.count(1)
        self._zygote_scripts: dict[str, int] = {}  # file name -> the script the zygote holds
        self.restarts = 0
        self._cpu_before = 0.0  # CPU seconds of zygotes that were replaced
        self._cpu_seen = 0.0
        self._closed = False
        self._start()

    # -- zygote lifecycle -----------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        if self.device != "cpu":
            env["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
            env["MMEXAM_SANDBOX_CUDA"] = "1"
            for key in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
                if key in os.environ:
                    env[key] = os.environ[key]
        return env

    def _config(self, uid: int | None) -> dict:
        limits = self.limits
        if self.isolation == "bwrap" and uid is not None:
            nproc_base = 8  # the zygote's own threads run under the same fresh uid
        else:
            nproc_base = _tasks_of_uid(os.getuid())
        return {
            "device": "cpu" if self.device == "cpu" else self.device,
            "cpu_seconds": limits.cpu_seconds_per_call,
            "cpu_seconds_total": limits.wall_seconds_per_submission + limits.cpu_seconds_per_call,
            "memory_mb": limits.memory_mb,
            "rlimit_as": self.device == "cpu",
            "rss_slack_mb": 1024,
            "max_processes": limits.max_processes,
            "nproc_base": nproc_base,
            "file_bytes": limits.file_mb << 20,
            "max_result_bytes": limits.result_mb << 20,
            "max_request_bytes": 1 << 31,
            "tmp": "/tmp" if self.isolation == "bwrap" else tempfile.gettempdir(),
            "pid_namespace": self.isolation == "bwrap",
        }

    def _start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = self._env()
        uid = None
        if self.isolation == "bwrap":
            worker = f"{SANDBOX_DIR}/sandbox_worker.py"
            prefix = _bwrap_command(_python_paths(), env, tmp_mb=max(64, 4 * self.limits.file_mb))
            if _is_root():
                uid = _sandbox_uid()
                prefix += [
                    "--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--no-new-privs",
                ]  # fmt: skip
            else:
                prefix += ["--"]
            child_env = None
        else:
            worker = str(WORKER)
            prefix = []
            child_env = {**os.environ, **env}
        self.uid = uid  # the unprivileged uid student code runs as (bwrap as root), else None
        fd = theirs.fileno()
        config = self._config(uid)
        command = [*prefix, sys.executable, "-I", "-B", worker, str(fd), json.dumps(config)]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 — closed with the zygote
        self._proc = subprocess.Popen(
            command,
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=child_env,
            start_new_session=True,
        )
        theirs.close()
        self._ctrl = mine
        self._ready = None
        self._zygote_scripts = {}

    def _wait_ready(self) -> dict:
        if self._ready is None:
            reply = self._control_reply(ZYGOTE_START_SECONDS)
            if not reply.get("ready"):
                raise SandboxError("the sandbox did not start: unexpected first message")
            self._ready = reply
        return self._ready

    def _zygote_error(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read()[-4000:].decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else ""

    def _control_reply(self, timeout: float) -> dict:
        assert self._ctrl is not None
        self._ctrl.settimeout(timeout)
        try:
            data = self._ctrl.recv(MAX_META + HEADER.size)
        except TimeoutError:
            self._kill_zygote()
            raise SandboxError(f"the sandbox did not answer within {timeout:.0f} s") from None
        except OSError as exc:
            data = b""
            reason = str(exc)
        else:
            reason = "it exited"
        if not data:
            detail = self._zygote_error()
            self._kill_zygote()
            raise SandboxError(f"the sandbox process stopped ({detail or reason})")
        meta_len, _ = HEADER.unpack(data[: HEADER.size])
        return json.loads(data[HEADER.size : HEADER.size + meta_len])

    def _control(self, meta: dict, fds: tuple[int, ...] = (), timeout: float = CONTROL_SECONDS):
        assert self._ctrl is not None
        self._wait_ready()
        self._ctrl.settimeout(timeout)
        try:
            socket.send_fds(self._ctrl, [pack_frame(meta)], list(fds))
        except OSError as exc:
            detail = self._zygote_error()
            self._kill_zygote()
            raise SandboxError(f"the sandbox process stopped ({detail or exc})") from None
        return self._control_reply(timeout)

    def _kill_zygote(self, graceful: float = 0.0) -> None:
        """Stop the zygote: after `graceful` seconds of waiting for it to exit on its own."""
        proc = self._proc
        if graceful and proc is not None and self._ctrl is not None:
            self._ctrl.close()  # the zygote exits when its control socket closes
            self._ctrl = None
            try:
                proc.wait(timeout=graceful)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.kill()
            except OSError:
                pass
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._ctrl is not None:
            self._ctrl.close()
        if self._stderr is not None:
            self._stderr.close()
        self._proc = self._ctrl = self._stderr = None
        self._ready = None

    def _ensure(self) -> None:
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is not None:
                self._kill_zygote()
            self.restarts += 1
            self._start()
        self._wait_ready()

    # -- public --------------------------------------------------------------

    def cpu_seconds(self) -> float:
        """CPU time of this sandbox's zygote and every child it has reaped, so far.

        Processes inside bubblewrap's PID namespace are not reaped by this
        process, so their time never shows in `getrusage(RUSAGE_CHILDREN)`
        here; this asks the zygote. A zygote that was killed takes its count
        with it (the figure covers the ones alive when asked).
        """
        if self._proc is None or self._proc.poll() is not None:
            return self._cpu_before
        reply = self._control({"kind": "stats"})
        now = float(reply.get("cpu", 0.0))
        if now < self._cpu_seen:  # a new zygote since the last question
            self._cpu_before += self._cpu_seen
        self._cpu_seen = now
        return self._cpu_before + now

    @property
    def zygote_info(self) -> dict:
        """What the zygote reported when it started (pid, threads, virtual size)."""
        self._ensure()
        return dict(self._wait_ready())

    def open(self, source: str, filename: str) -> StudentModule:
        """Import one student's file in a sandboxed child (a fresh one, outside a session)."""
        if self._open is not None and not self._open.closed:
            raise RuntimeError("close the previous StudentModule before opening another")
        module = StudentModule(self, source, filename)
        self._open = module
        return module

    @contextlib.contextmanager
    def session(self, owner: str) -> Iterator[Sandbox]:
        """Let the files of one student (`owner`) share one child.

        Inside the block, every `open` imports its file into the same child
        (each file is its own module), saving a fork per file; the child dies
        when the block ends. Files of *different* owners never share a child.
        """
        previous = self._owner
        self._owner = owner
        try:
            yield self
        finally:
            if self._child is not None and self._child.key == owner:
                self._end_child(self._child, 0.0)
            self._owner = previous

    def _child_for(self, module: StudentModule) -> _ChildProc:
        """The live child `module` may use: the session's, or its own; spawned when needed."""
        key = self._owner if self._owner is not None else module._token
        child = self._child
        if child is not None and child.alive and child.key == key:
            return child
        if child is not None:
            self._end_child(child, 0.0)
        self._child = self._spawn(key)
        return self._child

    def _spawn(self, key: object) -> _ChildProc:
        """Ask the zygote for a fresh child; restart the zygote once if it is gone."""
        for attempt in (0, 1):
            try:
                self._ensure()
                self._push_scripts()
                scripts = dict(self._zygote_scripts)
                mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                out_r, out_w = os.pipe()
                try:
                    reply = self._control(
                        {"kind": "open", "memory_mb": self.limits.memory_mb},
                        (theirs.fileno(), out_w),
                    )
                finally:
                    theirs.close()
                    os.close(out_w)
                if "pid" not in reply:
                    raise SandboxError(f"the sandbox refused a child: {reply.get('error')}")
                conn = _Conn(mine, out_r, self.limits.output_bytes)
                return _ChildProc(int(reply["pid"]), conn, key, scripts)
            except SandboxError:
                if attempt:
                    raise
                self._kill_zygote()
        raise AssertionError("unreachable")

    def _end_child(self, child: _ChildProc, grace: float) -> dict:
        """Kill `child` and everything it started; how it ended (cached)."""
        if child.status is None:
            child.alive = False
            try:
                child.status = self._control({"kind": "finish", "pid": child.pid, "grace": grace})
            except SandboxError as exc:
                self._kill_zygote()  # restarted on the next open
                child.status = {"killed": True, "crashed_sandbox": str(exc)}
            child.conn.drain(0.05)
            child.conn.close()
        if self._child is child:
            self._child = None
        return child.status

    def remember(self, filename: str, calls: list[_Call]) -> None:
        """Keep the longest call sequence seen for `filename` to replay for the next file."""
        known = self._scripts.get(filename)
        if len(calls) >= 2 and (known is None or len(calls) > len(known.calls)):
            self._scripts[filename] = _Script(calls, filename, next(self._script_ids))

    def _push_scripts(self) -> None:
        """Hand the zygote the scripts it lacks, so that the next child is born with their inputs.

        A script travels once per zygote, as a memfd (it can be megabytes);
        where that fails the script is simply sent with each batch instead.
        """
        for filename, script in self._scripts.items():
            if self._zygote_scripts.get(filename) == script.ident:
                continue
            try:
                fd = os.memfd_create("mmexam-script", os.MFD_CLOEXEC)
            except (AttributeError, OSError):
                return
            try:
                view = memoryview(script.frame)
                while view:
                    view = view[os.write(fd, view) :]
                reply = self._control({"kind": "script"}, (fd,))
            finally:
                os.close(fd)
            if reply.get("id") == script.ident:
                self._zygote_scripts[filename] = script.ident

    def close(self) -> None:
        """Stop the zygote and everything it runs."""
        if self._open is not None:
            self._open.close()
        if self._child is not None:
            self._end_child(self._child, 0.0)
        self._closed = True
        self._kill_zygote(graceful=2.0)

    def __enter__(self) -> Sandbox:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._kill_zygote()


class _Pipeline:
    """A script sent ahead: which reply comes next."""

    def __init__(self, script: _Script, child: _ChildProc, seq0: int) -> None:
        self.script = script
        self.child = child
        self.seq0 = seq0
        self.next = 0  # index in script.calls of the next reply to read

    @property
    def left(self) -> int:
        return len(self.script.calls) - self.next


class StudentModule:
    """One student's file imported in a sandboxed child; call its functions.

    A call that crashes or times out kills the child; the next call re-imports
    the file in a new child (while the file's wall-clock budget lasts), so one
    crash costs one check, not the task. A function that ran out of time (or
    killed the sandbox) once is not run again for this file: its later calls
    fail at once with the same message.
    """

    def __init__(self, sandbox: Sandbox, source: str, filename: str) -> None:
        self._sandbox = sandbox
        self._limits = sandbox.limits
        self._token = object()
        self.filename = os.path.basename(filename) or "submission.py"
        self._source = source.encode("utf-8", "surrogateescape")
        self._deadline = time.monotonic() + self._limits.wall_seconds_per_submission
        self._child: _ChildProc | None = None
        self._segments: list[tuple[_ChildProc, int, int | None]] = []
        self._log: list[_Call] = []
        self._pipe: _Pipeline | None = None
        self._script = sandbox._scripts.get(self.filename)
        self._out_of_time: dict[str, str] = {}
        self.closed = False
        self.functions: tuple[str, ...] = ()
        self.load_error: str | None = None
        self.children = 0  # how many children this file was imported in (1 unless it crashed)
        if len(self._source) > MAX_SOURCE:
            self.load_error = f"the file is larger than {MAX_SOURCE >> 10} KiB"
            return
        self.load_error = self._load()

    # -- the child ---------------------------------------------------------------

    def _load(self) -> str | None:
        """Import the file in the child this module may use; the import error, or None."""
        # Starting (or restarting) the zygote is the sandbox's time, not the student's.
        started, restarts = time.monotonic(), self._sandbox.restarts
        ready = self._sandbox._ready is not None
        child = self._sandbox._child_for(self)
        if not ready or self._sandbox.restarts != restarts:
            self._deadline += time.monotonic() - started
        self.children += 1
        self._child = child
        self._close_segment()
        self._segments.append((child, len(child.conn.out), None))
        reply, error = self._roundtrip(
            child, {"kind": "load", "filename": self.filename}, self._source, 1 << 20
        )
        if error is not None:
            return error + " at import"
        assert reply is not None
        meta, _ = reply
        if not isinstance(meta.get("ok"), bool):
            self._end(child)
            return "sent a reply the grader cannot read at import"
        functions = meta.get("functions")
        if isinstance(functions, list):
            self.functions = tuple(str(f)[:200] for f in functions if isinstance(f, str))
        if not meta["ok"]:
            message = meta.get("error")
            self._end(child, grace=0.5)
            return str(message)[:2000] if message else "the file could not be imported"
        child.loaded[self.filename] = self
        return None

    def _ready_child(self) -> tuple[_ChildProc | None, str | None]:
        """The live child holding this file, importing it again if the last one died."""
        child = self._child
        mine = child is not None and child.alive and child.loaded.get(self.filename) is self
        if mine and self._sandbox._child is child:
            return child, None
        error = self._load()
        if error is not None:
            return None, f"could not re-import after a crash: {error}"
        return self._child, None

    def _close_segment(self) -> None:
        if self._segments and self._segments[-1][2] is None:
            child, start, _ = self._segments[-1]
            self._segments[-1] = (child, start, len(child.conn.out))

    def _end(self, child: _ChildProc, grace: float = 0.0, timeout_reason: str | None = None) -> str:
        """Stop `child`; return why it ended, in words."""
        self._close_segment()
        if self._pipe is not None and self._pipe.child is child:
            self._pipe = None
        status = self._sandbox._end_child(child, grace)
        if timeout_reason:
            return timeout_reason
        if status.get("crashed_sandbox"):
            return "process died and took the sandbox with it (the sandbox was restarted)"
        limits = self._limits
        if status.get("reason") == "memory":
            return f"exceeded {limits.memory_mb} MB of memory"
        sig = status.get("signal")
        cpu = status.get("cpu") or 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds_per_call):
            return f"exceeded {limits.cpu_seconds_per_call:g} s CPU"
        if sig == signal.SIGXFSZ:
            return f"wrote a file larger than {limits.file_mb} MB"
        if sig is not None:
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = "unknown"
            return f"process died (signal {sig}, {name})"
        exit_code = status.get("exit")
        if exit_code is not None:
            return f"process exited with status {exit_code} (os._exit?)"
        return "process ended"

    def _per_call(self) -> float:
        return self._limits.seconds_per_call + (15.0 if self._sandbox.device != "cpu" else 0.0)

    def _roundtrip(
        self, child: _ChildProc, meta: dict, blob: bytes, max_blob: int
    ) -> tuple[tuple[dict, bytes] | None, str | None]:
        """Send one request and read its reply; on any failure end the child and say why."""
        seq = child.next_seq()
        frame = pack_frame({**meta, "seq": seq}, blob)
        if time.monotonic() >= self._deadline:
            self._end(child)
            return None, self._wall_message()
        deadline = min(self._deadline, time.monotonic() + self._per_call())
        return self._read(child, frame, seq, deadline, max_blob)

    def _read(
        self, child: _ChildProc, frame: bytes | None, seq: int, deadline: float, max_blob: int
    ) -> tuple[tuple[dict, bytes] | None, str | None]:
        """Read the reply `seq` (sending `frame` first, if any) before `deadline`."""
        try:
            if frame is not None:
                reply = child.conn.exchange(frame, deadline, max_blob)
            else:
                reply = child.conn.receive(deadline, max_blob)
            if reply[0].get("seq") != seq:
                raise _BadFrame("sent a reply out of order (a forged or stale frame)")
            return reply, None
        except _Timeout:
            if deadline >= self._deadline:
                reason = self._wall_message()
            else:
                reason = f"exceeded {self._per_call():g} s wall-clock time for one call"
            why = self._end(child)
            if why.startswith("exceeded") and "CPU" in why:
                reason = why
            return None, reason
        except _Closed:
            return None, self._end(child, grace=1.0)
        except _BadFrame as exc:
            self._end(child)
            return None, str(exc)

    def _wall_message(self) -> str:
        return (
            f"exceeded {self._limits.wall_seconds_per_submission:g} s wall-clock time "
            "for the whole file"
        )

    # -- public ------------------------------------------------------------------

    def has_function(self, name: str) -> bool:
        """Whether the imported file defines a callable `name`."""
        return self.load_error is None and name in self.functions

    @property
    def stdout(self) -> str:
        """What the student code printed (stdout and stderr), capped at Limits.output_bytes."""
        parts = []
        for child, start, end in self._segments:
            if child.alive:
                child.conn.drain()
            chunk = child.conn.out[start:end]
            parts.append(chunk.decode("utf-8", "replace"))
            if child.conn.dropped and end is None:
                parts.append(f"\n[... {child.conn.dropped} more bytes of output not kept]\n")
        text = "".join(parts)
        cap = self._limits.output_bytes
        return text if len(text) <= cap + 200 else text[:cap] + "\n[... output cut]\n"

    def call(
        self,
        function: str,
        *args: Any,
        memory_mb: int | None = None,
        vjp: Any = None,
        **kwargs: Any,
    ) -> CallOutcome:
        """Call `function(*args, **kwargs)` in the sandbox and return what came back.

        `memory_mb` lowers the memory limit for this call (never above
        `Limits.memory_mb`). With `vjp` (the upstream gradient: a tensor, or a
        tuple with one per output) every floating-point tensor argument
        requires grad inside the sandbox, the output is backpropagated with
        `vjp`, and `outcome.grads` is shaped like `args` with each tensor
        replaced by its gradient (None where none reached it). `memory_mb` and
        `vjp` are therefore never passed on to the student's function.
        """
        if memory_mb is not None:
            memory_mb = min(int(memory_mb), self._limits.memory_mb)
        return self._call(_Call(function, tuple(args), dict(kwargs), memory_mb, vjp))

    def _call(self, call: _Call) -> CallOutcome:
        start = time.monotonic()
        if self.closed:
            return CallOutcome(ok=False, error="the module is closed")
        if self.load_error is not None:
            return CallOutcome(ok=False, error=f"could not import the file: {self.load_error}")
        if call.function not in self.functions:
            return CallOutcome(ok=False, error=f"has no function '{call.function}'")
        if call.function in self._out_of_time:
            return CallOutcome(
                ok=False, error=f"{self._out_of_time[call.function]} (in an earlier call)"
            )
        self._log.append(call)
        outcome = self._from_pipeline(call)
        if outcome is None:
            outcome = self._direct(call)
        outcome.seconds = time.monotonic() - start
        if not outcome.ok and outcome.error and _not_again(outcome.error, call.memory_mb):
            self._out_of_time[call.function] = outcome.error
        return outcome

    def _direct(self, call: _Call) -> CallOutcome:
        child, error = self._ready_child()
        if child is None:
            return CallOutcome(ok=False, error=error)
        encoder = _Encoder()
        meta, plan = encoder.call(call, self.filename)
        reply, error = self._roundtrip(
            child, {"kind": "batch", "calls": [meta]}, encoder.blob(), self._max_reply()
        )
        if error is not None:
            return CallOutcome(ok=False, error=error)
        assert reply is not None
        return self._outcome(child, reply, call, plan)

    def _max_reply(self) -> int:
        return (self._limits.result_mb << 20) * 3 + (1 << 20)

    def _from_pipeline(self, call: _Call) -> CallOutcome | None:
        """The outcome from the replayed script, or None when it must be made on its own."""
        script = self._script
        if self._pipe is None:
            if script is None or len(self._log) != 1 or not _same_call(script.calls[0], call):
                return None
            child, error = self._ready_child()
            if child is None:
                return None
            seq0 = child.next_seq(len(script.calls))
            if child.scripts.get(self.filename) == script.ident:  # the child was born with it
                frame = pack_frame({"kind": "script", "file": self.filename, "seq": seq0})
            else:
                frame = pack_frame(
                    {"kind": "batch", "calls": script.metas, "seq": seq0}, script.blob
                )
            deadline = min(self._deadline, time.monotonic() + self._per_call())
            try:
                child.conn.send_frame(frame, deadline)
            except (_Timeout, _Closed):
                self._end(child)
                return None
            self._pipe = _Pipeline(script, child, seq0)
        pipe = self._pipe
        calls = pipe.script.calls
        match = next(
            (
                j
                for j in range(pipe.next, min(len(calls), pipe.next + 64))
                if _same_call(calls[j], call)
            ),
            None,
        )
        if match is None or not pipe.child.alive:
            self._abort_pipeline()
            return None
        child = pipe.child
        while pipe.next <= match:
            j = pipe.next
            pipe.next += 1
            deadline = min(self._deadline, time.monotonic() + self._per_call())
            reply, error = self._read(child, None, pipe.seq0 + j, deadline, self._max_reply())
            if j < match:
                if error is not None:  # a call the grader skipped broke the child
                    self._pipe = None
                    return None
                continue
            if pipe.next >= len(calls):
                self._pipe = None
            if error is not None:
                self._pipe = None
                return CallOutcome(ok=False, error=error)
            assert reply is not None
            return self._outcome(child, reply, call, pipe.script.plans[j])
        return None

    def _abort_pipeline(self) -> None:
        """Stop replaying: read the few replies left, or end the child if many are."""
        pipe = self._pipe
        self._pipe = None
        if pipe is None or not pipe.child.alive:
            return
        if pipe.left > 16:
            self._end(pipe.child)
            return
        for j in range(pipe.next, len(pipe.script.calls)):
            deadline = min(self._deadline, time.monotonic() + self._per_call())
            _, error = self._read(pipe.child, None, pipe.seq0 + j, deadline, self._max_reply())
            if error is not None:
                return

    def _outcome(self, child: _ChildProc, reply, call: _Call, plan: _Plan) -> CallOutcome:
        try:
            return self._parse(reply, call, plan)
        except (_BadFrame, ValueError, KeyError, TypeError) as exc:
            self._end(child)
            detail = str(exc) if isinstance(exc, _BadFrame) else "malformed reply"
            return CallOutcome(ok=False, error=f"sent a reply the grader cannot read ({detail})")

    def _parse(self, reply, call: _Call, plan: _Plan) -> CallOutcome:
        import torch

        meta, blob = reply
        ok = meta.get("ok")
        if not isinstance(ok, bool):
            raise _BadFrame("no status")
        try:
            tensors = decode_tensors(blob, (self._limits.result_mb << 20) * 3)
        except TensorFormatError as exc:
            raise _BadFrame(f"tensors are not valid safetensors: {exc}") from None
        error = meta.get("error")
        error = None if error is None else str(error)[:2000]
        mutated = meta.get("mutated", [])
        if not isinstance(mutated, list):
            raise _BadFrame("bad mutation list")
        after = {}
        for key in mutated:
            if key not in plan.leaves or f"m{key}" not in tensors:
                raise _BadFrame("unknown mutated argument")
            after[key] = tensors[f"m{key}"]
        if after:
            inputs_after = _rebuild(plan.args_node, call.args, after, lambda t: t)
            kwargs_after = _rebuild(plan.kwargs_node, call.kwargs, after, lambda t: t)
        else:  # nothing changed: the arguments as they were sent
            inputs_after, kwargs_after = call.args, dict(call.kwargs)
        if not ok:
            return CallOutcome(
                ok=False,
                error=error or "failed",
                inputs_after=inputs_after,
                kwargs_after=kwargs_after,
            )
        node = meta.get("value")
        if isinstance(node, dict) and "T" in node:
            names = [node["T"]]
        elif isinstance(node, dict) and isinstance(node.get("U"), list) and node["U"]:
            names = node["U"]
        else:
            raise _BadFrame("no value")
        if not all(isinstance(n, str) and n in tensors and n.startswith("r") for n in names):
            raise _BadFrame("value names unknown tensors")
        outputs = [tensors[n] for n in names]
        assert all(type(t) is torch.Tensor for t in outputs)
        value = outputs[0] if "T" in node else tuple(outputs)
        devices = meta.get("devices")
        if not isinstance(devices, list) or len(devices) != len(outputs):
            raise _BadFrame("bad devices")
        devices = tuple(str(d)[:40] for d in devices)
        grads = None
        if plan.n_out:
            grad_map = {k: tensors[f"g{k}"] for k in plan.leaves if f"g{k}" in tensors}
            grads = _rebuild(plan.args_node, call.args, grad_map, lambda t: None)
        return CallOutcome(
            ok=True,
            value=value,
            devices=devices,
            inputs_after=inputs_after,
            kwargs_after=kwargs_after,
            grads=grads,
        )

    def close(self) -> None:
        """Detach from the child (ending it, outside a session); keep what it printed."""
        if self.closed:
            return
        self._abort_pipeline()
        self._close_segment()
        child = self._child
        if child is not None and child.alive and child.key is self._token:
            self._end(child)
        if self.load_error is None and not any(c.function in self._out_of_time for c in self._log):
            self._sandbox.remember(self.filename, self._log)
        self.closed = True

    def __enter__(self) -> StudentModule:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _not_again(error: str, memory_mb: int | None) -> bool:
    """Errors that cost seconds each time: a function that caused one is not called again.

    Running out of memory counts only under the file's own limit: a check that
    lowers the limit for one call (`memory_mb`) is meant to be failed by some
    correct-valued functions, which must still get their other checks.
    """
    timeout = error.startswith("exceeded") and ("s CPU" in error or "wall-clock" in error)
    memory = memory_mb is None and (
        error.startswith(OUT_OF_MEMORY) or error.endswith("MB of memory")
    )
    return timeout or memory or "took the sandbox with it" in error
