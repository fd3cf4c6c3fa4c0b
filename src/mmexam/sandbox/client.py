"""Run student code in a sandbox and get plain tensors back — the trusted side's `Sandbox`.

One `Sandbox` starts one sandboxed *zygote* process (`zygote.py`) that
imports torch once. Each `Sandbox.open(source, filename)` makes the zygote
fork a fresh child for that submission; `StudentModule.call(...)` sends
tensors to it and reads back plain `torch.Tensor`s. The child dies when the
module is closed, and with it everything it started.

Isolation: `isolation.py` (bubblewrap, or rlimits only with a loud warning;
`require_sandbox=True` raises `SandboxError` instead). The files the zygote
runs (`BOX_FILES`) and the trusted module files it is given are the only
files of this side it sees.

Every frame the child sends is hostile input: lengths are capped before
anything is read, JSON is validated, and tensors are rebuilt from
safetensors bytes — nothing is unpickled and no student object ever reaches
this process.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmexam.errors import SandboxError
from mmexam.sandbox import cgroups
from mmexam.sandbox.calls import Call, Script
from mmexam.sandbox.channel import Conn
from mmexam.sandbox.isolation import (
    SANDBOX_DIR,
    STUDENT_CPUS,
    Limits,
    SandboxWarning,
    bwrap_command,
    is_root,
    isolation_status,
    probe_bwrap,
    python_paths,
    sandbox_uid,
    tasks_of_uid,
)
from mmexam.sandbox.student import StudentModule
from mmexam.sandbox.wire import (
    FINISH,
    HEADER,
    MAX_META,
    OPEN,
    SCRIPT,
    STATS,
    frame_meta,
    pack_frame,
)

HERE = Path(__file__).resolve().parent
# The files the zygote and its children run, seen inside the sandbox as the package
# `mmexam_sandbox` (they import only the standard library, torch and each other).
BOX_FILES = ("wire.py", "confine.py", "modules.py", "wipe.py", "child.py", "zygote.py")
# Makes the folder argv[1] the package `mmexam_sandbox` without running any __init__,
# then runs the zygote: the same in bubblewrap (SANDBOX_DIR) and without it (HERE).
BOOT = (
    "import sys, types; package = types.ModuleType('mmexam_sandbox'); "
    "package.__path__ = [sys.argv[1]]; sys.modules['mmexam_sandbox'] = package; "
    "from mmexam_sandbox.zygote import main; sys.exit(main(sys.argv[2:]))"
)
# Memory a student's processes may hold beyond Limits.memory_mb (the zygote's pages they
# copy on write, page tables), and what the zygote itself may hold: the box's limit.
STUDENT_SLACK_MB = 256
ZYGOTE_MB = 1536
ZYGOTE_START_SECONDS = 180.0  # importing torch on a busy machine
CONTROL_SECONDS = 30.0  # a zygote that does not answer a command within this is restarted


class ChildProc:
    """One forked child of the zygote, with the files imported in it."""

    def __init__(self, pid: int, conn: Conn, key: object, scripts: dict[str, int]) -> None:
        self.pid = pid
        self.conn = conn
        self.key = key  # the session owner, or the StudentModule without a session
        self.scripts = scripts  # file name -> the script the zygote held when it forked this child
        self.loaded: dict[str, StudentModule] = {}
        self.alive = True
        self.seq = 0
        self.status: dict | None = None
        self.loads = 0  # files sent to it: before the first, no student code ran there

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
        self,
        limits: Limits | None = None,
        *,
        require_sandbox: bool = True,
        device: str = "cpu",
        modules: Sequence[str | os.PathLike[str]] = (),
        hide: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        """`modules`: trusted module files (see `modules.py`) whose classes a `ModuleSpec`
        argument may name; the zygote imports them once, before it forks. `hide`: folders
        that must not exist inside the box wherever they lie (the course folder, the build,
        the submissions), added to what is always hidden (the mmexam package and checkout)."""
        self.limits = limits or Limits()
        self.device = device
        self.modules = tuple(os.path.abspath(m) for m in modules)
        self.hide = tuple(os.path.realpath(h) for h in hide)
        if device != "cpu" and not device.startswith("cuda"):
            raise SandboxError(f"unknown device '{device}' — use 'cpu' or 'cuda'")
        self.isolation, self.warning = isolation_status()
        if self.warning is not None:
            if require_sandbox and self.isolation != "bwrap":
                raise SandboxError(
                    f"the sandbox is required but unavailable: {probe_bwrap()} — install "
                    "bubblewrap (apt install bubblewrap), or pass --no-sandbox to run student "
                    "code without it (require_sandbox=False)"
                )
            warnings.warn(self.warning, SandboxWarning, stacklevel=2)
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._stderr: Any = None
        self._ready: dict | None = None
        self._open: StudentModule | None = None
        self._child: ChildProc | None = None
        self._owner: str | None = None
        self._scripts: dict[str, Script] = {}  # file name -> its first segment (the zygote's)
        self._segments: dict[str, list[Script]] = {}  # file name -> every segment, in order
        self._script_calls: dict[str, int] = {}  # file name -> calls in its remembered sequence
        self._script_ids = itertools.count(1)
        self._zygote_scripts: dict[str, int] = {}  # file name -> the script the zygote holds
        self._wipe = True
        self.restarts = 0
        self.dirty_restarts = 0  # zygotes replaced because a student's leftovers survived the wipe
        self._cpu_before = 0.0  # CPU seconds of zygotes that were replaced
        self._cpu_seen = 0.0
        self._closed = False
        self._groups: cgroups.BoxGroups | None = None
        self._groups = self._make_groups()
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
            nproc_base = tasks_of_uid(os.getuid())
        return {
            "device": "cpu" if self.device == "cpu" else self.device,
            "cpu_seconds": limits.cpu_seconds_per_call,
            "cpu_seconds_total": limits.cpu_seconds_per_submission + limits.cpu_seconds_per_call,
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
            # The box's /tmp and IPC, emptied per student (`_wipe` off only in tests).
            "wipe": self.isolation == "bwrap" and self._wipe,
            "modules": list(self._module_files(inside=self.isolation == "bwrap")),
        }

    def _make_groups(self) -> cgroups.BoxGroups | None:
        """This sandbox's control groups, or None where there are none (rlimits only)."""
        hierarchy, _why = cgroups.probe()  # why not: in isolation_status()'s warning
        if hierarchy is None:
            return None
        limits = self.limits
        slack = STUDENT_SLACK_MB if self.device == "cpu" else 4096
        student = (limits.memory_mb + slack) << 20
        tmp = max(64, 4 * limits.file_mb) << 20
        try:
            return cgroups.BoxGroups(
                hierarchy,
                student_bytes=student,
                box_bytes=student + tmp + (ZYGOTE_MB << 20),
                processes=limits.max_processes,
                cpus=STUDENT_CPUS,
            )
        except OSError as exc:
            raise SandboxError(f"the sandbox's control group could not be made: {exc}") from None

    @property
    def cgroups(self) -> str | None:
        """'v1' or 'v2' when this sandbox's processes live in control groups, else None."""
        return None if self._groups is None else f"v{self._groups.box.version}"

    def _module_files(self, *, inside: bool) -> dict[str, str]:
        """The trusted module files: where the zygote finds each -> the file on this side."""
        if not inside:
            return {path: path for path in self.modules}
        return {
            f"{SANDBOX_DIR}/trusted/{i}_{os.path.basename(path)}": path
            for i, path in enumerate(self.modules)
        }

    def _start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = self._env()
        uid = None
        if self.isolation == "bwrap":
            box = SANDBOX_DIR
            files = {f"{SANDBOX_DIR}/{name}": str(HERE / name) for name in BOX_FILES}
            files.update(self._module_files(inside=True))
            tmp_mb = max(64, 4 * self.limits.file_mb)
            prefix = bwrap_command(python_paths(), files, env, tmp_mb=tmp_mb, hide=self.hide)
            if is_root():
                uid = sandbox_uid()
                prefix += [
                    "--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--no-new-privs",
                ]  # fmt: skip
            else:
                prefix += ["--"]
            child_env = None
        else:
            box = str(HERE)
            prefix = []
            child_env = {**os.environ, **env}
        self.uid = uid  # the unprivileged uid student code runs as (bwrap as root), else None
        fd = theirs.fileno()
        config = self._config(uid)
        command = [
            *prefix,
            sys.executable,
            "-I",
            "-B",
            "-c",
            BOOT,
            box,
            str(fd),
            json.dumps(config),
        ]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 — closed with the zygote
        self._proc = subprocess.Popen(
            command,
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=child_env,
            start_new_session=True,
            preexec_fn=None if self._groups is None else self._groups.enter,  # noqa: PLW1509
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
            if self._groups is not None:
                self._seat(reply.get("pid"))
            self._ready = reply
        return self._ready

    def _seat(self, ns_pid: object) -> None:
        """Move the ready zygote (no student code has run in the box yet) into the student's
        control group, where its children are born."""
        assert self._groups is not None
        try:
            if not isinstance(ns_pid, int):
                raise cgroups.CgroupError(f"the zygote reported no pid ({ns_pid!r})")
            self._groups.seat(ns_pid)
        except OSError as exc:
            self._kill_zygote()
            raise SandboxError(f"the sandbox could not join its control group: {exc}") from None

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
        return frame_meta(data)

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
        if self._groups is not None:
            self._groups.kill_all()
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

    def restart(self) -> None:
        """Replace the zygote with a fresh one (a fresh box) before the next child."""
        if self._child is not None:
            self._end_child(self._child, 0.0)
        self._kill_zygote()

    def cpu_seconds(self) -> float:
        """CPU time of this sandbox's zygote and every child it has reaped, so far.

        Processes inside bubblewrap's PID namespace are not reaped by this
        process, so their time never shows in `getrusage(RUSAGE_CHILDREN)`
        here: with control groups this reads the box's CPU time (every process
        that ever ran in it), else it asks the zygote (a zygote that was killed
        takes its count with it).
        """
        if self._groups is not None:
            return self._groups.box.cpu_seconds()
        if self._proc is None or self._proc.poll() is not None:
            return self._cpu_before
        reply = self._control({"kind": STATS})
        now = float(reply.get("cpu", 0.0))
        if now < self._cpu_seen:  # a new zygote since the last question
            self._cpu_before += self._cpu_seen
        self._cpu_seen = now
        return self._cpu_before + now

    def student_cpu_seconds(self) -> float | None:
        """CPU time of every process that ever ran in the student group, read from outside
        (None without control groups): what a file's CPU budget is judged on."""
        if self._groups is None:
            return None
        try:
            return self._groups.student.cpu_seconds()
        except OSError:
            return None

    def box_usage(self) -> dict | None:
        """What the control groups measured, or None without them (see `BoxGroups.usage`)."""
        return None if self._groups is None else self._groups.usage()

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

    def _child_for(self, module: StudentModule) -> ChildProc:
        """The live child `module` may use: the session's, or its own; spawned when needed."""
        key = self._owner if self._owner is not None else module._token
        child = self._child
        if child is not None and child.alive and child.key == key:
            return child
        if child is not None:
            self._end_child(child, 0.0)
        self._child = self._spawn(key)
        return self._child

    def _spawn(self, key: object) -> ChildProc:
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
                        {"kind": OPEN, "memory_mb": self.limits.memory_mb},
                        (theirs.fileno(), out_w),
                    )
                finally:
                    theirs.close()
                    os.close(out_w)
                if "pid" not in reply:
                    os.close(out_r)
                    raise SandboxError(f"the sandbox refused a child: {reply.get('error')}")
                conn = Conn(mine, out_r, self.limits.output_bytes)
                child = ChildProc(int(reply["pid"]), conn, key, scripts)
                self._admit(child)
                return child
            except SandboxError:
                if attempt:
                    raise
                self._kill_zygote()
        raise AssertionError("unreachable")

    def _admit(self, child: ChildProc) -> None:
        """Start the student's measures on a fresh child (it runs no student code yet)."""
        if self._groups is None:
            return
        try:
            self._groups.admit(child.pid)
        except OSError as exc:
            child.alive = False
            child.conn.close()
            raise SandboxError(f"the sandbox's child is not in its control group: {exc}")

    def _end_child(self, child: ChildProc, grace: float) -> dict:
        """Kill `child` and everything it started; how it ended (cached)."""
        if child.status is None:
            child.alive = False
            try:
                child.status = self._control({"kind": FINISH, "pid": child.pid, "grace": grace})
            except SandboxError as exc:
                self._kill_zygote()  # restarted on the next open
                child.status = {"killed": True, "crashed_sandbox": str(exc)}
            if self._groups is not None:
                self._groups.account(child.status)
            if child.status.get("dirty"):
                # The wipe left something for the next student: a fresh box instead.
                self.dirty_restarts += 1
                self._kill_zygote()
            child.conn.drain(0.05)
            child.conn.close()
        if self._child is child:
            self._child = None
        return child.status

    def remember(self, filename: str, calls: list[Call]) -> None:
        """Keep the longest call sequence seen for `filename` to replay for the next file.

        With control groups, a call with a memory limit of its own is measured from
        outside and must run alone: the sequence is cut there into segments, replayed
        one after another, with such calls made on their own in between.
        """
        if len(calls) < 2 or len(calls) <= self._script_calls.get(filename, 0):
            return
        self._script_calls[filename] = len(calls)
        segments: list[list[Call]] = [[]]
        for call in calls:
            if call.memory_mb is not None and self._groups is not None:
                segments.append([])
            else:
                segments[-1].append(call)
        scripts = [Script(s, filename, next(self._script_ids)) for s in segments if s]
        self._segments[filename] = scripts
        if scripts:
            self._scripts[filename] = scripts[0]
        else:
            self._scripts.pop(filename, None)

    def next_script(self, filename: str, script: Script) -> Script | None:
        """The segment replayed after `script` for `filename`, if any."""
        scripts = self._segments.get(filename, [])
        for i, known in enumerate(scripts[:-1]):
            if known is script:
                return scripts[i + 1]
        return None

    def memory_mark(self) -> int | None:
        """Start measuring the student's memory from outside (see `BoxGroups.mark`)."""
        return None if self._groups is None else self._groups.mark()

    def memory_since(self, mark: int) -> int | None:
        """The most bytes the student's processes held above `mark` since `memory_mark`."""
        return None if self._groups is None else self._groups.since(mark)

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
                reply = self._control({"kind": SCRIPT}, (fd,))
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
        if self._groups is not None:
            self._groups.close()
            self._groups = None

    def __enter__(self) -> Sandbox:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._kill_zygote()
            groups = getattr(self, "_groups", None)
            if groups is not None:
                groups.close()
