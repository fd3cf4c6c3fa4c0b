"""`mmexam bank learn`: item statistics from graded results, beside the bank, used by the draw;
and the class report claims nothing from tiny samples."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.bank import check_bank, load_bank
from mmexam.bank.statistics import STATISTICS_FILE, read_statistics
from mmexam.build.variants import draw_paper
from mmexam.cli import app
from mmexam.exam import content_hash
from mmexam.grade.report import MIN_KEY_CHECK, OptionStats, question_stats
from mmexam.grade.results import Fingerprint, ItemResult, StudentResult, save_result

REPO = Path(__file__).resolve().parents[2]


def simulate(bank, count: int, seed: int = 5) -> list[StudentResult]:
    """Papers drawn by the build; each student of ability a earns each item with p(a, difficulty)."""
    rng = random.Random(seed)
    base = {"easy": 0.85, "medium": 0.6, "hard": 0.35}
    results = []
    for k in range(count):
        ability = rng.gauss(0, 0.15)
        paper = draw_paper(bank, 1, f"s{k:03d}")
        items = []
        for item in paper.items():
            chance = min(0.98, max(0.02, base[bank.questions[item.question].difficulty] + ability))
            got = item.points if rng.random() < chance else 0.0
            items.append(
                ItemResult(
                    number=item.number, part=item.part, question=item.question,
                    subpart=item.subpart, kind=item.kind, bonus=item.bonus,
                    max_points=item.points, points=got, status="auto",
                )
            )  # fmt: skip
        hashes = {q: content_hash(bank.questions[q]) for q in paper.question_ids()}
        fingerprint = Fingerprint(submission="s", variant="v", questions=hashes)
        results.append(
            StudentResult(id=f"s{k:03d}", source="folder", items=items, fingerprint=fingerprint)
        )
    return results


@pytest.fixture
def bank_copy(tmp_path):
    root = tmp_path / "question_bank"
    shutil.copytree(REPO / "question_bank", root)
    return root


def test_learn_writes_a_side_file_and_leaves_the_yaml_byte_for_byte(bank_copy, tmp_path):
    bank = load_bank(bank_copy, graders=REPO / "graders", math=False)
    grades = tmp_path / "grades"
    for result in simulate(bank, 240):
        save_result(grades, result)
    before = {p.name: p.read_bytes() for p in bank_copy.glob("*.yaml")}
    shown = CliRunner().invoke(app, ["bank", "learn", str(grades), "--bank", str(bank_copy)])
    assert shown.exit_code == 0, shown.output
    assert {p.name: p.read_bytes() for p in bank_copy.glob("*.yaml")} == before  # comments kept
    assert "# The midterm blueprint" in (bank_copy / "exam.yaml").read_text()
    assert check_bank(bank_copy, graders=REPO / "graders", math=False).ok  # validate clean
    stats = read_statistics(bank_copy)
    assert stats is not None and stats.min_n == 30 and stats.sources == [str(grades)]
    learned = load_bank(bank_copy, graders=REPO / "graders", math=False)
    big = [q for q, s in stats.items.items() if s.n >= 30]
    small = [q for q, s in stats.items.items() if s.n < 30]
    assert big and small, "240 papers should give both well and thinly answered questions"
    for qid in big:
        item = stats.items[qid]
        assert item.r_pb is not None and learned.expected_share(qid) == item.p
    for qid in small:
        assert stats.items[qid].r_pb is None
        assert learned.expected_share(qid) in (0.8, 0.6, 0.4)  # authored: nothing claimed
        assert f"{qid}: n = {stats.items[qid].n} < 30: nothing claimed" in shown.output
    easy = [stats.items[q].p for q in big if learned.questions[q].difficulty == "easy"]
    hard = [stats.items[q].p for q in big if learned.questions[q].difficulty == "medium"]
    assert sum(easy) / len(easy) > sum(hard) / len(hard)  # the measurement sees the difficulty
    # drawing with measured statistics still meets the band
    for student in ("a", "b", "c"):
        draw_paper(learned, 3, student)


def test_a_question_edited_after_grading_is_not_measured(bank_copy, tmp_path):
    bank = load_bank(bank_copy, graders=REPO / "graders", math=False)
    grades = tmp_path / "grades"
    results = simulate(bank, 40)
    for result in results:
        save_result(grades, result)
    edited = results[0].items[0].question
    path = bank_copy / (bank.sources[edited][0].rsplit("/", 1)[-1])
    head, tail = path.read_text().split(f"  - id: {edited}\n", 1)
    level = bank.questions[edited].difficulty
    other = "hard" if level != "hard" else "easy"  # a content change, as a fix after the exam
    tail = tail.replace(f"    difficulty: {level}\n", f"    difficulty: {other}\n", 1)
    path.write_text(f"{head}  - id: {edited}\n{tail}")
    shown = CliRunner().invoke(app, ["bank", "learn", str(grades), "--bank", str(bank_copy)])
    assert shown.exit_code == 0, shown.output
    assert f"{edited}: changed since it was graded — not measured" in shown.output
    assert edited not in read_statistics(bank_copy).items


def test_learn_refuses_a_folder_without_results(tmp_path, bank_copy):
    shown = CliRunner().invoke(app, ["bank", "learn", str(tmp_path), "--bank", str(bank_copy)])
    assert shown.exit_code == 1 and "no graded results" in shown.output
    assert not (bank_copy / STATISTICS_FILE).exists()


def item(sid_points: float, question="q1") -> ItemResult:
    return ItemResult(
        number="1", part="mcq", question=question, kind="mcq", max_points=2,
        points=sid_points, status="auto", chosen=[1] if sid_points == 0 else [0], key=[0],
        option_count=4,
    )  # fmt: skip


def test_the_report_claims_no_discrimination_and_no_wrong_key_from_tiny_samples():
    tiny = [
        StudentResult(id=f"s{k}", source="folder", items=[item(p), item(1 - p, "q2")])
        for k, p in enumerate([2.0, 0.0, 2.0, 0.0])
    ]
    stats = {s.key: s for s in question_stats(tiny)}
    assert stats["q1"].n == 4 and stats["q1"].discrimination is None and not stats["q1"].flagged
    one = OptionStats(key="q1", counts=[0, 1, 0, 0], blank=0, answer=[0])
    assert one.suspicious == []  # one answer is not evidence of a wrong key
    many = OptionStats(key="q1", counts=[3, MIN_KEY_CHECK, 0, 0], blank=0, answer=[0])
    assert many.suspicious == [1]
    rng = random.Random(1)
    big = []
    for k in range(60):
        a = rng.random()
        big.append(
            StudentResult(
                id=f"s{k}", source="folder",
                items=[item(2.0 if a > 0.5 else 0.0), item(2.0 * a, "q2")],
            )
        )  # fmt: skip
    assert {s.key: s for s in question_stats(big)}["q1"].discrimination is not None
