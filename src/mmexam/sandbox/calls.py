"""Calls on the trusted side: what the grader asked for, its wire form, and what came back.

Arguments travel as a JSON tree whose tensors live in one safetensors blob
(`wire.TENSOR` nodes name them); `ModuleSpec`s become `wire.MODULE` nodes.
A `Script` is the sequence of calls the grader made for one file name,
replayed ahead of time for the next student's file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mmexam.sandbox.modules import ModuleSpec
from mmexam.sandbox.wire import (
    ARENA,
    ARENA_ALIGN,
    DICT,
    MODULE,
    SCRIPT,
    STATE,
    TENSOR,
    TUPLE,
    encode_tensors,
    pack_frame,
)


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
    line: int | None = None  # the student's line that returned the value (within the file)
    # The memory this outcome holds that the call made (the reply's tensors, changed
    # inputs): what a grader counts to bound how much of one file's replies it keeps.
    held_bytes: int = 0


@dataclass(frozen=True)
class Call:
    """One call as the grader asked for it."""

    function: str
    args: tuple
    kwargs: dict
    memory_mb: int | None
    vjp: Any
    max_bytes: int | None = None  # the most of a reply the grader reads (None: the limit)


@dataclass(frozen=True)
class Plan:
    """How to read the reply to one encoded call."""

    args_node: dict
    kwargs_node: dict
    leaves: tuple[str, ...]
    n_out: int
    # (key, offset, original tensor, its bytes) per leaf: the bytes are what the trusted
    # side compares the arena with after each call, made once per plan
    arena: tuple[tuple[str, int, Any, bytes], ...] = ()


class Encoder:
    """Arguments -> JSON tree + named tensors; one encoder may serve many calls (a batch)."""

    def __init__(self) -> None:
        self.tensors: dict[str, Any] = {}
        self.by_id: dict[int, str] = {}
        self.keep: list[Any] = []  # the encoded objects, so their ids stay unique
        self.current: list[str] = []  # keys of tensor arguments of the call being encoded
        self.arena_size = 0  # bytes of the arena so far (one fresh copy per call and leaf)
        self.arena_parts: list[tuple[int, bytes]] = []  # (offset, the tensor's bytes)

    def tensor(self, value, *, leaf: bool) -> dict:
        key = self.by_id.get(id(value))
        if key is None:
            key = str(len(self.tensors))
            self.by_id[id(value)] = key
            self.keep.append(value)
            self.tensors[key] = value.detach().to("cpu").contiguous()
        if leaf and key not in self.current:
            self.current.append(key)
        return {TENSOR: key}

    def encode(self, value) -> Any:
        import torch

        if isinstance(value, torch.Tensor):
            return self.tensor(value, leaf=True)
        if isinstance(value, ModuleSpec):
            state = {k: self.tensor(v, leaf=False)[TENSOR] for k, v in value.state.items()}
            return {MODULE: value.name, STATE: state}
        if isinstance(value, tuple):
            return {TUPLE: [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {DICT: {str(k): self.encode(v) for k, v in value.items()}}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot send {type(value).__name__} to the sandbox")

    def call(self, call: Call, filename: str) -> tuple[dict, Plan]:
        """The wire form of one call (without its sequence number) and how to read its reply."""
        self.current = []
        args_node = self.encode(tuple(call.args))
        kwargs_node = self.encode(dict(call.kwargs))
        meta: dict[str, Any] = {
            "function": call.function,
            "file": filename,
            "args": args_node[TUPLE],
            "kwargs": kwargs_node,
            "memory_mb": call.memory_mb,
        }
        n_out = 0
        if call.vjp is not None:
            ups = call.vjp if isinstance(call.vjp, tuple) else (call.vjp,)
            n_out = len(ups)
            meta["grad"] = {"upstream": [self.tensor(u, leaf=False)[TENSOR] for u in ups]}
        arena = []
        for key in self.current:
            tensor = self.tensors[key]
            offset = self.arena_size
            raw = tensor_bytes(tensor)
            self.arena_parts.append((offset, raw))
            self.arena_size += len(raw) + (-len(raw) % ARENA_ALIGN)
            arena.append((key, offset, tensor, raw))
        meta[ARENA] = {key: offset for key, offset, _, _ in arena}
        plan = Plan(args_node, kwargs_node, tuple(self.current), n_out, tuple(arena))
        return meta, plan

    def blob(self) -> bytes:
        return encode_tensors(self.tensors) if self.tensors else b""

    def arena_image(self) -> bytes:
        """The arena's pristine bytes: every call's tensor arguments, each at its offset."""
        image = bytearray(self.arena_size)
        for offset, raw in self.arena_parts:
            image[offset : offset + len(raw)] = raw
        return bytes(image)


def tensor_bytes(tensor: Any) -> bytes:
    """The raw bytes of a contiguous CPU tensor (any dtype, bfloat16 included)."""
    import torch

    if tensor.numel() == 0:
        return b""
    return tensor.reshape(-1).view(torch.uint8).numpy().tobytes()


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


def same_call(a: Call, b: Call) -> bool:
    return (
        a.function == b.function
        and a.memory_mb == b.memory_mb
        and a.max_bytes == b.max_bytes
        and _same_value(a.args, b.args)
        and _same_value(a.kwargs, b.kwargs)
        and _same_value(a.vjp, b.vjp)
    )


class Script:
    """The calls the grader made for one file name, replayed ahead of time for the next student.

    The checks ask every student's file the same questions with the same
    tensor objects, so after the first file the sandbox sends the whole
    sequence at once and the child answers call after call while the grader
    judges. A call that differs from the script is simply made on its own.

    The inputs are the same for every student, so the zygote gets the script
    once (`frame`) and decodes its tensors before forking: a child born after
    that finds them in its memory and is sent only the script's number.
    """

    def __init__(self, calls: list[Call], filename: str, ident: int) -> None:
        self.calls = calls
        self.ident = ident
        encoder = Encoder()
        self.metas: list[dict] = []
        self.plans: list[Plan] = []
        for call in calls:
            meta, plan = encoder.call(call, filename)
            self.metas.append(meta)
            self.plans.append(plan)
        self.blob = encoder.blob()
        self.arena = encoder.arena_image()
        self.keep = encoder.keep
        self.frame = pack_frame(
            {"kind": SCRIPT, "file": filename, "id": ident, "calls": self.metas}, self.blob
        )


def rebuild(node, original, replace: dict[str, Any], default):
    """`original` with each tensor argument replaced by replace[key] (or `default(tensor)`)."""
    if isinstance(node, dict) and TENSOR in node:
        return replace.get(node[TENSOR], default(original))
    if isinstance(node, dict) and TUPLE in node:
        return tuple(rebuild(n, o, replace, default) for n, o in zip(node[TUPLE], original))
    if isinstance(node, dict) and DICT in node:
        return {k: rebuild(node[DICT][str(k)], v, replace, default) for k, v in original.items()}
    if isinstance(node, list):
        return [rebuild(n, o, replace, default) for n, o in zip(node, original)]
    return original
