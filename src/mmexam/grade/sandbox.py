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

import importlib.util
import itertools
import json
import os
import selectors
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmexam.errors import SandboxError
from mmexam.grade.modules import ModuleSpec
from mmexam.grade.sandbox_worker import HEADER, MAX_META, MAX_SOURCE, pack_frame

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
    args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
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
        self.out_fd = out_fd
        self.out_cap = out_cap
        self.out = bytearray()
        self.dropped = 0
        sock.setblocking(False)
        os.set_blocking(out_fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(out_fd, selectors.EVENT_READ, "out")
        self.out_open = True

    def _read_out(self) -> None:
        while self.out_open:
            try:
                chunk = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.selector.unregister(self.out_fd)
                self.out_open = False
                return
            room = self.out_cap - len(self.out)
            if room > 0:
                self.out += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def exchange(self, frame: bytes, deadline: float, max_blob: int) -> tuple[dict, bytes]:
        """Send one frame, then read one frame back before `deadline`."""
        view = memoryview(frame)
        sent = 0
        header = bytearray()
        body: bytearray | None = None
        got = 0
        meta_len = blob_len = 0
        self.selector.register(self.sock, selectors.EVENT_WRITE | selectors.EVENT_READ, "sock")
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Timeout
                for key, events in self.selector.select(left):
                    if key.data == "out":
                        self._read_out()
                        continue
                    if events & selectors.EVENT_WRITE and sent < len(view):
                        try:
                            sent += self.sock.send(view[sent : sent + (1 << 20)])
                        except BlockingIOError:
                            pass
                        except OSError:
                            raise _Closed from None
                        if sent >= len(view):
                            self.selector.modify(self.sock, selectors.EVENT_READ, "sock")
                    if not events & selectors.EVENT_READ:
                        continue
                    try:
                        if body is None:
                            chunk = self.sock.recv(HEADER.size - len(header))
                        else:
                            chunk = b""
                            n = self.sock.recv_into(memoryview(body)[got:], len(body) - got)
                            if n == 0:
                                raise _Closed
                            got += n
                    except BlockingIOError:
                        continue
                    except OSError:
                        raise _Closed from None
                    if body is None:
                        if not chunk:
                            raise _Closed
                        header += chunk
                        if len(header) == HEADER.size:
                            meta_len, blob_len = HEADER.unpack(header)
                            if meta_len > MAX_META or blob_len > max_blob:
                                raise _BadFrame(
                                    f"sent a reply of {(meta_len + blob_len) >> 20} MB, "
                                    f"more than the {max_blob >> 20} MB limit"
                                )
                            body = bytearray(meta_len + blob_len)
                            got = 0
                    if body is not None and got == len(body):
                        self._read_out()
                        try:
                            meta = json.loads(bytes(body[:meta_len]))
                        except ValueError:
                            raise _BadFrame("sent a reply that is not valid JSON") from None
                        if not isinstance(meta, dict):
                            raise _BadFrame("sent a reply that is not a JSON object")
                        return meta, bytes(body[meta_len:])
        finally:
            self.selector.unregister(self.sock)

    def drain(self, seconds: float = 0.0) -> None:
        """Read what the child printed, waiting up to `seconds` for the pipe to close."""
        deadline = time.monotonic() + seconds
        while self.out_open:
            self._read_out()
            left = deadline - time.monotonic()
            if left <= 0 or not self.out_open:
                return
            self.selector.select(left)

    def stdout(self) -> str:
        text = self.out.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output not kept]\n"
        return text

    def close(self) -> None:
        self.selector.close()
        self.sock.close()
        try:
            os.close(self.out_fd)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Encoding arguments (trusted side)
