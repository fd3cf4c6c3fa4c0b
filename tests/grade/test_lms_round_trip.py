"""The TA's round trip: a class as an LMS hands it out, graded, and its grades back out.

Each class is built to its LMS's documented naming (see mmexam.grade.lms):
Canvas's flat submissions.zip (`<lastfirst>_[LATE_]<userid>_<attachmentid>_<file>`,
re-uploads renamed `fusion-1.py`) with a Canvas gradebook export as roster; Moodle's
zip of `<Full Name>_<participant>_assignsubmission_file_/` folders with its grading
worksheet as roster; and an anonymous `--variants 3` build graded from `variant:`.
Expectations come from what each submission was made to contain.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from exam_fixture import BANK, SEED, Exam, make_exam, reference, write_answers

from mmexam.bank import load_bank
from mmexam.build.variants import draw_paper
from mmexam.exam import Manifest, content_hash
from mmexam.grade.engine import GradeOptions, grade_submissions
from mmexam.grade.exports import export_grades

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

IDS = ["s2024001", "s2024002", "s2024003", "s2024004"]
CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Midterm (77)
    Points Possible,,,,,34
"Okafor, Ada",101,s2024001,ada@uni.example,Section 1,
"Silva, Bruno",102,s2024002,bruno@uni.example,Section 1,
"Wei, Chen",103,s2024003,chen@uni.example,Section 2,
"Kowalski, Dana",104,s2024004,dana@uni.example,Section 2,
"Student, Test",999,,,Section 1,
"""
MOODLE_ROSTER = (
    "Identifier,Full name,ID number,Email address,Status,Grade,Maximum Grade,"
    "Grade can be changed,Last modified (submission),Last modified (grade),Feedback comments\n"
    "Participant 3301,Ada Okafor,s2024001,ada@uni.example,Submitted,,34,Yes,,,\n"
    "Participant 3302,Bruno Silva,s2024002,bruno@uni.example,Submitted,,34,Yes,,,\n"
    "Participant 3303,Chen Wei,s2024003,chen@uni.example,Submitted,,34,Yes,,,\n"
    "Participant 3304,Dana Kowalski,s2024004,dana@uni.example,No submission,,34,Yes,,,\n"
)


def answers_text(exam, sid: str, how) -> str:
    lines = [
        f"'{i.number}': {json.dumps(how(i))}" for i in exam.student(sid).items if i.kind != "code"
    ]
    return "\n".join(lines) + "\n"


def expected_auto(exam, sid: str, right: bool, code: bool) -> float:
    """Points the automatic part gives (short answers and open questions wait for a TA)."""
    total = 0.0
    for item in exam.student(sid).items:
        if (
            item.kind in ("mcq", "multi_select", "numeric")
            and right
            or item.kind == "code"
            and code
        ):
            total += item.points
    return total


