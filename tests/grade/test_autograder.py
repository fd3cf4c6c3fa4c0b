"""The Gradescope autograder bundle, run locally as Gradescope runs it.

The bundle is unzipped into `<root>/source` (Gradescope's /autograder/source), a
student's files are laid out in `<root>/submission`, and the bundle's own
`run_autograder` is run with MMEXAM_AUTOGRADER_ROOT pointing at `<root>`: it must
write `<root>/results/results.json` in Gradescope's format with this sandbox's
checks, hidden ones included, from the bundle alone (its copy of mmexam and graders).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from exam_fixture import GRADERS, reference
from gradescope_schema import validate

from mmexam.checks import plans
from mmexam.grade.autograder import requirements, write_bundle

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def unpack(bundle: Path, root: Path) -> None:
    with zipfile.ZipFile(bundle) as z:
        for info in z.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)


def run_bundle(root: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MMEXAM_AUTOGRADER_ROOT": str(root),
        "MMEXAM_AUTOGRADER_PYTHON": sys.executable,
    }
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(root / "source" / "run_autograder")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=root,
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    result = write_bundle(out, ["fusion"], GRADERS, "Grading Fixture")
    assert result.tasks == ["fusion"]
    return out


def test_the_bundle_has_what_gradescope_asks_for(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        config = json.loads(z.read("config.json"))
        setup = z.read("setup.sh").decode()
        needs = z.read("requirements.txt").decode().split()
    assert {"setup.sh", "run_autograder", "config.json", "requirements.txt"} <= names
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert "graders/fusion/reference.py" in names and "graders/fusion/checks.py" in names
    assert "src/mmexam/checks/runner.py" in names and "src/mmexam/sandbox/zygote.py" in names
    assert not any("__pycache__" in n for n in names)
    assert config["tasks"] == [{"task": "fusion", "file": "fusion.py", "title": "fusion.py"}]
    assert config["points"] == pytest.approx(sum(p.points for p in plans("fusion")))
    assert "bubblewrap" in setup and "requirements.txt" in setup
    assert needs == requirements() and any(n.startswith("torch==") for n in needs)


def cpu_points() -> float:
    return sum(p.points for p in plans("fusion") if p.kind != "device")


def test_run_autograder_grades_a_renamed_file_into_results_json(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root)
    submission = root / "submission"
    submission.mkdir()
    (submission / "fusion (1).py").write_text(reference("fusion"), encoding="utf-8")
    done = run_bundle(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    validate(results)
    assert results["score"] == pytest.approx(cpu_points())
    names = [t["name"] for t in results["tests"]]
    assert len(names) == len(plans("fusion")) and all(n.startswith("fusion.py: ") for n in names)
    assert "fusion (1).py: accepted as fusion.py" in results["output"]
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert hidden, "the hidden checks run too, shown once grades are published"


def test_a_wrong_or_missing_file_scores_what_it_earns(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root)
    (root / "submission").mkdir()
    done = run_bundle(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0
    assert "fusion.py was not submitted" in results["output"]
    assert all(t["score"] == 0 for t in results["tests"])
