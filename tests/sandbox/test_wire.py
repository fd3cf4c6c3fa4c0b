"""The wire module both sides import: the safetensors codec, and what the box files may import."""

from __future__ import annotations

import ast
import json
import struct
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from mmexam.sandbox.client import BOX_FILES
from mmexam.sandbox.wire import TensorFormatError, decode_tensors, encode_tensors

SANDBOX = Path(__file__).resolve().parents[2] / "src" / "mmexam" / "sandbox"


def test_the_wire_format_is_safetensors_and_hostile_blobs_are_refused():
    tensors = {
        "a": torch.randn(3, 4, dtype=torch.float64),
        "b": torch.arange(6, dtype=torch.int32).reshape(2, 3)[:, 1:],
        "c": torch.tensor(True),
        "d": torch.zeros(0, 5),
        "e": torch.randn(2).to(torch.bfloat16),
    }
    theirs = safetensors.torch.load(encode_tensors(tensors))
    ours = decode_tensors(
        safetensors.torch.save({k: v.contiguous() for k, v in tensors.items()}), 1 << 20
    )
    for name, tensor in tensors.items():
        assert torch.equal(theirs[name], tensor) and torch.equal(ours[name], tensor)
        assert type(ours[name]) is torch.Tensor
    buffer = bytearray(encode_tensors(tensors))
    viewed = decode_tensors(buffer, 1 << 20)  # a bytearray is viewed, not copied
    for name, tensor in tensors.items():
        assert torch.equal(viewed[name], tensor) and viewed[name].dtype == tensor.dtype
    start = torch.frombuffer(buffer, dtype=torch.uint8).data_ptr()
    assert start <= viewed["a"].data_ptr() < start + len(buffer)

    def blob(header: dict, data: bytes = b"") -> bytes:
        text = json.dumps(header).encode()
        return struct.pack("<Q", len(text)) + text + data

    hostile = [
        blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
        blob({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
        blob({"x": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 8]}}, b"\0" * 8),
        blob({"x": {"dtype": "PY_OBJECT", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
        blob({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}),
        blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b"\0" * 8),
        struct.pack("<Q", 1 << 40) + b"{}",
        b"\x01\x02",
    ]
    for data in hostile:
        with pytest.raises(TensorFormatError):
            decode_tensors(data, 1 << 20)


@pytest.mark.parametrize("name", BOX_FILES)
def test_the_files_the_sandbox_runs_import_only_the_standard_library_torch_and_each_other(name):
    """Inside the sandbox the mmexam package is invisible: these files are mounted on their own."""
    tree = ast.parse((SANDBOX / name).read_text())
    siblings = {Path(f).stem for f in BOX_FILES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a sibling, as `from .wire import ...`
                assert node.module in siblings, f"{name}: from .{node.module}"
                continue
            roots = [(node.module or "").split(".")[0]]
        else:
            continue
        for root in roots:
            assert root in sys.stdlib_module_names or root == "torch", f"{name}: import {root}"