def grade(root: Path, subs: Path, variants: Path, roster: Path | None) -> object:
    return grade_submissions(
        GradeOptions(
            submissions=subs,
            variants=variants,
            bank=BANK,
            out=root / "grades",
            manual=root / "manual",
            jobs=2,
            roster=roster,
        )
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def nested_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buffer.getvalue()


# ---------------------------------------------------------------- Canvas


@pytest.fixture(scope="module")
def canvas_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("canvas")
    exam = make_exam(root, IDS)
    (root / "canvas-roster.csv").write_text(CANVAS_ROSTER, encoding="utf-8")
    download = root / "submissions.zip"
    with zipfile.ZipFile(download, "w") as z:
        # Ada: everything right, her code re-uploaded (Canvas's display name fusion-1.py)
        z.writestr("okaforada_101_5001_answers.yaml", answers_text(exam, "s2024001", exam.correct))
        z.writestr("okaforada_101_5002_fusion-1.py", reference("fusion"))
        # Bruno: late, all wrong, his answers re-uploaded from a browser (`Answers (1).yaml`)
        z.writestr(
            "silvabruno_LATE_102_5003_Answers (1).yaml", answers_text(exam, "s2024002", exam.wrong)
        )
        # Chen: uploaded a zip of his folder
        z.writestr(
            "weichen_103_5004_midterm.zip",
            nested_zip({"midterm/answers.yaml": answers_text(exam, "s2024003", exam.correct)}),
        )
        # Dana submits nothing; someone not on the roster does
        z.writestr("visitoreve_555_5005_answers.yaml", "1.1: a\n")
    summary = grade(root, download, exam.variants, root / "canvas-roster.csv")
    return root, exam, summary


def test_canvas_download_is_read_and_matched_by_canvas_id(canvas_class):
    _, exam, summary = canvas_class
    by_id = {r.id: r for r in summary.results}
    assert sorted(by_id) == ["canvas-555", "s2024001", "s2024002", "s2024003"]
    assert summary.info.off_roster == ["canvas-555"]
    assert summary.info.absent == ["s2024004"]
    assert summary.info.roster is not None and summary.info.roster.layout == "canvas"
    assert by_id["s2024001"].name == "Okafor, Ada"  # the roster's name, not the paper's
    for sid, right, code in (
        ("s2024001", True, True),
        ("s2024002", False, False),
        ("s2024003", True, False),
    ):
        assert by_id[sid].total == pytest.approx(expected_auto(exam, sid, right, code)), sid


def test_every_intake_decision_is_in_the_summary_and_the_feedback(canvas_class):
    root, _, summary = canvas_class
    lines = "\n".join(summary.intake)
    assert "s2024001: okaforada_101: matched to s2024001 by the Canvas id 101" in lines
    assert "s2024001: fusion-1.py: accepted as fusion.py" in lines
    assert "s2024002: Answers (1).yaml: accepted as answers.yaml" in lines
    assert "s2024002: silvabruno_102: Canvas marked it late" in lines
    feedback = (root / "grades" / "students" / "s2024001" / "feedback.html").read_text()
    assert "How your submission was read" in feedback
    assert "fusion-1.py: accepted as fusion.py" in feedback
    gradescope = json.loads(
        (root / "grades" / "students" / "s2024002" / "results.json").read_text()
    )
    assert "Answers (1).yaml: accepted as answers.yaml" in gradescope["output"]


def test_grades_csv_has_every_roster_student_and_the_visitor_apart(canvas_class):
    root, _, _ = canvas_class
    rows = read_csv(root / "grades" / "grades.csv")
    assert [r["id"] for r in rows] == IDS  # roster order; the test student is not a student
    dana = rows[3]
    assert dana["status"] == "no submission" and dana["total (of 34)"] == ""
    apart = read_csv(root / "grades" / "off-roster.csv")
    assert [r["id"] for r in apart] == ["canvas-555"]
    assert "not in variants.json or on the roster" in apart[0]["problem"]


def test_canvas_gradebook_rows_match_grades_csv(canvas_class):
    root, _, _ = canvas_class
    result, text = export_grades(root / "grades", "canvas")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Grading Fixture"]
    assert rows[1][0] == "Points Possible" and rows[1][5] == "34"
    grades = read_csv(root / "grades" / "grades.csv")
    canvas_ids = {"s2024001": "101", "s2024002": "102", "s2024003": "103", "s2024004": "104"}
    assert len(rows) - 2 == len(grades) == result.rows
    for row, grade_row in zip(rows[2:], grades):
        student, canvas_id, sis, login, section, score = row
        assert sis == grade_row["id"] and canvas_id == canvas_ids[sis]
        assert student == grade_row["name"] and login.endswith("@uni.example") and section
        if grade_row["status"] == "no submission":
            assert score == ""  # not a silent 0
        else:
            expected = float(grade_row["total (of 34)"]) + float(grade_row["bonus"])
            assert float(score) == pytest.approx(expected)


# ---------------------------------------------------------------- Moodle


@pytest.fixture(scope="module")
def moodle_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("moodle")
    exam = make_exam(root, IDS)
    (root / "worksheet.csv").write_text(MOODLE_ROSTER, encoding="utf-8")
    download = root / "Midterm-12345.zip"
    with zipfile.ZipFile(download, "w") as z:
        folder = "Ada Okafor_3301_assignsubmission_file_"
        z.writestr(f"{folder}/answers.yaml", answers_text(exam, "s2024001", exam.correct))
        z.writestr(f"{folder}/Fusion.py", reference("fusion"))
        folder = "Bruno Silva_3302_assignsubmission_file_"
        z.writestr(f"{folder}/answers-2.yaml", answers_text(exam, "s2024002", exam.correct))
        z.writestr("Chen Wei_3303_assignsubmission_onlinetext_/onlinetext.html", "<p>hi</p>")
    summary = grade(root, download, exam.variants, root / "worksheet.csv")
    return root, exam, summary


def test_moodle_download_is_read_and_goes_back_as_its_worksheet(moodle_class):
    root, exam, summary = moodle_class
    by_id = {r.id: r for r in summary.results}
    assert sorted(by_id) == ["s2024001", "s2024002"]
    assert by_id["s2024001"].total == pytest.approx(expected_auto(exam, "s2024001", True, True))
    assert by_id["s2024002"].total == pytest.approx(expected_auto(exam, "s2024002", True, False))
    lines = "\n".join(summary.intake)
    assert "matched to s2024001 by the Moodle id 3301" in lines
    assert "Fusion.py: accepted as fusion.py (only the case differs)" in lines
    assert "answers-2.yaml: accepted as answers.yaml" in lines
    assert any("onlinetext submission, not files" in n for n in summary.notes)
    _, text = export_grades(root / "grades", "moodle")
    rows = list(csv.DictReader(io.StringIO(text)))
    grades = read_csv(root / "grades" / "grades.csv")
    assert [r["Identifier"] for r in rows] == [f"Participant {n}" for n in range(3301, 3305)]
    for row, grade_row in zip(rows, grades):
        assert row["Full name"] == grade_row["name"] and row["Maximum Grade"] == "34"
        if grade_row["status"] == "no submission":
            assert row["Grade"] == "" and row["Status"] == "no submission"
        else:
            total = float(grade_row["total (of 34)"]) + float(grade_row["bonus"])
            assert float(row["Grade"]) == pytest.approx(total)


# ---------------------------------------------------------------- anonymous versions


def test_a_variants_build_is_graded_from_the_version_named(tmp_path):
    bank = load_bank(BANK)
    papers = [draw_paper(bank, SEED, v, variant=v).manifest_entry() for v in "ABC"]
    used = sorted({i.question for s in papers for i in s.items})
    manifest = Manifest(
        seed=SEED,
        bank=str(BANK),
        question_hashes={q: content_hash(bank.questions[q]) for q in used},
        students=papers,
    )
    variants = tmp_path / "variants.json"
    variants.write_text(manifest.model_dump_json())
    exam = Exam(bank, manifest, variants)
    subs = tmp_path / "subs"
    write_answers(
        subs / "u1",
        {
            "variant": "B",
            **{i.number: exam.correct(i) for i in papers[1].items if i.kind not in ("code",)},
        },
    )
    write_answers(subs / "u2", {"1.1": "a"})  # no variant line
    write_answers(subs / "u3", {"variant": "Z", "1.1": "a"})
    summary = grade(tmp_path, subs, variants, None)
    by_id = {r.id: r for r in summary.results}
    u1 = by_id["u1"]
    assert u1.variant == "B" and u1.items
    right = sum(i.points for i in papers[1].items if i.kind in ("mcq", "multi_select", "numeric"))
    assert u1.total == pytest.approx(right)
    assert any(n.kind == "version" and "graded as version B" in n.message for n in u1.intake)
    missing = (
        "no 'variant:' line — this exam was handed out as versions A, B, C: add 'variant: B' "
        "(the letter in your paper's footer) to answers.yaml"
    )
    assert [p.message for p in by_id["u2"].problems if "variant" in p.message] == [missing]
    assert any("variant 'Z' is not a version of this exam (A, B, C)" in p.message
               for p in by_id["u3"].problems)  # fmt: skip
    rows = {r["id"]: r for r in read_csv(tmp_path / "grades" / "grades.csv")}
    assert rows["u1"]["variant"] == "B" and rows["u2"]["status"] == "no paper"
    assert rows["u2"]["total (of 34)"] == ""  # no paper: no points, not a zero


def test_the_cli_summary_prints_the_intake_and_who_is_apart(canvas_class):
    from typer.testing import CliRunner

    from mmexam.cli import app

    root, exam, summary = canvas_class
    args = ["grade", str(root / "submissions.zip"), "--variants", str(exam.variants)]
    args += ["--bank", str(BANK), "--out", str(root / "grades"), "--manual", str(root / "manual")]
    args += ["--roster", str(root / "canvas-roster.csv")]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())  # rich wraps long lines
    assert "graded 0, reused 4" in text  # nothing changed: every result reused
    assert f"intake: {len(summary.intake)} decision(s) on how submissions were read:" in text
    assert (
        "s2024001: fusion-1.py: accepted as fusion.py (the name an LMS gives a re-upload)" in text
    )
    assert "canvas-555: visitoreve_555: not on the roster: canvas-555" in text
    assert "graded apart, not counted with the class" in text
    assert "off-roster: " in text and "off-roster.csv" in text
    assert "no submission: s2024004" in text
    assert "'Student, Test' is Canvas's own row, not a student; skipped" in text
