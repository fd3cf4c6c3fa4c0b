"""`--course` reaches the checks: `mmexam check` and grading use the course's graders/."""

from __future__ import annotations

import json
import shutil

import pytest
from exam_fixture import GRADERS, reference
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.course import init_course
from mmexam.grade.inputs import task_digest

pytestmark = [pytest.mark.sandbox]


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    init_course(root)
    shutil.copytree(GRADERS / "fusion", root / "graders" / "fusion2")
    return root


def test_check_runs_a_task_only_the_course_has(course, tmp_path):
    student = tmp_path / "fusion.py"
    student.write_text(reference("fusion"), encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(app, ["check", "fusion2", str(student), "--course", str(course), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output[done.output.index("{") :])
    assert result["task"] == "fusion2" and result["score"] == result["max_score"] > 0
    without = runner.invoke(app, ["check", "fusion2", str(student)])
    assert without.exit_code == 2 and "unknown code task 'fusion2'" in without.output


def test_results_are_redone_when_the_course_checks_change(course):
    before = task_digest("fusion", course / "graders")
    assert before == task_digest("fusion", GRADERS)  # a copy of the sample's
    checks = course / "graders" / "fusion" / "checks.py"
    checks.write_text(checks.read_text() + "\n# stricter now\n")
    assert task_digest("fusion", course / "graders") != before
