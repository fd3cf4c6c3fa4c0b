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


def grade_fusion(sandbox, source: str) -> list:
    """All checks of fusion for `source`, as one student: [(check, passed, score)]."""
    from mmexam.checks import run_checks

    with sandbox.session("victim"):
        result = run_checks("fusion", source, sandbox=sandbox)
    return [[c.name, c.passed, c.score] for c in result.checks]


def between_students(sandbox, item: dict):
    """A victim's grade, or an attacker whose file stays open for item["seconds"]."""
    import time
    from pathlib import Path

    if "victim" in item:
        return grade_fusion(sandbox, item["victim"])
    source = (
        Path(__file__).parents[1] / "fixtures" / "hostile" / f"{item['attack']}.py"
    ).read_text()
    start = time.monotonic()
    with sandbox.session("attacker"), sandbox.open(source, "fusion.py") as module:
        if module.load_error is None:
            module.call("tensor_fusion", torch.ones(2, 1), torch.ones(2, 1))
        time.sleep(max(0.0, item["seconds"] - (time.monotonic() - start)))
        cpu = sandbox._groups.student.cpu_seconds() - sandbox._groups._cpu0
    return {"student_cpu": cpu, "wall": time.monotonic() - start}
