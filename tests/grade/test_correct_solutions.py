"""Independent correct solutions score full marks, public and hidden.

tests/fixtures/correct/<task>/ holds complete solutions written apart from the
reference (einsum or loops instead of matmul, torch.nn.functional,
torch.distributions, equivalent algebra) and one built on a real library
(diffusers' DDPMScheduler). A correct solution that loses a point means a
check tests more than the contract promises: fix the check, not the solution.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.cli import app

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

CORRECT = Path(__file__).resolve().parents[1] / "fixtures" / "correct"
SOLUTIONS = sorted(CORRECT.glob("*/*.py"))


def test_every_task_has_an_independent_solution_and_generation_one_on_diffusers():
    tasks = {path.parent.name for path in SOLUTIONS}
    assert tasks == {"contrastive", "fusion", "generation", "mllm"}
    assert (CORRECT / "generation" / "diffusers_scheduler.py") in SOLUTIONS


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_correct_solution_scores_full_marks_public_and_hidden(solution, tmp_path):
    needs_diffusers = "diffusers" in solution.read_text(encoding="utf-8")
    if needs_diffusers and importlib.util.find_spec("diffusers") is None:
        pytest.skip("diffusers is not installed (pip install -e '.[test]')")
    task = solution.parent.name
    submission = tmp_path / f"{task}.py"
    shutil.copyfile(solution, submission)
    result = CliRunner().invoke(app, ["check", task, str(submission), "--hidden", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["load_error"] is None, report["load_error"]
    lost = [
        f"{c['name']} ({c['visibility']}): {c['message']}"
        for c in report["checks"]
        if not c["skipped"] and (not c["passed"] or c["score"] < c["max_score"])
    ]
    assert not lost, "\n".join(lost)
    assert report["score"] == report["max_score"] > 0
    judged = {c["visibility"] for c in report["checks"] if not c["skipped"]}
    assert judged == {"public", "hidden"}
