"""The sandboxed side of mmexam's code runner: a zygote and one forked child per submission.

`mmexam.grade.sandbox` starts this file as a script inside the sandbox:

    python -I -B sandbox_worker.py CTRL_FD CONFIG_JSON

The zygote imports torch once, warms it up, and then waits for commands on
the control socket (`CTRL_FD`, a SOCK_SEQPACKET socket to the trusted side):

- ``open``: comes with two file descriptors from the trusted side, a stream
  socket for the submission's protocol and a pipe for its stdout/stderr. The
  zygote forks a child that drops into its own session, sets its rlimits,
  receives the student's source over the socket, writes it into a private
  temporary folder and imports it, then answers calls until the socket closes.
- ``finish``: kills the child, everything it started, and reports how it ended.

Every message is a frame: `HEADER` (two little-endian uint32: JSON length,
blob length), the JSON meta, then the blob — safetensors bytes when tensors
travel. Nothing is ever pickled. The trusted side treats every frame the
child sends as hostile: it caps lengths, validates the JSON and rebuilds
plain tensors itself.

This file must not import mmexam: the package is invisible inside the
sandbox. Only the standard library, torch and the sibling
`modules.py` (the trusted nn.Module classes) are used.
"""

# Student code may raise, exit or sabotage anything, so this file catches broadly on purpose.
# ruff: noqa: BLE001, S110, S102

from __future__ import annotations

import ctypes
import functools
import gc
import io
import json
import math
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time
import traceback
import types

HEADER = struct.Struct("<II")
MAX_META = 1 << 20  # largest JSON part of any frame, in bytes
MAX_SOURCE = 1 << 20  # largest student source file accepted
OUT_OF_MEMORY = "exceeded the memory limit"  # how a failed allocation is reported

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_MADV_COLLAPSE = 25
_HUGE_PAGE = 2 << 20


def pack_frame(meta: dict, blob: bytes = b"") -> bytes:
    """One protocol frame: header, JSON meta, blob."""
    data = json.dumps(meta, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return HEADER.pack(len(data), len(blob)) + data + blob


def _prctl(option: int, value: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to harden
        pass


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k
    return buf


def _recv_frame(sock: socket.socket, max_blob: int) -> tuple[dict, bytearray]:
    meta_len, blob_len = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if meta_len > MAX_META or blob_len > max_blob:
        raise EOFError
    meta = json.loads(_recv_exact(sock, meta_len))
    return meta, _recv_exact(sock, blob_len)


# ---------------------------------------------------------------------------
# Tensors on the wire: the safetensors format, written and read here
# ---------------------------------------------------------------------------
#
# The layout is safetensors' (an 8-byte little-endian header length, a JSON
# header of {name: {dtype, shape, data_offsets}}, then the raw bytes), so the
# `safetensors` package reads what this writes and vice versa. It is coded here
# because the per-call Python overhead of safetensors.torch (pointer sorting,
# shared-storage checks, numpy round trips) was half of a call's cost, and so
# that every length and offset of a hostile blob is checked before any use.

_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
_CODES: dict[str, str] = {name: code for code, (name, _) in _DTYPES.items()}
MAX_DIMS = 16


class TensorFormatError(ValueError):
    """A blob that is not well-formed safetensors (or breaks a limit)."""


def encode_tensors(named: dict) -> bytes:
    """Dense CPU tensors -> safetensors bytes (tensors are copied, never shared)."""
    import torch

    items = list(named.items())
    if len(items) > 1:
        # Widest elements first: every offset is then a multiple of its element size
        # (safetensors' own rule), so the reader can view the data instead of copying it.
        items.sort(key=lambda item: -item[1].element_size())
    entries: list = []
    chunks: list = []
    offset = 0
    for name, tensor in items:
        code = _CODES.get(str(tensor.dtype)[6:])  # "torch.float32" -> "float32"
        if code is None:
            raise TensorFormatError(f"dtype {tensor.dtype} cannot be sent")
        flat = tensor.detach()
        if flat.device.type != "cpu":
            flat = flat.cpu()
        if code == "BF16":  # numpy has no bfloat16: send its bits
            flat = flat.reshape(-1).view(torch.int16)
        raw = flat.numpy().tobytes()  # C order, whatever the strides
        end = offset + len(raw)
        shape = ",".join(map(str, tensor.shape))
        entries.append(
            f'{json.dumps(name)}:{{"dtype":"{code}","shape":[{shape}],"data_offsets":[{offset},{end}]}}'
        )
        chunks.append(raw)
        offset = end
    text = ("{" + ",".join(entries) + "}").encode("utf-8")
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text, *chunks])


