"""Identical numbers on parameterised items.

Every student computes a numeric answer from *their own* parameters, so two
students with different parameters who write the same value cannot both be
right: one of them carries a number that belongs to another paper. Identical
right answers (same parameters, both correct) are not evidence and are never
counted; identical wrong answers are.

**The chance of a shared value.** For the items two students share, an
*event* is "the second student wrote exactly the first student's value, and
they are not both right". Its chance under independent work is estimated
from the rest of the class: among the other students who answered that item
with parameters related to the first student's in the same way (different,
or the same), the share who wrote that value and are not both right with
the first student, smoothed by half a student each way ((n_v + ½) / (n + 1)),
so a value no one else wrote is rare but never impossible. Common wrong
values (0, a forgotten "+1" that happens to agree) are counted as common.
The count of events is a Poisson-binomial variable; its exact tail, the
smaller of the two directions times two, is the p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mmexam.integrity.models import NumberAnswer, NumbersIndex, SharedValue, Sheet
from mmexam.integrity.stats import tail_one


def same(x: float | None, y: float | None) -> bool:
    """The same number as written (to float rounding: 0.1 + 0.2 and 0.3 are one value)."""
    if x is None or y is None:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else format(x, ".6g")


@dataclass
class Column:
    """Everyone's answer to one numeric item (by question key)."""

    answers: dict[int, NumberAnswer]  # student index -> answer


def columns(sheets: list[Sheet]) -> dict[str, Column]:
    found: dict[str, Column] = {}
    for s, sheet in enumerate(sheets):
        for answer in sheet.numbers:
            if answer.value is not None:
                found.setdefault(answer.key, Column({})).answers[s] = answer
    return found


def chance(column: Column, first: int, second: int) -> float:
    """P(an independent student, placed like `second`, matches `first`'s value by chance)."""
    mine = column.answers[first]
    differ = column.answers[second].params != mine.params
    n = hits = 0
    for other, answer in column.answers.items():
        if other in (first, second) or (answer.params != mine.params) != differ:
            continue
        n += 1
        if same(answer.value, mine.value) and not (answer.correct and mine.correct):
            hits += 1
    return (hits + 0.5) / (n + 1)


def event(x: NumberAnswer, y: NumberAnswer) -> bool:
    """Same value, and not both right."""
    return same(x.value, y.value) and not (x.correct and y.correct)


def candidates(cols: dict[str, Column]) -> set[tuple[int, int]]:
    """Pairs (a < b) with at least one event: the only ones worth an exact test."""
    found: set[tuple[int, int]] = set()
    for column in cols.values():
        by_value: dict[float, list[int]] = {}
        for s, answer in column.answers.items():
            assert answer.value is not None
            by_value.setdefault(round(answer.value, 9), []).append(s)
        for group in by_value.values():
            for i, a in enumerate(group):
                for b in group[i + 1 :]:
                    if event(column.answers[a], column.answers[b]):
                        found.add((min(a, b), max(a, b)))
    return found


def score_pair(cols: dict[str, Column], a: int, b: int, sheets: list[Sheet]) -> NumbersIndex:
    """The numbers index of one pair (students `a` and `b` by index)."""
    best = 1.0
    shared: list[SharedValue] = []
    for first, second in ((a, b), (b, a)):
        probs, hits = [], 0
        for column in cols.values():
            if first not in column.answers or second not in column.answers:
                continue
            probs.append(chance(column, first, second))
            hits += event(column.answers[first], column.answers[second])
        best = min(best, tail_one(probs, hits))
    for key, column in cols.items():
        x, y = column.answers.get(a), column.answers.get(b)
        if x is None or y is None or not event(x, y):
            continue
        assert x.value is not None
        shared.append(
            SharedValue(
                number_a=x.number,
                number_b=y.number,
                question=key,
                value=_fmt(x.value),
                correct_a=x.correct,
                correct_b=y.correct,
                params_differ=x.params != y.params,
                chance=round(chance(column, a, b), 4),
            )
        )
    return NumbersIndex(p=min(1.0, 2 * best), shared=shared)
