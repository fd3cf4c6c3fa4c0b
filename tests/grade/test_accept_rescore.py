"""`accept:` on an ambiguous MCQ: scoring, the validator, and the list of changed scores."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from mmexam.bank import check_bank, load_bank
from mmexam.bank.models import McqPart
from mmexam.cli import app
from mmexam.exam import Item
from mmexam.grade.rescore import rescore
from mmexam.grade.results import Fingerprint, ItemResult, StudentResult, save_result
from mmexam.grade.scoring import score_item
from mmexam.grade.submissions import Answer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOOD = FIXTURES / "banks" / "validate" / "good"
GRADERS = FIXTURES / "graders"


def test_an_accepted_letter_earns_the_points_and_says_why():
    body = McqPart(
        kind="mcq", points=2, text="?", options=["w", "x", "y", "z"], answer="b", accept=["d"]
    )
    item = Item(number="1.1", part="mcq", question="q", kind="mcq", points=2, options=[3, 2, 1, 0])
    # printed: a = authored d (accepted), b = c, c = b (the key), d = a
    accepted = score_item(item, body, Answer("a", 1)).result
    assert accepted.points == 2 and accepted.key == [1, 3]
    assert "also earns the points" in accepted.messages[0]
    assert accepted.expected == "(c) x or (a) z"
    assert score_item(item, body, Answer("c", 1)).result.points == 2
    assert score_item(item, body, Answer("b", 1)).result.points == 0


def test_the_validator_checks_accepted_letters(tmp_path):
    root = tmp_path / "bank"
    shutil.copytree(GOOD, root)
    path = root / "mcq.yaml"
    path.write_text(
        path.read_text().replace("    answer: a\n", "    answer: a\n    accept: [a, f]\n", 1)
    )
    shown = [p.message for p in check_bank(root, graders=GRADERS, math=False).problems]
    assert (
        "accept 'a' is already accepted — list each extra letter once, and not the answer" in shown
    )
    assert any(m.startswith("accept 'f' is not one of the options a–d") for m in shown), shown


def result(sid: str, chosen: int | None, points: float, total_extra: float = 5.0) -> StudentResult:
    mcq = ItemResult(
        number="1.1",
        part="mcq",
        question="mcq-tensor-size",
        kind="mcq",
        max_points=2,
        points=points,
        status="auto",
        chosen=None if chosen is None else [chosen],
        key=[0],
        option_count=4,
    )
    other = ItemResult(
        number="2", part="short", question="short-late-fusion", kind="short_answer",
        max_points=5, points=total_extra, status="manual",
    )  # fmt: skip
    fingerprint = Fingerprint(submission="x", variant="y")
    return StudentResult(id=sid, source="folder", items=[mcq, other], fingerprint=fingerprint)


def test_rescore_lists_exactly_the_students_whose_score_changes(tmp_path):
    root = tmp_path / "bank"
    shutil.copytree(GOOD, root)
    results = [
        result("s1", 1, 0.0),
        result("s2", 0, 2.0),
        result("s3", 2, 0.0),
        result("s4", None, 0.0),
    ]
    assert rescore(results, load_bank(root, graders=GRADERS, math=False)) == []
    path = root / "mcq.yaml"
    path.write_text(
        path.read_text().replace("    answer: a\n", "    answer: a\n    accept: [b]\n", 1)
    )
    changes = rescore(results, load_bank(root, graders=GRADERS, math=False))
    assert [c.student for c in changes] == ["s1"]
    assert (changes[0].total_before, changes[0].total_after) == (5.0, 7.0)
    assert [(i.number, i.before, i.after) for i in changes[0].items] == [("1.1", 0.0, 2.0)]

    grades = tmp_path / "grades"
    for r in results:
        save_result(grades, r)
    shown = CliRunner().invoke(
        app, ["rescore", str(grades), "--bank", str(root), "--graders", str(GRADERS)]
    )
    assert shown.exit_code == 0, shown.output
    assert "s1: 5 → 7: 1.1 (mcq-tensor-size) 0 → 2" in shown.output
    assert "1 of 4 students' scores change — run `mmexam grade` again to write them" in shown.output


def test_rescore_refuses_a_folder_without_results(tmp_path):
    shown = CliRunner().invoke(app, ["rescore", str(tmp_path)])
    assert shown.exit_code == 1
    assert "no graded results" in shown.output
