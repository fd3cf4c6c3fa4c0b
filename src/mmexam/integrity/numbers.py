"""Identical numbers on parameterised items.

Every student computes a numeric answer from *their own* parameters, so two
students with different parameters who write the same value cannot both be
right: one of them carries a number that belongs to another paper. Identical
right answers (same parameters, both correct) are not evidence and are never
counted; identical wrong answers are.

**The chance of a shared value.** For the items two students share, an
*event* is "the second student wrote exactly the first student's value, and
they are not both right". Its chance under independent work is estimated
from the rest of the class, for students whose parameters relate to the
first student's in the same way (different, or the same): among the n such
other students, h wrote that value (and are not both right with the first).
A class of a few hundred cannot tell one in a hundred from one in ten
thousand with h = 0, so the estimate borrows strength from the whole exam
(empirical Bayes): r is the rate at which *any* two students with that
parameter relation wrote identical, not-both-right values on any numeric
item, and the chance is (h + A·r) / (n + A) with A = 2 pseudo-students. A
value no one else wrote gets about the exam-wide coincidence rate; a common
wrong value (0, a slip that lands on the same number) gets its own share.
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


PRIOR = 2.0
"""Pseudo-students of the exam-wide coincidence rate in each item's estimate."""


@dataclass
class Column:
    """Everyone's answer to one numeric item (by question key)."""

    answers: dict[int, NumberAnswer]  # student index -> answer


@dataclass
class Numbers:
    """The class's numeric answers, with the exam-wide coincidence rates."""

    columns: dict[str, Column]
    rate: dict[bool, float]  # params differ? -> chance two students share a value


def columns(sheets: list[Sheet]) -> Numbers:
    found: dict[str, Column] = {}
    for s, sheet in enumerate(sheets):
        for answer in sheet.numbers:
            if answer.value is not None:
                found.setdefault(answer.key, Column({})).answers[s] = answer
    return Numbers(found, coincidence_rates(found))


def coincidence_rates(cols: dict[str, Column]) -> dict[bool, float]:
    """How often two students wrote the same not-both-right value, by parameter relation."""
    pairs = {True: 0, False: 0}
    events = {True: 0, False: 0}
    for column in cols.values():
        answers = list(column.answers.values())
        by_params: dict[str, int] = {}
        for x in answers:
            by_params[x.params] = by_params.get(x.params, 0) + 1
        n = len(answers)
        same_pairs = sum(k * (k - 1) // 2 for k in by_params.values())
        pairs[False] += same_pairs
        pairs[True] += n * (n - 1) // 2 - same_pairs
        by_value: dict[float, list[NumberAnswer]] = {}
        for x in answers:
            assert x.value is not None
            by_value.setdefault(round(x.value, 9), []).append(x)
        for group in by_value.values():
            for i, x in enumerate(group):
                for y in group[i + 1 :]:
                    if event(x, y):
                        events[x.params != y.params] += 1
    return {k: (events[k] + 0.5) / (pairs[k] + 1) for k in (True, False)}


def chance(numbers: Numbers, column: Column, first: int, second: int) -> float:
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
    return (hits + PRIOR * numbers.rate[differ]) / (n + PRIOR)


def event(x: NumberAnswer, y: NumberAnswer) -> bool:
    """Same value, and not both right."""
    return same(x.value, y.value) and not (x.correct and y.correct)


def candidates(numbers: Numbers) -> set[tuple[int, int]]:
    """Pairs (a < b) with at least one event: the only ones worth an exact test."""
    found: set[tuple[int, int]] = set()
    for column in numbers.columns.values():
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


def score_pair(numbers: Numbers, a: int, b: int) -> NumbersIndex:
    """The numbers index of one pair (students `a` and `b` by index)."""
    cols = numbers.columns
    best = 1.0
    shared: list[SharedValue] = []
    for first, second in ((a, b), (b, a)):
        probs, hits = [], 0
        for column in cols.values():
            if first not in column.answers or second not in column.answers:
                continue
            probs.append(chance(numbers, column, first, second))
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
                chance=float(f"{chance(numbers, column, a, b):.3g}"),
            )
        )
    return NumbersIndex(p=min(1.0, 2 * best), shared=shared)
