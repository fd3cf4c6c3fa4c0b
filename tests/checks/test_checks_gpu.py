"""The device checks on CUDA: references pass them, a tensor made on the CPU fails them."""

import warnings
from pathlib import Path

import pytest

from mmexam.checks import run_checks
from mmexam.paths import GRADERS

BUGGY = Path(__file__).resolve().parent.parent / "fixtures" / "buggy"

pytestmark = [pytest.mark.gpu, pytest.mark.sandbox]


@pytest.fixture(scope="module")
def cuda_sandbox():
    from mmexam.paths import trusted_modules
    from mmexam.sandbox import Sandbox, SandboxWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)  # GPU machines often lack bwrap
        box = Sandbox(device="cuda", modules=trusted_modules(), require_sandbox=False)
    yield box
    box.close()


@pytest.mark.parametrize("task", ["fusion", "contrastive", "mllm", "generation"])
def test_reference_passes_every_check_on_cuda(cuda_sandbox, task):
    source = (GRADERS / task / "reference.py").read_text(encoding="utf-8")
    result = run_checks(task, source, hidden=True, sandbox=cuda_sandbox)
    failed = [f"{c.name}: {c.message}" for c in result.checks if not c.passed]
    assert not failed, "\n".join(failed)
    device_checks = [c for c in result.checks if c.kind == "device"]
    assert device_checks and not any(c.skipped for c in device_checks)
    assert result.score == result.max_score


@pytest.mark.parametrize(
    ("task", "name", "check"),
    [
        ("fusion", "tensor_fusion__cpu_ones", "tensor_fusion.cuda"),
        ("contrastive", "clip_loss__cpu_labels", "clip_loss.cuda"),
    ],
)
def test_a_tensor_created_on_the_cpu_fails_the_device_check(cuda_sandbox, task, name, check):
    source = (BUGGY / task / f"{name}.py").read_text(encoding="utf-8")
    result = run_checks(task, source, hidden=True, sandbox=cuda_sandbox)
    found = next(c for c in result.checks if c.name == check)
    assert not found.passed and found.max_score > 0
    assert "device" in found.message and "Hint: create new tensors on the inputs' device" in (
        found.message
    )
