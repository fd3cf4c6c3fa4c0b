"""Module-level jobs for map_in_workers tests (spawned workers import them by name)."""

import os

import torch

REFERENCE = """
import torch

def tensor_fusion(x_a, x_b):
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    return (za[:, :, None] * zb[:, None, :]).reshape(x_a.shape[0], -1)
"""


def fuse(sandbox, item: int) -> dict:
    """Grade a correct file, except: item 3 kills the worker itself, item 4 raises in trusted code."""
    if item == 3:
        os._exit(3)
    if item == 4:
        raise ValueError("a bug in the grader's own function")
    x_a = torch.full((2, 1), float(item))
    x_b = torch.ones(2, 1)
    with sandbox.open(REFERENCE, "fusion.py") as module:
        outcome = module.call("tensor_fusion", x_a, x_b)
    return {"item": item, "ok": outcome.ok, "first": float(outcome.value[0, 0]), "pid": os.getpid()}
