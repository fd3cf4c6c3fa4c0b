"""Whose score an `accept:` changes: re-score the graded MCQs against the bank's keys now.

After an exam an ambiguous MCQ may accept more than one letter
(`accept: [c]` beside `answer: b`). `rescore(results, bank)` reads every
student's graded result (the authored option they chose is stored with it),
scores each automatically graded MCQ again with the current answer and
accepted letters, and returns one `ScoreChange` per student whose points
change, with the items that changed. It writes nothing: `mmexam grade`
run again re-grades exactly the students whose questions changed (their
results' fingerprints hold each question's content hash) and writes the
new grades; this list is what to tell students and what to check against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmexam.bank.bank import Bank
from mmexam.grade.results import StudentResult, load_result

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class ItemChange:
    number: str
    question: str
    before: float
    after: float


@dataclass
class ScoreChange:
    """One student whose total (or bonus) changes."""

    student: str
    name: str | None
    total_before: float
    total_after: float
    bonus_before: float
    bonus_after: float
    items: list[ItemChange] = field(default_factory=list)


def accepted_keys(bank: Bank, question: str, subpart: int | None) -> list[int] | None:
    """Authored indices that earn the points now, or None when the item is not an MCQ."""
    found = bank.questions.get(question)
    if found is None:
        return None
    body: Any = found.parts[subpart] if subpart is not None else found  # type: ignore[union-attr]
    if getattr(body, "kind", None) != "mcq":
        return None
    return [LETTERS.index(x) for x in (body.answer, *body.accept)]


def rescore_one(result: StudentResult, bank: Bank) -> ScoreChange | None:
    change = ScoreChange(
        result.id,
        result.name,
        result.total,
        result.total,
        result.bonus_total,
        result.bonus_total,
    )
    for item in result.items:
        if item.kind != "mcq" or item.status != "auto" or item.points is None:
            continue
        keys = accepted_keys(bank, item.question, item.subpart)
        if keys is None:
            continue
        chosen = item.chosen or []
        now = item.max_points if len(chosen) == 1 and chosen[0] in keys else 0.0
        if abs(now - item.points) < 1e-9:
            continue
        change.items.append(ItemChange(item.number, item.review_key, item.points, now))
        if item.bonus:
            change.bonus_after += now - item.points
        else:
            change.total_after += now - item.points
    return change if change.items else None


def rescore(results: list[StudentResult], bank: Bank) -> list[ScoreChange]:
    """Every student whose score the bank's current keys change, in id order."""
    changes = [rescore_one(r, bank) for r in sorted(results, key=lambda r: r.id)]
    return [c for c in changes if c is not None]


def graded_results(grades: Path) -> list[StudentResult]:
    """The cached results of a grading run's output folder (graded/*.json)."""
    found = []
    for path in sorted((Path(grades) / "graded").glob("*.json")):
        result = load_result(path)
        if result is not None:
            found.append(result)
    return found