# ---------------------------------------------------------------------------


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, Any] = {}
        self.by_id: dict[int, str] = {}
        self.leaves: list[str] = []  # keys of tensor arguments (not module state)

    def tensor(self, value, *, leaf: bool) -> dict:
        key = self.by_id.get(id(value))
        if key is None:
            key = str(len(self.tensors))
            self.by_id[id(value)] = key
            self.tensors[key] = value.detach().to("cpu").contiguous()
            if leaf:
                self.leaves.append(key)
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

    def blob(self) -> bytes:
        import safetensors.torch

        return safetensors.torch.save(self.tensors) if self.tensors else b""


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
        self.restarts = 0
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

    def _kill_zygote(self) -> None:
        proc = self._proc
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

    @property
    def zygote_info(self) -> dict:
        """What the zygote reported when it started (pid, threads, virtual size)."""
        self._ensure()
        return dict(self._wait_ready())

    def open(self, source: str, filename: str) -> StudentModule:
        """Fork a fresh child for one student's file and import it there."""
        if self._open is not None and not self._open.closed:
            raise RuntimeError("close the previous StudentModule before opening another")
        module = StudentModule(self, source, filename)
        self._open = module
        return module

    def _spawn(self) -> tuple[int, _Conn]:
        """Ask the zygote for a fresh child; restart the zygote once if it is gone."""
        for attempt in (0, 1):
            try:
                self._ensure()
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
                return int(reply["pid"]), _Conn(mine, out_r, self.limits.output_bytes)
            except SandboxError:
                if attempt:
                    raise
                self._kill_zygote()
        raise AssertionError("unreachable")

    def _finish(self, pid: int, grace: float) -> dict:
        try:
            return self._control({"kind": "finish", "pid": pid, "grace": grace})
        except SandboxError as exc:
            self._kill_zygote()  # restarted on the next open
            return {"killed": True, "crashed_sandbox": str(exc)}

    def close(self) -> None:
        """Stop the zygote and everything it runs."""
        if self._open is not None:
            self._open.close()
        self._closed = True
        self._kill_zygote()

    def __enter__(self) -> Sandbox:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._kill_zygote()


