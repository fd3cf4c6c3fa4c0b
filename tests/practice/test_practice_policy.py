"""The practice policy: exam items stay out unless asked for, and the quiz shows no bank id."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from mmexam.bank import load_bank
from mmexam.cli import app
from mmexam.practice.bundle import export_bundle, load_bundle

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOOD = FIXTURES / "banks" / "validate" / "good"
GRADERS = FIXTURES / "graders"


def test_export_refuses_to_hand_out_the_real_exams_pool(tmp_path):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["practice", "export", "--out", str(out)])
    assert result.exit_code == 1
    shown = " ".join(result.output.split())
    assert "113 of the 113 practice questions are in the real exam's pool" in shown
    assert "--include-exam-items" in shown
    assert not out.exists(), "a refused export writes nothing"


def practice_only_bank(tmp_path: Path) -> Path:
    """The good bank: every part practice: false, the short part's exam pool one question,
    and the other short question marked practice: true (so it is for practice only)."""
    root = tmp_path / "bank"
    shutil.copytree(GOOD, root)
    blueprint = root / "exam.yaml"
    text = blueprint.read_text().replace("    pick: ", "    practice: false\n    pick: ")
    text = text.replace(
        '    title: "Short answers"\n',
        '    title: "Short answers"\n    pool: {ids: [short-late-fusion]}\n',
    )
    blueprint.write_text(text)
    short = root / "short.yaml"
    short.write_text(
        short.read_text().replace(
            "  - id: short-gate-weight\n", "  - id: short-gate-weight\n    practice: true\n"
        )
    )
    return root


def test_the_blueprint_default_and_a_questions_own_flag_decide(tmp_path):
    root = practice_only_bank(tmp_path)
    bank = load_bank(root, graders=GRADERS, math=False)
    offered = [q.id for q in bank.questions.values() if bank.in_practice(q)]
    assert offered == ["short-gate-weight"]


def test_a_bank_whose_practice_items_the_exam_cannot_draw_exports_without_the_flag(tmp_path):
    root = practice_only_bank(tmp_path)
    out = tmp_path / "bundle"
    result = export_bundle(root, out, graders=GRADERS)  # the fixture's code task is there
    assert [q.id for q in load_bundle(out).questions] == ["short-gate-weight"]
    assert result.exam_items == 0


def test_the_export_says_how_many_exam_items_it_hands_out_when_told_to(tmp_path):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(
        app, ["practice", "export", "--out", str(out), "--include-exam-items"]
    )
    assert result.exit_code == 0, result.output
    assert "113 of them are in the real exam's pool" in " ".join(result.output.split())


def test_the_quiz_never_shows_a_bank_id(tmp_path):
    result = CliRunner().invoke(
        app,
        ["practice", "quiz", "--count", "8", "--seed", "3"],
        input="a\n" * 40,
        env={"MMEXAM_HOME": str(tmp_path)},
    )
    assert "Question 1/8 · " in result.output
    bank = load_bank(Path(__file__).resolve().parents[2] / "question_bank", math=False)
    shown = [qid for qid in bank.questions if qid in result.output]
    assert shown == [], shown
