"""The sandboxed child: one submission's file, imported and called — runs inside the sandbox.

The zygote forks one child per submission (`child_main`); it drops into its
own session, confines itself (`confine.py`), receives the student's source
over its protocol socket, writes it into a private temporary folder and
imports it, then answers calls until the socket closes. Every method here
may be sabotaged by the student code it runs.

This file must not import mmexam: the package is invisible inside the
sandbox. Only the standard library, torch and its sibling files are used.
"""

# Student code may raise, exit or sabotage anything, so this file catches broadly on purpose.
# ruff: noqa: BLE001, S110, S102

from __future__ import annotations

import io
import math
import os
import resource
import signal
import socket
import sys
import traceback
import types
from typing import Any

from .confine import PR_SET_PDEATHSIG, install_seccomp, prctl, set_child_limits, vsize
from .modules import build_module
from .wire import (
    ARENA,
    BATCH,
    DICT,
    LOAD,
    MODULE,
    OUT_OF_MEMORY,
    REPLAY,
    STATE,
    TENSOR,
    TUPLE,
    decode_tensors,
    encode_tensors,
    pack_frame,
    recv_frame_fds,
)


class Child:
    """Runs inside the forked child; every method may be sabotaged by the student code."""

    def __init__(
        self, sock: socket.socket, workdir: str, config: dict, scripts: dict, registry: dict
    ) -> None:
        import torch

        self.torch = torch
        self.registry = registry  # class name -> trusted nn.Module class (modules.py)
        self.sock = sock
        self.workdir = workdir
        self.config = config
        self.scripts = scripts  # file name -> {"calls", "tensors"}, decoded by the zygote
        self.arena: Any = None  # the mmap of the last batch's arena (see wire.ARENA)
        self.call_arena: dict | None = None  # the call's argument keys -> arena offsets
        self.viewed: set = set()  # the call's argument keys handed over as arena views
        self.device = config["device"]
        self.loaded: dict[str, types.ModuleType] = {}  # filename -> module (one per file)
        self.module: types.ModuleType | None = None
        self.filename = "submission.py"
        self.seq = 0  # echoed in every reply, so a stale or forged frame is told apart
        self.out_of_memory: dict[tuple[str, str], str] = {}  # (file, function) -> its error
        self.cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        self.as_hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        self.as_lowered = False

    # -- limits ------------------------------------------------------------

    def _cpu_used(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _arm(self, memory_mb: int | None) -> None:
        """Per-call limits: CPU soft limit and (CPU lane) address-space soft limit."""
        soft = math.ceil(self._cpu_used() + self.config["cpu_seconds"])
        if self.cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, self.cpu_hard)
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, self.cpu_hard))
        except (ValueError, OSError):
            pass
        mb = memory_mb if memory_mb is not None else self.config["memory_mb"]
        if memory_mb is None and self.device == "cpu":
            pass  # the submission's RLIMIT_AS, set at fork, is the bound
        elif self.device == "cpu" and self.config["rlimit_as"]:
            limit = vsize() + mb * (1 << 20)
            if self.as_hard != resource.RLIM_INFINITY:
                limit = min(limit, self.as_hard)
            try:
                resource.setrlimit(resource.RLIMIT_AS, (limit, self.as_hard))
                self.as_lowered = True
            except (ValueError, OSError):
                pass
        elif self.device != "cpu" and memory_mb is not None:
            torch = self.torch
            try:
                if torch.cuda.is_initialized():
                    total = torch.cuda.get_device_properties(0).total_memory
                    torch.cuda.set_per_process_memory_fraction(min(1.0, mb * (1 << 20) / total))
            except Exception:
                pass

    def _disarm(self) -> None:
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_hard, self.cpu_hard))
            if self.as_lowered:
                resource.setrlimit(resource.RLIMIT_AS, (self.as_hard, self.as_hard))
                self.as_lowered = False
        except (ValueError, OSError):
            pass

    # -- messages ----------------------------------------------------------

    def send(self, meta: dict, blob: bytes = b"") -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        meta["seq"] = self.seq
        self.sock.sendall(pack_frame(meta, blob))

    def describe(self, exc: BaseException, where: str = "") -> str:
        """'raised ValueError: msg (fusion.py, line 3)', never raising itself."""
        if isinstance(exc, SystemExit):
            try:
                code = repr(exc.code)[:100]
            except Exception:
                code = "?"
            return f"called sys.exit({code}){where}"
        name = type(exc).__name__
        if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and _is_oom_message(exc)):
            return f"{OUT_OF_MEMORY}{where} ({name})"
        try:
            message = str(exc)
        except BaseException:
            message = "<the exception could not be printed>"
        message = message.strip().splitlines()[0] if message.strip() else ""
        if len(message) > 500:
            message = message[:500] + "…"
        line = ""
        try:
            for frame in reversed(traceback.extract_tb(exc.__traceback__)):
                if frame.filename == self.filename:
                    line = f" ({self.filename}, line {frame.lineno})"
                    break
        except BaseException:
            pass
        text = f"{name}: {message}" if message else name
        return f"raised {text}{line}{where}"

    # -- loading -----------------------------------------------------------

    def load(self, meta: dict, blob: bytearray) -> None:
        filename = os.path.basename(str(meta.get("filename", "submission.py"))) or "submission.py"
        self.filename = filename
        path = os.path.join(self.workdir, filename)
        try:
            with open(path, "wb") as handle:
                handle.write(blob)
        except OSError as exc:
            # Before the first file no student code ran in this child: the box's fault
            # (the trusted side believes `internal` only then, and retries in a fresh box).
            self.send({"ok": False, "internal": f"cannot write the source ({exc.strerror})"})
            return
        stem = filename.removesuffix(".py")
        module = types.ModuleType(stem)
        module.__file__ = path
        sys.modules[stem] = module
        error = None
        self._arm(None)
        try:
            source = blob.decode("utf-8")
            code = compile(source, filename, "exec", dont_inherit=True)
            exec(code, module.__dict__)
        except SyntaxError as exc:
            error = f"{type(exc).__name__}: {exc.msg} ({filename}, line {exc.lineno})"
        except UnicodeDecodeError as exc:
            error = f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"
        except BaseException as exc:
            error = self.describe(exc, " at import")
        finally:
            self._disarm()
        self.module = module
        self.loaded[filename] = module
        functions = []
        if error is None:
            for name, value in list(module.__dict__.items()):
                if isinstance(name, str) and not name.startswith("_") and callable(value):
                    functions.append(name)
        self.send({"ok": error is None, "error": error, "functions": functions[:1000]})

    # -- calls -------------------------------------------------------------

    def _decode(self, node, tensors: dict, leaves: dict, grad: bool):
        """The argument `node` describes; each tensor a fresh copy (a leaf that requires
        grad where `grad` and it is floating point), the same copy wherever it recurs."""
        if isinstance(node, dict):
            if TENSOR in node:
                key = str(node[TENSOR])
                leaf = leaves.get(key)
                if leaf is None:
                    # A copy: the decoded original stays untouched, to compare with afterwards.
                    original = tensors[key]
                    leaf = self._arena_view(key, original)
                    if leaf is not None:
                        pass
                    elif self.device == "cpu":
                        leaf = original.clone()
                    else:
                        leaf = original.to(self.device, copy=True)
                    if grad and (leaf.is_floating_point() or leaf.is_complex()):
                        leaf.requires_grad_(True)
                    leaves[key] = leaf
                return leaf
            if TUPLE in node:
                return tuple(self._decode(item, tensors, leaves, grad) for item in node[TUPLE])
            if DICT in node:
                return {k: self._decode(v, tensors, leaves, grad) for k, v in node[DICT].items()}
            if MODULE in node:
                # Copies too: batches share the decoded tensors.
                state = {k: tensors[str(v)].clone() for k, v in node[STATE].items()}
                module = build_module(self.registry, node[MODULE], state)
                return module if self.device == "cpu" else module.to(self.device)
            raise ValueError("unknown argument node")
        if isinstance(node, list):
            return [self._decode(item, tensors, leaves, grad) for item in node]
        return node

    def _arena_view(self, key: str, original):
        """The argument `key` as a view of its fresh copy in the arena, or None."""
        where = (self.call_arena or {}).get(key)
        if self.arena is None or type(where) is not int or original.numel() == 0:
            return None
        nbytes = original.numel() * original.element_size()
        if where < 0 or where + nbytes > len(self.arena):
            return None
        flat = self.torch.frombuffer(
            self.arena, dtype=original.dtype, count=original.numel(), offset=where
        )
        self.viewed.add(key)
        return flat.reshape(original.shape)

    def _expected_type(self, value) -> str | None:
        """None when `value` is a torch.Tensor or a tuple of them, else why not."""
        torch = self.torch

        def name_of(obj) -> str:
            cls = type(obj)
            if cls.__module__ == "builtins":
                label = cls.__qualname__
            else:
                label = f"{cls.__module__}.{cls.__qualname__}"
            label = label[:120]
            if issubclass(cls, torch.Tensor):
                label += " (a torch.Tensor subclass)"
            return label

        if type(value) is torch.Tensor:
            return None
        if type(value) is tuple and value:
            for i, item in enumerate(value):
                if type(item) is not torch.Tensor:
                    return f"returned a tuple holding {name_of(item)} at position {i}, expected torch.Tensor"
            return None
        return f"returned {name_of(value)}, expected torch.Tensor"

    def _pack_tensors(self, named: dict) -> bytes:
        torch = self.torch
        plain = {}
        limit = self.config["max_result_bytes"]
        total = 0
        for key, tensor in named.items():
            if tensor.layout != torch.strided:
                raise _Unsendable(f"returned a {tensor.layout} tensor, expected a dense one")
            if tensor.is_meta:
                raise _Unsendable("returned a tensor on the meta device (it has no values)")
            total += tensor.numel() * tensor.element_size()
            if total > limit:
                raise _Unsendable(
                    f"returned more than {limit >> 20} MB of tensors (the limit for one call)"
                )
            plain[key] = tensor
        try:
            return encode_tensors(plain) if plain else b""
        except Exception as exc:  # e.g. an unsupported dtype
            raise _Unsendable(f"returned a tensor that cannot be sent back ({exc})") from None

    def call(self, meta: dict, tensors: dict) -> None:
        """One call on copies of the decoded tensors (a batch shares them between calls)."""
        torch = self.torch
        name = str(meta["function"])
        earlier = self.out_of_memory.get((self.filename, name))
        if earlier is not None:
            # The grader calls it no more either: queued calls would only burn seconds.
            self.send({"ok": False, "error": f"{earlier} (in an earlier call)"})
            return
        leaves: dict = {}
        grad = meta.get("grad")
        self.call_arena = meta.get(ARENA) if self.device == "cpu" else None
        self.viewed = set()
        args = self._decode(meta["args"], tensors, leaves, grad is not None)
        kwargs = self._decode(meta["kwargs"], tensors, leaves, grad is not None)
        function = getattr(self.module, name, None)
        if function is None or not callable(function):
            self.send({"ok": False, "error": f"has no function '{name}'"})
            return
        error = None
        value = None
        if self.device != "cpu":
            torch.cuda.synchronize()
        returned: list = [None]  # the line of the last `return` run in the student's file
        self._arm(meta.get("memory_mb"))
        try:
            sys.settrace(_return_tracer(self.filename, returned))
            try:
                value = function(*args, **kwargs)
            finally:
                sys.settrace(None)
            if self.device != "cpu":
                torch.cuda.synchronize()
        except BaseException as exc:
            error = self.describe(exc)
        finally:
            self._disarm()
        if error is not None and meta.get("memory_mb") is None and error.startswith(OUT_OF_MEMORY):
            self.out_of_memory[(self.filename, name)] = error
        if error is None:
            error = self._expected_type(value)
        out: dict = {"ok": error is None, "error": error}
        if type(returned[0]) is int:
            out["line"] = returned[0]
        named: dict = {}
        if error is None:
            self._returned(value, out, named, grad, tensors, leaves)
        mutated = []
        for key, tensor in leaves.items():
            if key in self.viewed:
                continue  # the trusted side reads the arena itself
            try:
                same = _unchanged(tensor, tensors[key])
            except Exception:
                same = False
            if not same:
                mutated.append(key)
                named[f"m{key}"] = tensor
        out["mutated"] = mutated
        try:
            blob_out = self._pack_tensors(named)
        except _Unsendable as exc:
            self.send({"ok": False, "error": str(exc), "mutated": []})
            return
        self.send(out, blob_out)

    def _returned(self, value, out: dict, named: dict, grad, tensors: dict, leaves: dict) -> None:
        """Fill the reply `out` and its tensors `named` for a call that returned `value`."""
        torch = self.torch
        outputs = [value] if type(value) is torch.Tensor else list(value)
        out["value"] = (
            {TENSOR: "r0"}
            if type(value) is torch.Tensor
            else {TUPLE: [f"r{i}" for i in range(len(outputs))]}
        )
        out["devices"] = [str(t.device) for t in outputs]
        for i, tensor in enumerate(outputs):
            named[f"r{i}"] = tensor
        if grad is not None:
            grad_error = self._backward(outputs, grad, tensors, leaves, named)
            if grad_error:
                out.update(ok=False, error=grad_error)
                for key in [k for k in named if k.startswith("g")]:
                    del named[key]

    def _backward(self, outputs, grad, tensors, leaves, named) -> str | None:
        torch = self.torch
        upstream = [tensors[str(k)].to(self.device) for k in grad["upstream"]]
        if len(upstream) != len(outputs):
            return f"returned {len(outputs)} tensors, expected {len(upstream)}"
        pairs = [(o, u) for o, u in zip(outputs, upstream) if o.requires_grad]
        if not pairs:
            return (
                "the output has no grad_fn: it is not differentiable with respect to the inputs "
                "(detached, computed with numpy, or under torch.no_grad?)"
            )
        self._arm(None)
        try:
            torch.autograd.backward([o for o, _ in pairs], [u for _, u in pairs])
        except BaseException as exc:
            return "backward failed: " + self.describe(exc)
        finally:
            self._disarm()
        for key, tensor in leaves.items():
            if tensor.requires_grad and tensor.grad is not None:
                named[f"g{key}"] = tensor.grad
        return None

    def serve(self) -> None:
        max_blob = self.config["max_request_bytes"]
        while True:
            try:
                meta, blob, fds = recv_frame_fds(self.sock, max_blob)
            except (EOFError, OSError, ValueError):
                return
            if meta.get("kind") in (BATCH, REPLAY):
                self._map_arena(fds)
            kind = meta.get("kind")
            self.seq = meta.get("seq", 0)
            if kind == LOAD:
                self.load(meta, blob)
            elif kind == BATCH:
                self.batch(meta["calls"], decode_tensors(blob, max_blob), self.seq)
            elif kind == REPLAY:
                # A script the zygote decoded before forking this child: the same
                # calls for every student, sent by its number alone.
                stored = self.scripts.get(str(meta.get("file")))
                if stored is None:
                    return
                self.batch(stored["calls"], stored["tensors"], self.seq)
            else:
                return

    def _map_arena(self, fds: list) -> None:
        """Map the arena that came with this frame (shared with the trusted side)."""
        import mmap

        self.arena = None
        try:
            size = os.fstat(fds[0]).st_size if fds else 0
            self.arena = mmap.mmap(fds[0], size) if size else None
        except (OSError, ValueError):
            pass
        for fd in fds:
            os.close(fd)

    def batch(self, calls: list, tensors: dict, seq0: int) -> None:
        """Several calls, one reply each as soon as it is ready (the grader reads
        them while the next one runs); reply i carries the sequence number seq0 + i."""
        for i, call in enumerate(calls):
            self.seq = seq0 + i
            module = self.loaded.get(str(call.get("file")))
            if module is None:
                self.send({"ok": False, "error": "the file was not loaded"})
                continue
            self.module = module
            self.filename = str(call.get("file"))
            self.call(call, tensors)