def decode_tensors(blob: bytes | bytearray, max_bytes: int) -> dict:
    """safetensors bytes -> {name: plain torch.Tensor}, every field checked first.

    The tensors view one writable buffer: `blob` itself when it is a bytearray
    (the caller hands it over and must not change it), else one copy of it.
    """
    import torch

    if not blob:
        return {}
    if len(blob) < 8 or len(blob) > max_bytes + MAX_META + 8:
        raise TensorFormatError("wrong length")
    (size,) = struct.unpack_from("<Q", blob)
    if size > MAX_META or 8 + size > len(blob):
        raise TensorFormatError("header length out of range")
    header = bytes(memoryview(blob)[8 : 8 + size])
    if size <= _CACHED_HEADER:
        entries, data_end = _cached_layout(header, max_bytes)
    else:
        entries, data_end = _layout(header, max_bytes)
    base = 8 + size
    if data_end > len(blob) - base:
        raise TensorFormatError("offsets out of range")
    buffer = None  # the writable buffer every aligned tensor views
    out = {}
    for name, dtype, itemsize, shape, begin, end, numel in entries:
        if numel == 0:
            out[name] = torch.empty(shape, dtype=dtype)
            continue
        if (base + begin) % itemsize == 0:
            if buffer is None:
                buffer = blob if isinstance(blob, bytearray) else bytearray(blob)
            flat = torch.frombuffer(buffer, dtype=dtype, count=numel, offset=base + begin)
        else:  # misaligned: a copy of its own
            flat = torch.frombuffer(bytearray(blob[base + begin : base + end]), dtype=dtype)
        out[name] = flat.reshape(shape)
    return out


_CACHED_HEADER = 4096  # headers up to this size are parsed once (every student sends the same)


