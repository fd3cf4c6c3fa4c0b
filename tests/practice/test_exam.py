"""`mmexam practice exam`: a practice midterm drawn from the practice pool, rendered by the build."""

import re
from pathlib import Path

from pypdf import PdfReader
from typer.testing import CliRunner

from mmexam.bank import load_bank
from mmexam.cli import app
from mmexam.practice.exam import practice_bank, shortfalls

runner = CliRunner()


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_the_practice_bank_keeps_practice_questions_without_code_solutions(fixture_copy):
    bank = load_bank(fixture_copy("banks/practice"))
    practice = practice_bank(bank)
    assert practice.blueprint.title == "Practice Fixture Exam"
    assert "hidden-from-practice" in bank.questions
    assert [q.id for q in practice.pool("mcq")] == [
        "clip-temperature",
        "vae-trick",
        "clip-properties",
        "tensor-size",
    ]
    code = practice.questions["fusion-problem"].parts[2]
    assert code.kind == "code" and code.solution is None
    assert bank.questions["fusion-problem"].parts[2].solution  # the bank itself is untouched
    assert shortfalls(practice) == []


def test_a_practice_pool_too_small_for_the_blueprint_is_one_line(tmp_path, fixture_copy):
    bank = fixture_copy("banks/practice")
    questions = bank / "questions.yaml"
    text = questions.read_text()
    questions.write_text(
        text.replace("    kind: problem\n", "    kind: problem\n    practice: false\n")
    )
    result = runner.invoke(
        app, ["practice", "exam", "--bank", str(bank), "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"error: {bank}: the practice pool cannot fill the exam: part 'fusion' picks 1, "
        "its practice pool has 0 — mark more questions `practice: true`\n"
    )
    assert not (tmp_path / "x").exists()


def test_the_practice_exam_has_the_six_parts_a_key_pdf_and_html(tmp_path):
    out = tmp_path / "practice-exam"
    result = runner.invoke(app, ["practice", "exam", "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("exam.pdf", "exam.html", "key.pdf", "key.html"):
        assert (out / name).stat().st_size > 1000, name
    exam = pdf_text(out / "exam.pdf")
    assert "Practice Midterm Exam" in exam and "Time: 60 minutes" in exam
    titles = [
        "Multiple choice",
        "Short answers",
        "Multimodal fusion",
        "Multimodal LLMs",
        "Multimodal generation",
        "Bonus: open questions",
    ]
    positions = [exam.find(title, exam.find("Part Topic")) for title in titles]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "Practice Midterm Exam" in (out / "exam.html").read_text(encoding="utf-8")
    assert re.search(r"answer key", pdf_text(out / "key.pdf"), re.IGNORECASE)
    assert "Practice Midterm Exam (seed 7)" in result.output
    assert re.search(r"You have 60 minutes: open exam.pdf now and stop at \d\d:\d\d", result.output)
