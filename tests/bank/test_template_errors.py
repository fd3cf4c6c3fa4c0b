"""A Jinja error in a bank question (unknown filter or test, syntax error, undefined name)
is one `file:line: ...` problem from `mmexam validate` and `mmexam build`, never a traceback."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.cli import app

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "banks" / "small"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ d_a | nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("{{ d_a is nosuchtest }}", "No test named 'nosuchtest'"),
        ("{{ d_a + }}", "template syntax error"),
        ("{{ nosuchvar }}", "template uses 'nosuchvar', which is not a parameter"),
        ("{% if d_a %}{{ d_a | nosuchfilter }}{% endif %}", "No filter named 'nosuchfilter'"),
    ],
)
def test_a_jinja_error_is_one_file_line_problem(tmp_path, template, message):
    bank = tmp_path / "bank"
    shutil.copytree(SMALL, bank)
    questions = bank / "questions.yaml"
    text = questions.read_text(encoding="utf-8")
    assert "$x_A \\in \\mathbb{R}^{ {{ d_a }} }$" in text
    questions.write_text(text.replace("{{ d_a }}", template, 1), encoding="utf-8")
    runner = CliRunner()
    for args in (["validate", str(bank)], ["build", str(bank), "--out", str(tmp_path / "out")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        problems = [line for line in result.output.splitlines() if message in line]
        assert len(problems) == 1, result.output
        assert problems[0].removeprefix("error: ").startswith(f"{questions}:"), result.output