def _layout(header: bytes, max_bytes: int) -> tuple[tuple, int]:
    """A safetensors header, checked: its tensors as (name, dtype, itemsize, shape, begin,
    end, numel), and the end of the last one's data."""
    import torch

    try:
        parsed = json.loads(header.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        raise TensorFormatError("header is not JSON") from None
    if not isinstance(parsed, dict):
        raise TensorFormatError("header is not a JSON object")
    entries = []
    data_end = 0
    for name, info in parsed.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise TensorFormatError("bad entry")
        dtype = _DTYPES.get(info.get("dtype"))
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        if dtype is None:
            raise TensorFormatError("unknown dtype")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS:
            raise TensorFormatError("bad shape")
        if not all(type(n) is int and 0 <= n <= max_bytes for n in shape):
            raise TensorFormatError("bad shape")
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise TensorFormatError("bad offsets")
        begin, end = offsets
        if not (type(begin) is int and type(end) is int and 0 <= begin <= end):
            raise TensorFormatError("offsets out of range")
        numel = math.prod(shape)
        if numel * dtype[1] != end - begin:
            raise TensorFormatError("size does not match shape")
        entries.append((name, getattr(torch, dtype[0]), dtype[1], tuple(shape), begin, end, numel))
        data_end = max(data_end, end)
    return tuple(entries), data_end


_cached_layout = functools.lru_cache(maxsize=512)(_layout)


# ---------------------------------------------------------------------------
# The child: one submission
# ---------------------------------------------------------------------------


class _Child:
    """Runs inside the forked child; every method may be sabotaged by the student code."""

    def __init__(self, sock: socket.socket, workdir: str, config: dict, scripts: dict) -> None:
        import modules  # the sibling trusted module classes
        import torch

        self.torch = torch
        self.modules = modules
        self.sock = sock
        self.workdir = workdir
        self.config = config
        self.scripts = scripts  # file name -> {"calls", "tensors"}, decoded by the zygote
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
            limit = _vsize() + mb * (1 << 20)
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
        with open(path, "wb") as handle:
            handle.write(blob)
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
            if "T" in node:
                key = str(node["T"])
                leaf = leaves.get(key)
                if leaf is None:
                    # A copy: the decoded original stays untouched, to compare with afterwards.
                    original = tensors[key]
                    if self.device == "cpu":
                        leaf = original.clone()
                    else:
                        leaf = original.to(self.device, copy=True)
                    if grad and (leaf.is_floating_point() or leaf.is_complex()):
                        leaf.requires_grad_(True)
                    leaves[key] = leaf
                return leaf
            if "U" in node:
                return tuple(self._decode(item, tensors, leaves, grad) for item in node["U"])
            if "D" in node:
                return {k: self._decode(v, tensors, leaves, grad) for k, v in node["D"].items()}
            if "M" in node:
                # Copies too: batches share the decoded tensors.
                state = {k: tensors[str(v)].clone() for k, v in node["S"].items()}
                module = self.modules.build_module(node["M"], state)
                return module if self.device == "cpu" else module.to(self.device)
            raise ValueError("unknown argument node")
        if isinstance(node, list):
            return [self._decode(item, tensors, leaves, grad) for item in node]
        return node

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
        self._arm(meta.get("memory_mb"))
        try:
            value = function(*args, **kwargs)
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
        named: dict = {}
        if error is None:
            outputs = [value] if type(value) is torch.Tensor else list(value)
            out["value"] = (
                {"T": "r0"}
                if type(value) is torch.Tensor
                else {"U": [f"r{i}" for i in range(len(outputs))]}
            )
            out["devices"] = [str(t.device) for t in outputs]
            for i, tensor in enumerate(outputs):
                named[f"r{i}"] = tensor
            if grad is not None:
                grad_error = self._backward(outputs, grad, tensors, leaves, named)
                if grad_error:
                    out.update(ok=False, error=grad_error)
                    named = {k: v for k, v in named.items() if not k.startswith("g")}
        mutated = []
        for key, tensor in leaves.items():
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
                meta, blob = _recv_frame(self.sock, max_blob)
            except (EOFError, OSError, ValueError):
                return
            kind = meta.get("kind")
            self.seq = meta.get("seq", 0)
            if kind == "load":
                self.load(meta, blob)
            elif kind == "batch":
                self.batch(meta["calls"], decode_tensors(blob, max_blob), self.seq)
            elif kind == "script":
                # A script the zygote decoded before forking this child: the same
                # calls for every student, sent by its number alone.
                stored = self.scripts.get(str(meta.get("file")))
                if stored is None:
                    return
                self.batch(stored["calls"], stored["tensors"], self.seq)
            else:
                return

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


def _vsize() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child_main(
    sock_fd: int, out_fd: int, keep: set[int], workdir: str, config: dict, scripts: dict
) -> None:
    """In the fresh child: isolate, limit, then serve the submission. Never returns."""
    code = 0
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
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
        _set_child_limits(config)
        _install_seccomp()
        sock = socket.socket(fileno=sock_fd)
        child = _Child(sock, workdir, config, scripts)
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


def _set_child_limits(config: dict) -> None:
    def limit(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_FSIZE, config["file_bytes"])
    cpu = math.ceil(config["cpu_seconds_total"])
    limit(resource.RLIMIT_CPU, cpu)
    if config["max_processes"] > 0:
        limit(resource.RLIMIT_NPROC, config["nproc_base"] + config["max_processes"])
    if config["device"] == "cpu" and config["rlimit_as"]:
        limit(resource.RLIMIT_AS, _vsize() + config["memory_mb"] * (1 << 20))


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
_CLONE_NAMESPACES = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x04000000 | 0x08000000
_CLONE_NAMESPACES |= 0x02000000  # NEWUSER, NEWNS, NEWPID, NEWNET, NEWUTS, NEWIPC, NEWCGROUP


def _seccomp_program(machine: str, own_pid: int) -> bytes | None:
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


def _install_seccomp() -> bool:
    """Load the filter into this process (and its future children); whether it worked."""
    program = _seccomp_program(os.uname().machine, os.getpid())
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


# ---------------------------------------------------------------------------
# The zygote
# ---------------------------------------------------------------------------


class _Zygote:
    def __init__(self, ctrl: socket.socket, config: dict) -> None:
        self.ctrl = ctrl
        self.config = config
        self.pid_ns = bool(config["pid_namespace"])
        self.live: dict[int, dict] = {}
        self.counter = 0
        self.scripts: dict[str, dict] = {}  # file name -> the grader's replayed calls, decoded

    def warm_up(self) -> None:
        import modules
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
        modules.build_module(
            "LinearVelocity", {"A": torch.eye(5), "c": torch.zeros(5), "b": torch.zeros(5)}
        )(b, 0.5)
        decode_tensors(encode_tensors({"x": b, "y": a}), 1 << 20)

    def serve(self) -> None:
        self.ctrl.sendall(
            pack_frame(
                {"ready": True, "pid": os.getpid(), "threads": _threads(), "vsize": _vsize()}
            )
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
            meta_len, _blob_len = HEADER.unpack(data[: HEADER.size])
            meta = json.loads(data[HEADER.size : HEADER.size + meta_len])
            kind = meta.get("kind")
            if kind == "open":
                reply = self.open(fds, meta)
            elif kind == "finish":
                for fd in fds:
                    os.close(fd)
                reply = self.finish(int(meta["pid"]), float(meta.get("grace", 0.0)))
            elif kind == "script":
                reply = self.script(fds)
            elif kind == "ping":
                reply = {"pong": True}
            elif kind == "stats":
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
        os.mkdir(workdir, 0o700)
        config = dict(self.config)
        config["memory_mb"] = int(meta.get("memory_mb", config["memory_mb"]))
        pid = os.fork()
        if pid == 0:
            _child_main(sock_fd, out_fd, set(), workdir, config, self.scripts)
        os.close(sock_fd)
        os.close(out_fd)
        rss_limit = 0
        if config["device"] != "cpu" or not config["rlimit_as"]:
            rss_limit = _rss(os.getpid()) + (config["memory_mb"] + config["rss_slack_mb"]) * (
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
            over = child["rss_limit"] and _rss(pid) > child["rss_limit"]
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
        shutil.rmtree(child["workdir"], ignore_errors=True)
        reply = {
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
    ctrl_fd = int(argv[1])
    config = json.loads(argv[2])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    try:
        import modules  # noqa: F401
    finally:
        sys.path.remove(here)
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    ctrl = socket.socket(fileno=ctrl_fd)
    zygote = _Zygote(ctrl, config)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
