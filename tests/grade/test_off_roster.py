"""A submission whose id is not on the roster: graded for the TA, listed apart (with the folder
or zip it came from), and never counted with the class — not in grades.csv, the exports, the
class statistics or the report's plots."""

from __future__ import annotations

import csv
from pathlib import Path

from exam_fixture import BANK, make_exam, write_answers

from mmexam.grade.engine import GradeOptions, grade_submissions
from mmexam.grade.exports import export_grades
from mmexam.grade.intake import Known, match_entries
from mmexam.grade.results import roster_note
from mmexam.grade.submissions import Entry

CLASS = ["s1", "s2", "s3"]


def grade(root: Path, subs: Path, variants: Path, out: str):
    roster = root / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"{s},Student {s}\n" for s in CLASS))
    return grade_submissions(
        GradeOptions(
            submissions=subs,
            variants=variants,
            bank=BANK,
            out=root / out,
            manual=root / f"{out}-manual",
            jobs=1,
            roster=roster,
        )
    )


def class_sections(html: str) -> str:
    """The report from its scores to its manual review: statistics and plots of the class."""
    return html.split("<h2>Scores</h2>", 1)[1].split("<h2>Submissions", 1)[0]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_an_entry_off_the_roster_carries_a_note_saying_where_it_came_from(tmp_path):
    entries = [
        Entry("s1", tmp_path / "s1", "folder"),
        Entry("s999", tmp_path / "s999", "folder"),
        Entry("s998", tmp_path / "s998.zip", "zip", label="s998.zip"),
    ]
    matched, _ = match_entries(entries, Known(["s1", "s2"]))
    by_id = {e.id: e for e in matched}
    assert by_id["s1"].notes == ()
    (note,) = by_id["s999"].notes
    assert note.kind == "roster"
    where = f"{tmp_path.name}/s999"  # from the submissions folder: the same wherever it is
    assert note.message.startswith(f"not on the roster: s999 (folder {where}); ")
    assert "not in grades.csv or the class statistics" in note.message
    assert f"(zip {tmp_path.name}/s998.zip)" in by_id["s998"].notes[0].message
    # without a roster (anonymous versions), nobody is off it
    alone, _ = match_entries(entries, Known([]))
    assert all(e.notes == () for e in alone)


def test_an_off_roster_paper_is_graded_apart_and_leaves_the_class_as_it_was(tmp_path):
    # s9 has a paper in variants.json but is not on the roster the run is given
    exam = make_exam(tmp_path, [*CLASS, "s9"])
    subs = tmp_path / "subs"
    for sid in CLASS:
        write_answers(subs / sid, {i.number: exam.correct(i) for i in exam.student(sid).items
                                   if i.kind != "code"})  # fmt: skip
    grade(tmp_path, subs, exam.variants, "without")
    write_answers(subs / "s9", {i.number: exam.wrong(i) for i in exam.student("s9").items
                                if i.kind != "code"})  # fmt: skip
    summary = grade(tmp_path, subs, exam.variants, "with")

    assert summary.info.off_roster == ["s9"]
    s9 = next(r for r in summary.results if r.id == "s9")
    assert s9.items, "graded against its paper, for the TA"
    note = roster_note(s9)
    assert note is not None and "(folder subs/s9)" in note.message
    assert any(
        line.startswith("s9: s9: not on the roster: s9 (folder subs/s9); graded apart")
        for line in summary.intake
    )

    with_out, without_out = tmp_path / "with", tmp_path / "without"
    # the class's grades are byte for byte those of a run without the visitor
    assert (with_out / "grades.csv").read_bytes() == (without_out / "grades.csv").read_bytes()
    assert [r["id"] for r in rows(with_out / "grades.csv")] == CLASS
    apart = rows(with_out / "off-roster.csv")
    assert [r["id"] for r in apart] == ["s9"] and apart[0]["total (of 34)"] != ""
    result, text = export_grades(with_out, "gradescope")
    assert result.rows == 3 and "s9" not in text

    report = (with_out / "report.html").read_text(encoding="utf-8")
    assert "not on the roster: s9 (folder subs/s9)" in report
    assert "3 submissions graded" in report and "1 not on the roster" in report
    class_part, apart_part = report.split('id="off-roster"', 1)
    assert "<strong>s9</strong>" in apart_part
    assert ">s9<" not in class_part  # not in the provisional totals or the problems
    # every statistic and plot is the class's: the class sections are the same as without s9
    before = (without_out / "report.html").read_text(encoding="utf-8")
    assert class_sections(class_part) == class_sections(before)
