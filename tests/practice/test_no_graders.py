"""`practice check --bundle` on a student's machine: no graders/, no reference, no bank anywhere.

The package is copied without its shipped data (what a wheel without
`_data/graders` would hold), run from a folder that is no course, and must
grade a correct and a wrong file right from the exported bundle alone.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmexam.paths import GRADERS

SRC = Path(__file__).resolve().parents[2] / "src" / "mmexam"

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.fixture(scope="module")
def student_machine(tmp_path_factory):
    """(environment, working folder): mmexam importable, but no graders/ or bank to be found."""
    root = tmp_path_factory.mktemp("student")
    site = root / "site"
    shutil.copytree(
        SRC, site / "mmexam", ignore=shutil.ignore_patterns("_data", "__pycache__", "*.pyc")
    )
    work = root / "home"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MMEXAM"))}
    env |= {"PYTHONPATH": str(site), "MMEXAM_HOME": str(root / "mmexam-home")}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import mmexam, mmexam.paths as p; "
                "print(mmexam.__file__, p.GRADERS.exists(), p.DEFAULT_BANK.exists())"
            ),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split()[1:] == ["False", "False"], probe.stdout
    assert probe.stdout.startswith(str(site)), probe.stdout
    return env, work


def practice_check(task: str, file: Path, bundle: Path, machine) -> dict:
    env, work = machine
    done = subprocess.run(
        [sys.executable, "-m", "mmexam", "practice", "check", task, str(file), "--bundle"]
        + [str(bundle), "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    document = json.loads(done.stdout)
    passed = all(c["passed"] for c in document["checks"])
    assert done.returncode == (0 if passed else 1), document  # 1: a check failed
    return document


def test_a_correct_file_passes_and_a_wrong_one_fails_without_graders(
    shipped_bundle, student_machine, tmp_path
):
    bundle = shipped_bundle[0]
    correct = tmp_path / "fusion.py"
    correct.write_text((GRADERS / "fusion" / "reference.py").read_text(encoding="utf-8"))
    right = practice_check("fusion", correct, bundle, student_machine)
    assert right["checks"] and all(c["passed"] for c in right["checks"]), right
    assert right["score"] == right["max_score"] > 0

    wrong = tmp_path / "wrong" / "fusion.py"
    wrong.parent.mkdir()
    outer = "(za[:, :, None] * zb[:, None, :])"
    assert outer in correct.read_text()
    wrong.write_text(correct.read_text().replace(outer, "(zb[:, :, None] * za[:, None, :])"))
    graded = practice_check("fusion", wrong, bundle, student_machine)
    failed = [c for c in graded["checks"] if not c["passed"]]
    assert failed and all(c["function"] == "tensor_fusion" for c in failed), graded
    assert graded["score"] < graded["max_score"]


def test_the_starter_in_the_bundle_scores_zero_without_graders(shipped_bundle, student_machine):
    bundle = shipped_bundle[0]
    graded = practice_check("fusion", bundle / "starter" / "fusion.py", bundle, student_machine)
    assert graded["score"] == 0 and not any(c["passed"] for c in graded["checks"]), graded


def test_the_modules_a_task_hands_over_travel_in_the_bundle(
    shipped_bundle, student_machine, tmp_path
):
    """generation's checks pass velocity networks: their trusted file is in the bundle."""
    bundle = shipped_bundle[0]
    fixtures = json.loads((bundle / "fixtures" / "generation.json").read_text(encoding="utf-8"))
    assert '"module"' in json.dumps(fixtures)  # a public check hands the student an nn.Module
    assert (bundle / "fixtures" / "generation.modules.py").is_file()
    correct = tmp_path / "generation.py"
    correct.write_text((GRADERS / "generation" / "reference.py").read_text(encoding="utf-8"))
    right = practice_check("generation", correct, bundle, student_machine)
    assert right["checks"] and all(c["passed"] for c in right["checks"]), right


def test_generation_replays_its_velocity_networks_without_graders(shipped_bundle, student_machine):
    """euler_sample's inputs are trusted nn.Modules: their file travels in the bundle."""
    bundle = shipped_bundle[0]
    correct = student_machine[1] / "generation.py"
    correct.write_text((GRADERS / "generation" / "reference.py").read_text(encoding="utf-8"))
    graded = practice_check("generation", correct, bundle, student_machine)
    assert any(c["function"] == "euler_sample" for c in graded["checks"]), graded
    assert all(c["passed"] for c in graded["checks"]), graded
