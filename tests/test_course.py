"""Course folders: `mmexam init` writes one, commands find it from the working directory or --course."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.course import SAMPLE, find_course, init_course, resolve_course
from mmexam.errors import MmexamError
from mmexam.paths import DEFAULT_BANK, GRADERS

runner = CliRunner()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("courses") / "my-course"
    result = runner.invoke(app, ["init", str(root)])
    assert result.exit_code == 0, result.output
    assert "Keep this folder private" in result.output
    return root


def test_init_writes_the_bank_graders_and_a_roster(course):
    assert sorted(p.name for p in course.iterdir()) == ["graders", "question_bank", "roster.csv"]
    for path in DEFAULT_BANK.glob("*.yaml"):
        assert (course / "question_bank" / path.name).read_bytes() == path.read_bytes()
    for task in ("contrastive", "fusion", "generation", "mllm"):
        for name in ("reference.py", "checks.py"):
            assert (course / "graders" / task / name).read_bytes() == (
                GRADERS / task / name
            ).read_bytes()
    assert not list(course.rglob("__pycache__"))
    assert (course / "roster.csv").read_text().startswith("id,name\n")


def test_init_never_overwrites(course):
    result = runner.invoke(app, ["init", str(course)])
    assert result.exit_code == 1, result.output
    assert "exists and is not an empty folder" in result.output


def test_the_course_is_found_from_any_folder_inside_it(course, tmp_path):
    inner = course / "graders" / "fusion"
    found = find_course(inner)
    assert found is not None and found.root == course.resolve()
    assert found.bank == course.resolve() / "question_bank"
    assert found.graders == course.resolve() / "graders"
    assert find_course(tmp_path) is None
    assert resolve_course(None, cwd=tmp_path) == SAMPLE


def test_course_must_name_a_course_folder(tmp_path):
    with pytest.raises(MmexamError, match="not a course folder .* `mmexam init DIR`"):
        resolve_course(tmp_path)
    result = runner.invoke(app, ["validate", "--course", str(tmp_path)])
    assert result.exit_code == 1 and "not a course folder" in result.output, result.output


def test_commands_use_the_course_bank_and_graders(tmp_path):
    course = tmp_path / "course"
    init_course(course)
    reference = course / "graders" / "fusion" / "reference.py"
    broken = reference.read_text().replace("    # END SOLUTION\n", "", 1)
    reference.write_text(broken)
    result = runner.invoke(app, ["validate", "--no-math", "--course", str(course)])
    assert result.exit_code == 1, result.output
    assert f"{reference}:" in result.output and "inside the block opened" in result.output


def test_commands_find_the_course_from_the_working_directory(tmp_path):
    course = tmp_path / "course"
    init_course(course)
    (course / "question_bank" / "bonus.yaml").unlink()
    # The blueprint still draws from the bonus pool: validation must fail on the course's bank.
    inside = course / "graders"
    done = subprocess.run(
        [sys.executable, "-m", "mmexam", "validate", "--no-math"],
        cwd=inside,
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert str(course.resolve() / "question_bank") in done.stdout + done.stderr
    outside = subprocess.run(
        [sys.executable, "-m", "mmexam", "bank", "stats", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(outside.stdout)["questions"] == 113  # the shipped sample