class StudentModule:
    """One student's file imported in a fresh sandboxed child; call its functions.

    A call that crashes or times out kills the child; the next call re-imports
    the file in a new child (while the submission's wall-clock budget lasts),
    so one crash costs one check, not the task.
    """

    def __init__(self, sandbox: Sandbox, source: str, filename: str) -> None:
        self._sandbox = sandbox
        self._limits = sandbox.limits
        self.filename = os.path.basename(filename) or "submission.py"
        self._source = source.encode("utf-8", "surrogateescape")
        self._deadline = time.monotonic() + self._limits.wall_seconds_per_submission
        self._pid: int | None = None
        self._conn: _Conn | None = None
        self._out: list[str] = []
        self.closed = False
        self.functions: tuple[str, ...] = ()
        self.load_error: str | None = None
        self.children = 0  # how many children this submission used (1 unless it crashed)
        self._seq = 0
        if len(self._source) > MAX_SOURCE:
            self.load_error = f"the file is larger than {MAX_SOURCE >> 10} KiB"
            return
        self.load_error = self._load()

    # -- lifecycle -------------------------------------------------------------

    def _load(self) -> str | None:
        """Fork a child and import the file; the import error, or None."""
        self.children += 1
        self._pid, self._conn = self._sandbox._spawn()
        reply, error = self._roundtrip(
            {"kind": "load", "filename": self.filename}, self._source, 1 << 20
        )
        if error is not None:
            return error + " at import"
        assert reply is not None
        meta, _ = reply
        if not isinstance(meta.get("ok"), bool):
            self._end(grace=0.0)
            return "sent a reply the grader cannot read at import"
        functions = meta.get("functions")
        if isinstance(functions, list):
            self.functions = tuple(str(f)[:200] for f in functions if isinstance(f, str))
        if not meta["ok"]:
            message = meta.get("error")
            self._end(grace=0.5)
            return str(message)[:2000] if message else "the file could not be imported"
        return None

    def _end(self, grace: float, timeout_reason: str | None = None) -> str:
        """Stop the current child; return why it ended, in words."""
        if self._pid is None or self._conn is None:
            return "process is not running"
        status = self._sandbox._finish(self._pid, grace)
        self._conn.drain(0.05)
        self._out.append(self._conn.stdout())
        self._conn.close()
        self._pid = self._conn = None
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

    def _roundtrip(
        self, meta: dict, blob: bytes, max_blob: int
    ) -> tuple[tuple[dict, bytes] | None, str | None]:
        """Send one request and read the reply; on any failure end the child and say why."""
        assert self._conn is not None
        self._seq += 1
        seq = self._seq
        frame = pack_frame({**meta, "seq": seq}, blob)
        now = time.monotonic()
        if now >= self._deadline:
            self._end(0.0)
            return None, self._wall_message()
        per_call = self._limits.seconds_per_call + (15.0 if self._sandbox.device != "cpu" else 0)
        deadline = min(self._deadline, now + per_call)
        try:
            reply = self._conn.exchange(frame, deadline, max_blob)
            if reply[0].get("seq") != seq:
                raise _BadFrame("sent a reply out of order (a forged or stale frame)")
            return reply, None
        except _Timeout:
            if deadline >= self._deadline:
                reason = self._wall_message()
            else:
                reason = f"exceeded {per_call:g} s wall-clock time for one call"
            why = self._end(0.0)
            if why.startswith("exceeded") and "CPU" in why:
                reason = why
            return None, reason
        except _Closed:
            return None, self._end(grace=1.0)
        except _BadFrame as exc:
            self._end(0.0)
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
        parts = list(self._out)
        if self._conn is not None:
            self._conn.drain()
            parts.append(self._conn.stdout())
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
        return self._call(function, args, kwargs, memory_mb, upstream=vjp)

    def _call(self, function, args, kwargs, memory_mb, upstream) -> CallOutcome:
        import torch

        start = time.monotonic()
        if self.closed:
            return CallOutcome(ok=False, error="the module is closed")
        if self.load_error is not None:
            return CallOutcome(ok=False, error=f"could not import the file: {self.load_error}")
        if function not in self.functions:
            return CallOutcome(ok=False, error=f"has no function '{function}'")
        if self._pid is None:  # the previous call crashed: re-import in a fresh child
            error = self._load()
            if error is not None:
                return CallOutcome(ok=False, error=f"could not re-import after a crash: {error}")
        encoder = _Encoder()
        args_node = encoder.encode(tuple(args))
        kwargs_node = encoder.encode(dict(kwargs))
        meta: dict[str, Any] = {
            "kind": "call",
            "function": function,
            "args": args_node["U"],
            "kwargs": kwargs_node,
            "memory_mb": None if memory_mb is None else min(int(memory_mb), self._limits.memory_mb),
        }
        n_out = 0
        if upstream is not None:
            ups = upstream if isinstance(upstream, tuple) else (upstream,)
            n_out = len(ups)
            meta["grad"] = {"upstream": [encoder.tensor(u, leaf=False)["T"] for u in ups]}
        reply, error = self._roundtrip(
            meta, encoder.blob(), (self._limits.result_mb << 20) * 3 + (1 << 20)
        )
        seconds = time.monotonic() - start
        if error is not None:
            return CallOutcome(ok=False, error=error, seconds=seconds)
        assert reply is not None
        try:
            outcome = self._parse(
                reply, encoder, args, kwargs, args_node, kwargs_node, n_out, torch
            )
        except (_BadFrame, ValueError, KeyError, TypeError) as exc:
            self._end(0.0)
            detail = str(exc) if isinstance(exc, _BadFrame) else "malformed reply"
            return CallOutcome(ok=False, error=f"sent a reply the grader cannot read ({detail})")
        outcome.seconds = seconds
        return outcome

    def _parse(self, reply, encoder, args, kwargs, args_node, kwargs_node, n_out, torch):
        import safetensors.torch

        meta, blob = reply
        ok = meta.get("ok")
        if not isinstance(ok, bool):
            raise _BadFrame("no status")
        try:
            tensors = safetensors.torch.load(blob) if blob else {}
        except Exception:  # noqa: BLE001 — any parse failure of hostile bytes
            raise _BadFrame("tensors are not valid safetensors") from None
        for value in tensors.values():
            if type(value) is not torch.Tensor:
                raise _BadFrame("not a tensor")
        error = meta.get("error")
        error = None if error is None else str(error)[:2000]
        mutated = meta.get("mutated", [])
        if not isinstance(mutated, list):
            raise _BadFrame("bad mutation list")
        after = {}
        for key in mutated:
            if key not in encoder.leaves or f"m{key}" not in tensors:
                raise _BadFrame("unknown mutated argument")
            after[key] = tensors[f"m{key}"]
        inputs_after = _rebuild(args_node, tuple(args), after, lambda t: t)
        kwargs_after = _rebuild(kwargs_node, dict(kwargs), after, lambda t: t)
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
        value = outputs[0] if "T" in node else tuple(outputs)
        devices = meta.get("devices")
        if not isinstance(devices, list) or len(devices) != len(outputs):
            raise _BadFrame("bad devices")
        devices = tuple(str(d)[:40] for d in devices)
        grads = None
        if n_out:
            grad_map = {k: tensors[f"g{k}"] for k in encoder.leaves if f"g{k}" in tensors}
            grads = _rebuild(args_node, tuple(args), grad_map, lambda t: None)
        return CallOutcome(
            ok=True,
            value=value,
            devices=devices,
            inputs_after=inputs_after,
            kwargs_after=kwargs_after,
            grads=grads,
        )

    def close(self) -> None:
        """Kill the child and everything it started; keep what it printed."""
        if self.closed:
            return
        if self._pid is not None:
            self._end(grace=0.0)
        self.closed = True

    def __enter__(self) -> StudentModule:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