class _Unsendable(Exception):
    pass


def _return_tracer(filename: str, returned: list):
    """A `sys.settrace` function that keeps, in returned[0], the line of the last frame of
    the student's file to return: the outermost, the called function's own `return`.

    Only frames of that file are traced, and without line events: the cost is one
    Python call per Python-level call. Cosmetic feedback (the trusted side checks the
    number lies in the file and reads the line itself)."""

    def local(frame, event, arg):
        if event == "return":
            returned[0] = frame.f_lineno
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != filename:
            return None
        frame.f_trace_lines = False
        return local

    return tracer


def _is_oom_message(exc: BaseException) -> bool:
    try:
        text = str(exc)
    except BaseException:
        return False
    return "can't allocate memory" in text or "out of memory" in text.lower()


def _unchanged(tensor, original) -> bool:
    """Whether `tensor` still holds exactly `original`'s bits (NaNs included)."""
    import torch

    now = tensor.detach()
    if now.device.type != "cpu":
        now = now.cpu()
    if now.dtype != original.dtype or now.shape != original.shape:
        return False
    if torch.equal(now, original):
        return True
    if not original.is_floating_point():
        return False
    flat_now = now.reshape(-1).contiguous().view(torch.uint8)
    return bool(torch.equal(flat_now, original.reshape(-1).contiguous().view(torch.uint8)))


def child_main(
    sock_fd: int,
    out_fd: int,
    keep: set[int],
    workdir: str,
    config: dict,
    scripts: dict,
    registry: dict,
) -> None:
    """In the fresh child: isolate, limit, then serve the submission. Never returns."""
    code = 0
    try:
        os.setsid()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        for fd in (null, out_fd):
            if fd > 2:
                os.close(fd)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd != sock_fd and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        sys.stdin = open(0, "r", closefd=False)  # noqa: SIM115
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(workdir)
        os.environ["HOME"] = workdir
        os.environ["TMPDIR"] = workdir
        import tempfile

        tempfile.tempdir = workdir
        set_child_limits(config)
        install_seccomp()
        sock = socket.socket(fileno=sock_fd)
        child = Child(sock, workdir, config, scripts, registry)
        child.serve()
    except BaseException:  # the child must never return into the zygote loop
        code = 70
        try:
            sys.stderr.write(
                "mmexam sandbox: internal error in the child\n" + traceback.format_exc()
            )
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)
