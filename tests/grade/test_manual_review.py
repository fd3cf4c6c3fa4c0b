"""The TA's review loop: sheets written grouped, filled in, merged back; unreviewed stays pending."""

import csv

import pytest

from mmexam.errors import GradeError
from mmexam.grade.manual import apply_reviews, group_answers, read_sheets, write_sheets
from mmexam.grade.results import ItemResult, StudentResult

ANSWERS = {
    "s1": "The appended 1 keeps the unimodal terms.",
    "s2": "the appended 1 keeps the unimodal terms",
    "s3": "I don't know",
    "s4": "The appended one keeps the unimodal terms.",
    "s5": "",
}


def results(answers=ANSWERS):
    out = []
    for sid, text in answers.items():
        items = [
            ItemResult(
                number="1.1",
                part="mcq",
                question="q-mcq",
                kind="mcq",
                max_points=2,
                points=2,
                status="auto",
            ),
            ItemResult(
                number="2.1",
                part="short",
                question="why-one",
                kind="short_answer",
                max_points=5,
                points=None if text else 0.0,
                status="review" if text else "auto",
                suggested=2.0 if text else None,
                answer=text or None,
            ),
        ]
        out.append(StudentResult(id=sid, source="folder", items=items))
    return out


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_round_trip(tmp_path):
    manual = tmp_path / "manual"
    raw = results()
    write_sheets(manual, raw, {})
    sheet = manual / "why-one.csv"
    rows = read_rows(sheet)
    # blank answers are not sent to review; identical answers sit together in one group
    assert [r["student"] for r in rows] == ["s1", "s2", "s4", "s3"]
    assert [r["group"] for r in rows] == ["1", "1", "1", "2"]
    assert all(r["points"] == "" for r in rows)
    assert rows[0]["suggested"] == "2" and rows[0]["max_points"] == "5"

    # nothing filled: everything that needs review is pending, never zero
    merged, _ = apply_reviews(raw, read_sheets(manual))
    by_id = {r.id: r for r in merged}
    assert by_id["s1"].pending == 1 and by_id["s1"].total == 2
    assert by_id["s5"].pending == 0 and by_id["s5"].total == 2

    # the TA grades s1 (which also covers its identical twin s2) and s3, with a comment
    rows[0]["points"] = "4.5"
    rows[3]["points"] = "0"
    rows[3]["comment"] = "Say what the 1 does."
    write_rows(sheet, rows)
    merged, notes = apply_reviews(raw, read_sheets(manual))
    by_id = {r.id: r for r in merged}
    assert notes == []
    assert by_id["s1"].items[1].points == 4.5 and by_id["s1"].items[1].status == "manual"
    assert by_id["s2"].items[1].points == 4.5  # identical answer, graded once
    assert by_id["s4"].items[1].pending  # only near-identical: its own row
    assert (
        by_id["s3"].items[1].points == 0 and by_id["s3"].items[1].comment == "Say what the 1 does."
    )
    assert [r.pending for r in merged] == [0, 0, 0, 1, 0]

    # a re-run rewrites the sheet and keeps what the TA typed
    write_sheets(manual, raw, read_sheets(manual))
    again = {r["student"]: r for r in read_rows(sheet)}
    assert again["s1"]["points"] == "4.5" and again["s3"]["comment"] == "Say what the 1 does."
    assert again["s2"]["points"] == ""

    # a student no longer graded keeps the row the TA filled
    fewer = [r for r in raw if r.id != "s3"]
    write_sheets(manual, fewer, read_sheets(manual))
    kept = {r["student"]: r for r in read_rows(sheet)}
    assert kept["s3"]["points"] == "0"


def test_bad_points_stop_with_file_and_line(tmp_path):
    manual = tmp_path / "manual"
    raw = results()
    write_sheets(manual, raw, {})
    sheet = manual / "why-one.csv"
    rows = read_rows(sheet)
    rows[1]["points"] = "four"
    write_rows(sheet, rows)
    with pytest.raises(GradeError, match=r"why-one\.csv:3: points 'four' for s2 is not a number"):
        read_sheets(manual)
    rows[1]["points"] = "7"
    write_rows(sheet, rows)
    with pytest.raises(
        GradeError, match=r"why-one\.csv:3: points 7 for s2 must be between 0 and 5"
    ):
        read_sheets(manual, {"why-one": 5})


def test_conflicting_points_on_identical_answers_leave_the_empty_ones_pending(tmp_path):
    answers = {"a": "same words", "b": "Same words!", "c": "same words"}
    manual = tmp_path / "manual"
    raw = results(answers)
    write_sheets(manual, raw, {})
    sheet = manual / "why-one.csv"
    rows = read_rows(sheet)
    rows[0]["points"], rows[1]["points"] = "1", "2"
    write_rows(sheet, rows)
    merged, notes = apply_reviews(raw, read_sheets(manual))
    assert [r.items[1].points for r in merged] == [1, 2, None]
    assert "got different points; still pending" in notes[0]


def test_semicolon_sheets_from_spreadsheets_are_read(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "why-one.csv").write_text("student;points;comment\ns1;3,5;ok\n", encoding="utf-8-sig")
    sheets = read_sheets(manual)
    assert sheets["why-one"].rows["s1"].points == 3.5


def test_grouping_is_deterministic_and_near_duplicates_sit_together():
    answers = {
        "x1": "Contrastive learning pulls paired embeddings together and pushes others apart",
        "x2": "Contrastive learning pulls the paired embeddings together and pushes others apart.",
        "x3": "no idea",
        "x4": "contrastive learning pulls paired embeddings together and pushes others apart",
        "x5": "No idea.",
    }
    groups = group_answers(answers)
    assert groups == [["x1", "x4", "x2"], ["x3", "x5"]]
    assert group_answers(dict(reversed(list(answers.items())))) == groups


def test_formula_answers_cannot_run_in_a_spreadsheet(tmp_path):
    manual = tmp_path / "manual"
    raw = results({"m1": '=HYPERLINK("http://evil.example","click")', "m2": "-1 is fine"})
    write_sheets(manual, raw, {})
    rows = {r["student"]: r for r in read_rows(manual / "why-one.csv")}
    assert rows["m1"]["answer"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows["m2"]["answer"] == "'-1 is fine"
    rows["m1"]["points"] = "0"
    write_rows(manual / "why-one.csv", list(rows.values()))
    merged, notes = apply_reviews(raw, read_sheets(manual))
    assert notes == [] and merged[0].items[1].points == 0
