"""`mmexam review` on the command line: the CSV sheets in and out, regrade requests from a
CSV, and errors in one line."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.grade.review_state import answer_id, load_saved

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def review(example, *args: str):
    base = ["review", str(example / "grades"), "--manual", str(example / "manual")]
    return CliRunner().invoke(app, [*base, "--password", "pw", "--groups", "lexical", *args])


def fill_first_row(sheet, points: str, comment: str) -> tuple[str, str]:
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    rows[0]["points"], rows[0]["comment"] = points, comment
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    sheet.write_text(out.getvalue(), encoding="utf-8")
    return rows[0]["student"], rows[0]["number"]


def test_points_typed_in_a_sheet_come_in_and_go_out(example, tmp_path):
    sheet = min((example / "manual").glob("short-*.csv"))
    student, number = fill_first_row(sheet, "1.5", "good start")
    result = review(example, "--import-sheets")
    assert result.exit_code == 0, result.output
    assert "imported 1 answer(s)" in result.output
    decision = load_saved(example / "grades").decisions[answer_id(student, number)]
    assert decision.points == 1.5 and decision.comment == "good start"
    again = review(example, "--import-sheets")
    assert "imported 0 answer(s)" in again.output
    out = tmp_path / "sheets"
    exported = review(example, "--export-sheets", str(out))
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO((out / sheet.name).read_text(encoding="utf-8"))))
    row = next(r for r in rows if r["student"] == student)
    assert row["points"] == "1.5"


def test_regrade_requests_from_a_csv(example, tmp_path):
    good = tmp_path / "regrades.csv"
    good.write_text("student,number,request\ns2024001,2.1,Please reread my answer\n")
    result = review(example, "--import-regrades", str(good))
    assert result.exit_code == 0, result.output
    assert "queued 1 regrade request(s)" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("student,number,request\ns2024001,9.9,What?\n")
    refused = review(example, "--import-regrades", str(bad))
    assert refused.exit_code == 1
    assert f"{bad}:2: no answer '9.9' of student 's2024001'" in refused.output


def test_a_folder_that_was_not_graded_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["review", str(tmp_path), "--password", "pw"])
    assert result.exit_code == 1
    assert "run.json: not found — run `mmexam grade" in result.output
    assert "Traceback" not in result.output
