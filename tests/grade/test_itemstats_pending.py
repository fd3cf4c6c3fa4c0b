"""`mmexam bank learn` measures what is final: answers pending review are left out of the
rest score (not counted as 0), and submissions off the roster are not the class."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmexam.bank import load_bank
from mmexam.grade.itemstats import learn, measure
from mmexam.grade.results import (
    Fingerprint,
    ItemResult,
    PartInfo,
    RunInfo,
    StudentResult,
    dump_json,
    save_result,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bank():
    return load_bank(REPO / "question_bank", graders=REPO / "graders", math=False)


def results(bank, n=60, seed=2):
    """Two bank MCQs and a short answer pending for every other student."""
    q1, q2, q3 = sorted(bank.questions)[:3]
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a = rng.random()
        items = [
            ItemResult(number="1.1", part="p", question=q1, kind="mcq", max_points=2,
                       points=2.0 if rng.random() < a else 0.0, status="auto"),
            ItemResult(number="1.2", part="p", question=q2, kind="mcq", max_points=2,
                       points=2.0 if rng.random() < a else 0.0, status="auto"),
            ItemResult(number="2.1", part="p", question=q3, kind="short_answer", max_points=5,
                       points=None if k % 2 else round(5 * a), status="review" if k % 2 else "manual"),
        ]  # fmt: skip
        out.append(
            StudentResult(
                id=f"s{k:03d}",
                source="folder",
                items=items,
                fingerprint=Fingerprint(submission="s", variant="v"),
            )
        )
    return out, q1


def test_the_rest_score_leaves_pending_answers_out(bank):
    found, q1 = results(bank)
    stats, _, _ = measure(found, bank)
    xs = np.array([r.items[0].points / 2 for r in found])

    def rest(r):
        others = [i for i in r.items[1:] if i.points is not None]
        return sum(i.points for i in others) / sum(i.max_points for i in others)

    expected = np.corrcoef(xs, [rest(r) for r in found])[0, 1]
    assert stats[q1].r_pb == pytest.approx(expected, abs=1e-4)
    as_zero = np.corrcoef(xs, [r.total - r.items[0].points for r in found])[0, 1]
    assert stats[q1].r_pb != pytest.approx(as_zero, abs=1e-3)


def test_learn_does_not_measure_submissions_off_the_roster(tmp_path):
    shutil.copytree(REPO / "question_bank", tmp_path / "question_bank")  # learn writes beside it
    bank = load_bank(tmp_path / "question_bank", graders=REPO / "graders", math=False)
    found, q1 = results(bank, n=40)
    grades = tmp_path / "grades"
    for r in found:
        save_result(grades, r)
    apart = [r.id for r in found[:5]]
    info = RunInfo(
        course="c", title="t", total_points=9, parts=[PartInfo(id="p", title="P", points=9)],
        manifest="0" * 64, students=[r.id for r in found], off_roster=apart,
    )  # fmt: skip
    (grades / "run.json").write_text(dump_json(info))
    learned = learn(grades, bank)
    assert learned.students == 35 and learned.items[q1].n == 35
