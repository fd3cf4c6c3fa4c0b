"""`mmexam grade` and `mmexam grade merge` through the CLI (answers only: no sandbox needed)."""

import csv

import pytest
from exam_fixture import BANK, make_exam, write_answers
from typer.testing import CliRunner

from mmexam.cli import app

runner = CliRunner()


@pytest.fixture
def classroom(tmp_path):
    exam = make_exam(tmp_path, ["a1", "a2", "a3", "a4"])
    subs = tmp_path / "subs"
    for sid, how in (("a1", exam.correct), ("a2", exam.wrong), ("a3", exam.correct)):
        write_answers(
            subs / sid, {i.number: how(i) for i in exam.student(sid).items if i.kind != "code"}
        )
    return tmp_path, exam, subs


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


def common(tmp_path, exam):
    return [
        "--variants",
        exam.variants,
        "--bank",
        BANK,
        "--out",
        tmp_path / "grades",
        "--manual",
        tmp_path / "manual",
    ]


def test_help_for_every_grade_command():
    for args in (["grade", "--help"], ["grade", "run", "--help"], ["grade", "merge", "--help"]):
        result, output = invoke(*args)
        assert result.exit_code == 0, output
        assert "Usage" in output


def test_grade_prints_a_summary_and_writes_outputs(classroom):
    tmp_path, exam, subs = classroom
    result, output = invoke("grade", subs, *common(tmp_path, exam))
    assert result.exit_code == 0, output
    assert "Multiple choice" in output and "total" in output
    assert "graded 3, reused 0" in output
    assert "pending review" in output
    with (tmp_path / "grades" / "grades.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["a1", "a2", "a3", "a4"]  # a4 submitted nothing
    assert [r["status"] for r in rows][3] == "no submission" and rows[3]["mcq"] == ""
    assert "no submission: a4" in output
    assert (tmp_path / "grades" / "report.html").is_file()
    again, output = invoke("grade", "run", subs, *common(tmp_path, exam))
    assert again.exit_code == 0 and "graded 0, reused 3" in output
    before = (tmp_path / "grades" / "grades.csv").read_bytes()
    forced, output = invoke("grade", subs, *common(tmp_path, exam), "--force")
    assert forced.exit_code == 0 and "graded 3, reused 0" in output
    assert (tmp_path / "grades" / "grades.csv").read_bytes() == before


def test_errors_are_one_line_without_traceback(classroom):
    tmp_path, exam, subs = classroom
    cases = [  # 1: the input is wrong; 2: the command line is (a bad value)
        (
            ["grade", subs, "--variants", tmp_path / "nope.json"],
            "not found — run `mmexam build`",
            1,
        ),
        (
            ["grade", tmp_path / "missing", *common(tmp_path, exam)],
            "not a folder of submissions",
            1,
        ),
        (
            ["grade", subs, *common(tmp_path, exam), "--shard", "3/2"],
            "K must be between 1 and N",
            2,
        ),
        (["grade", subs, *common(tmp_path, exam), "--shard", "half"], "write K/N", 2),
        (["grade", subs, *common(tmp_path, exam), "--only", "8.8"], "no item has that number", 2),
        (["grade", "merge", tmp_path], "no shard-K-of-N.json", 1),
    ]
    for args, message, status in cases:
        result, output = invoke(*args)
        assert result.exit_code == status, output
        assert message in output and "Traceback" not in output, output
        assert output.strip().startswith("error:"), output


def test_a_bad_review_sheet_stops_before_grading(classroom):
    tmp_path, exam, subs = classroom
    assert invoke("grade", subs, *common(tmp_path, exam))[0].exit_code == 0
    sheet = next((tmp_path / "manual").glob("short-*.csv"))
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert "\n" in rows[0]["answer"]  # a multi-line answer: the row spans several lines
    rows[1]["points"] = "lots"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    start = 2 + rows[0]["answer"].count("\n") + 1
    result, output = invoke("grade", subs, *common(tmp_path, exam))
    assert result.exit_code == 1
    assert f"{sheet}:{start}: points 'lots' for {rows[1]['student']}" in output


def test_shards_then_merge(classroom):
    tmp_path, exam, subs = classroom
    outs = []
    for k in (1, 2):
        out = tmp_path / f"part{k}"
        result, output = invoke(
            "grade",
            subs,
            "--variants",
            exam.variants,
            "--bank",
            BANK,
            "--out",
            out,
            "--shard",
            f"{k}/2",
        )
        assert result.exit_code == 0, output
        assert f"shard {k}/2 done" in output
        outs.append(out)
    result, output = invoke(
        "grade", "merge", *outs, "--out", tmp_path / "all", "--manual", tmp_path / "manual"
    )
    assert result.exit_code == 0, output
    with (tmp_path / "all" / "grades.csv").open(newline="") as handle:
        assert [r["id"] for r in csv.DictReader(handle)] == ["a1", "a2", "a3", "a4"]
