"""`mmexam check TASK FILE` through the CLI: JSON, the table, and one-line errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.paths import GRADERS

BUGGY = Path(__file__).resolve().parent.parent / "fixtures" / "buggy"


def _invoke(*args):
    return CliRunner().invoke(app, ["check", *args])


@pytest.mark.sandbox
def test_json_for_the_reference_is_full_score_on_the_public_checks():
    result = _invoke("mllm", str(GRADERS / "mllm" / "reference.py"), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["task"] == "mllm"
    assert document["score"] == document["max_score"] > 0
    assert {c["name"] for c in document["checks"]} >= {
        "project_visual_tokens.values",
        "gated_cross_attention.identity_at_zero",
    }
    for check in document["checks"]:
        assert {"name", "score", "max_score", "passed", "message"} <= set(check)
        assert check["visibility"] == "public" and check["passed"]


@pytest.mark.sandbox
def test_hidden_adds_the_grading_only_checks():
    result = _invoke("mllm", str(GRADERS / "mllm" / "reference.py"), "--json", "--hidden")
    assert result.exit_code == 0, result.output
    visibilities = {c["visibility"] for c in json.loads(result.stdout)["checks"]}
    assert visibilities == {"public", "hidden"}


@pytest.mark.sandbox
def test_table_shows_points_failures_and_the_hint_and_exits_one():
    result = _invoke("contrastive", str(BUGGY / "contrastive" / "clip_loss__one_direction.py"))
    assert result.exit_code == 1, result.output  # a check failed
    out = result.stdout
    assert "clip_loss.symmetric" in out and "FAILED" in out and "0/1" in out
    assert "does not hold: symmetric in its arguments" in out
    assert "Hint: CLIP's loss is symmetric" in out
    assert "score: 0 / " in out
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["vision", "x.py"],
            "error: unknown code task 'vision' — known tasks: contrastive, fusion, generation, mllm",
        ),
        (["fusion", "missing.py"], "error: missing.py: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_two(args, message):
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output == message + "\n"


def test_a_file_that_is_not_utf8_is_bad_input(tmp_path):
    path = tmp_path / "fusion.py"
    path.write_bytes(b"def f():\n    return '\xff'\n")
    result = _invoke("fusion", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}: not UTF-8 text (byte")


def test_a_folder_is_bad_input(tmp_path):
    result = _invoke("fusion", str(tmp_path))
    assert result.exit_code == 2
    assert "is a folder" in result.output


def test_help_documents_the_exit_status():
    result = CliRunner().invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit status 0 when every check passed, 1 when any failed, 2 for a usage error" in text
    assert "--function" in result.output
