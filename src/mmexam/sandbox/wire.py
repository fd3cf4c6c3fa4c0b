"""The wire format, imported by both sides: frames, the tensor codec, message names.

The trusted side imports this as `mmexam.sandbox.wire`; inside the sandbox
the zygote and its children import the same file as a sibling (the mmexam
package is invisible there). It therefore imports nothing but the standard
library (torch only inside the functions that build tensors).

Every message is a frame: `HEADER` (two little-endian uint32: JSON length,
blob length), the JSON meta, then the blob — safetensors bytes when tensors
travel. Nothing is ever pickled. The trusted side treats every frame the
child sends as hostile: it caps lengths, validates the JSON and rebuilds
plain tensors itself.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import struct

HEADER = struct.Struct("<II")
MAX_META = 1 << 20  # largest JSON part of any frame, in bytes
MAX_SOURCE = 1 << 20  # largest student source file accepted
OUT_OF_MEMORY = "exceeded the memory limit"  # how a failed allocation is reported

# Message kinds ("kind" of a frame's meta). To the zygote, on the control socket:
OPEN = "open"  # fork a child; two descriptors come along (protocol socket, stdout pipe)
FINISH = "finish"  # end child "pid" and everything it started; the reply says how it ended
SCRIPT = "script"  # keep a script (one frame in a memfd) for every child born after
STATS = "stats"  # CPU seconds of the zygote and the children it reaped
PING = "ping"
# To a child, on its protocol socket:
LOAD = "load"  # import the student's file (the blob is its source)
BATCH = "batch"  # make these calls (the blob holds their tensors), one reply each
REPLAY = SCRIPT  # make the calls of the script the zygote held for "file" when it forked

# Argument and value nodes: how a call's JSON tree refers to the blob's tensors.
TENSOR = "T"  # {"T": key}: the tensor named key
TUPLE = "U"  # {"U": [node, ...]}
DICT = "D"  # {"D": {name: node}}
MODULE = "M"  # {"M": class name, "S": {name: key}}: a trusted nn.Module built from tensors
STATE = "S"
# The arena: a sealed memfd sent with a BATCH or REPLAY frame (SCM_RIGHTS) holding one
# fresh copy of every tensor argument of every call in it; a call's "arena" maps its
# argument keys to byte offsets there. On the CPU the child hands the student views of
# those pages, and the trusted side, which keeps the memfd and the original bytes,
# reads them back after the reply: which inputs changed is never the child's word.
ARENA = "arena"
ARENA_ALIGN = 64


def pack_frame(meta: dict, blob: bytes = b"") -> bytes:
    """One protocol frame: header, JSON meta, blob."""
    data = json.dumps(meta, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return HEADER.pack(len(data), len(blob)) + data + blob


def frame_meta(data: bytes) -> dict:
    """The JSON meta of one whole frame (a control message, read by trusted code)."""
    meta_len, _ = HEADER.unpack(data[: HEADER.size])
    return json.loads(data[HEADER.size : HEADER.size + meta_len])


def recv_exact(sock: socket.socket, n: int) -> bytearray:
    """Exactly `n` bytes from a blocking socket; EOFError when it closes first."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k
    return buf


def recv_frame(sock: socket.socket, max_blob: int) -> tuple[dict, bytearray]:
    """The next frame from a blocking socket; EOFError past the caps."""
    meta, blob, fds = recv_frame_fds(sock, max_blob)
    for fd in fds:
        os.close(fd)
    return meta, blob


def recv_frame_fds(sock: socket.socket, max_blob: int) -> tuple[dict, bytearray, list[int]]:
    """The next frame from a blocking socket and the descriptors sent with its first
    bytes (the arena, see ARENA); EOFError past the caps."""
    data, fds, _flags, _addr = socket.recv_fds(sock, HEADER.size, 4)
    if not data:
        for fd in fds:
            os.close(fd)
        raise EOFError
    head = bytes(data) + (
        recv_exact(sock, HEADER.size - len(data)) if len(data) < HEADER.size else b""
    )
    meta_len, blob_len = HEADER.unpack(head)
    if meta_len > MAX_META or blob_len > max_blob:
        raise EOFError
    meta = json.loads(recv_exact(sock, meta_len))
    return meta, recv_exact(sock, blob_len), list(fds)


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
    except Exception:  # noqa: BLE001 — ValueError, RecursionError (deep nesting)…
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
        dtype = _DTYPES.get(str(info.get("dtype")))
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
