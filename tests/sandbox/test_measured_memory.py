"""A call's memory limit rests on what its control group measured, not on the student's process.

A check may lower the memory limit for one call (`call(..., memory_mb=)`).
Inside the child that is a lowered soft rlimit, which the student can raise
back; with control groups the trusted side resets the student group's peak
before the call and reads it after, so raising it buys nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmexam.sandbox import Limits, Sandbox

pytestmark = pytest.mark.sandbox

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
REFERENCE = Path(__file__).resolve().parents[2] / "graders" / "fusion" / "reference.py"
LIMITS = Limits(cpu_seconds_per_call=3.0, wall_seconds_per_submission=60.0, memory_mb=1024)

# The lowered limit lifted, then the outer product materialised (256 x 512 x 512 floats).
MATERIALISED = """
import resource
import torch

def tensor_fusion_linear(x_a, x_b, W, b):
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    z = (za[:, :, None] * zb[:, None, :]).reshape(x_a.shape[0], -1)
    return z @ W.reshape(W.shape[0], -1).T + b
"""


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(LIMITS)
    if box.isolation != "bwrap" or box.cgroups is None:
        box.close()
        pytest.skip("needs bubblewrap and control groups (root, cgroup v1 or v2 controllers)")
    yield box
    box.close()


def test_raising_the_lowered_soft_limit_back_does_not_pass_a_memory_limit(sandbox):
    x_a, x_b = torch.randn(3, 2), torch.randn(3, 4)
    with sandbox.open((HOSTILE / "raise_soft_memory_limit.py").read_text(), "fusion.py") as m:
        free = m.call("tensor_fusion", x_a, x_b)  # 256 MB under the file's 1024 MB: fine
        lowered = m.call("tensor_fusion", x_a, x_b, memory_mb=160)
        again = m.call("tensor_fusion", x_a, x_b)
    assert free.ok, free.error
    assert not lowered.ok
    assert lowered.error.startswith("exceeded 160 MB of memory in this call (")
    assert "measured outside the sandbox" in lowered.error
    assert again.ok, "a lowered limit costs that call only"


def test_a_small_call_passes_its_lowered_limit(sandbox):
    x_a, x_b = torch.randn(256, 511), torch.randn(256, 511)
    with sandbox.open(REFERENCE.read_text(), "fusion.py") as m:
        W, b = torch.randn(1, 512, 512) / 512, torch.randn(1)
        outcome = m.call("tensor_fusion_linear", x_a, x_b, W, b, memory_mb=160)
    assert outcome.ok, outcome.error


@pytest.mark.parametrize(
    ("source", "passes"), [("reference", True), ("materialised", False)], ids=str
)
def test_the_memory_check_of_fusion_rests_on_the_measurement(sandbox, source, passes):
    from mmexam.checks import run_checks

    text = REFERENCE.read_text() if source == "reference" else MATERIALISED
    with sandbox.session(source):
        result = run_checks("fusion", text, sandbox=sandbox)
    memory = [c for c in result.checks if c.name == "tensor_fusion_linear.memory"]
    assert len(memory) == 1
    assert memory[0].passed is passes, memory[0].message
    if not passes:
        assert "MB of memory in this call" in memory[0].message


def test_calls_after_a_measured_call_are_still_replayed_in_segments(sandbox):
    """The second student's file: the script is cut at the memory check, and every
    check after it gives the same verdicts as for the first file."""
    from mmexam.checks import run_checks

    runs = []
    for owner in ("first", "second"):
        with sandbox.session(owner):
            result = run_checks("fusion", REFERENCE.read_text(), sandbox=sandbox)
        runs.append([(c.name, c.passed) for c in result.checks])
    assert runs[0] == runs[1]
    assert all(passed for _, passed in runs[1])
    segments = sandbox._segments["fusion.py"]
    assert len(segments) == 2
    assert not any(call.memory_mb for script in segments for call in script.calls)
