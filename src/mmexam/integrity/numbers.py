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
thousand with h = 0, so the estimate borrows strength from the item
(empirical Bayes): r is the rate at which *any* two students with that
parameter relation wrote identical, not-both-right values on this item
(itself shrunk towards the rate over all numeric items), and the chance is
(h + A·r) / (n + A) with A = 2 pseudo-students. A
value no one else wrote gets about the exam-wide coincidence rate; a common
wrong value (0, a slip that lands on the same number) gets its own share.
Where the value is right for one student and wrong for the other, the
chance is asked about the one it is wrong for, so that every classmate who
could have been the source counts (see `carrier`). The count of events is a
Poisson-binomial variable; its exact tail, the smaller of the two directions
times two, is the p-value. With few distinct parameter values a copied right
answer could have come from many classmates and is weak evidence about any
one pair; a copied *wrong* value is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mmexam.fmt import fmt_number
from mmexam.integrity.models import NumberAnswer, NumbersIndex, SharedValue, Sheet
from mmexam.integrity.stats import tail_one


def same(x: float | None, y: float | None) -> bool:
    """The same number as written (to float rounding: 0.1 + 0.2 and 0.3 are one value)."""
    if x is None or y is None:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


PRIOR = 2.0
"""Pseudo-students of the exam-wide coincidence rate in each item's estimate."""


@dataclass
class Column:
    """Everyone's answer to one numeric item (by question key)."""

    answers: dict[int, NumberAnswer]  # student index -> answer


@dataclass
class Numbers:
    """The class's numeric answers, with each item's coincidence rates."""

    columns: dict[str, Column]
    rate: dict[str, dict[bool, float]]  # item -> params differ? -> chance two students agree


def columns(sheets: list[Sheet]) -> Numbers:
    found: dict[str, Column] = {}
    for s, sheet in enumerate(sheets):
        for answer in sheet.numbers:
            if answer.value is not None:
                found.setdefault(answer.key, Column({})).answers[s] = answer
    return Numbers(found, coincidence_rates(found))


def _counts(column: Column) -> tuple[dict[bool, int], dict[bool, int]]:
    """Pairs of students, and pairs with an event, by 'parameters differ'."""
    answers = list(column.answers.values())
    by_params: dict[str, int] = {}
    for x in answers:
        by_params[x.params] = by_params.get(x.params, 0) + 1
    n = len(answers)
    same_pairs = sum(k * (k - 1) // 2 for k in by_params.values())
    pairs = {False: same_pairs, True: n * (n - 1) // 2 - same_pairs}
    events = {True: 0, False: 0}
    by_value: dict[float, list[NumberAnswer]] = {}
    for x in answers:
        assert x.value is not None
        by_value.setdefault(round(x.value, 9), []).append(x)
    for group in by_value.values():
        for i, x in enumerate(group):
            for y in group[i + 1 :]:
                if event(x, y):
                    events[x.params != y.params] += 1
    return pairs, events


def coincidence_rates(cols: dict[str, Column]) -> dict[str, dict[bool, float]]:
    """Each item's rate of identical not-both-right values, shrunk towards the exam's rate.

    An item with few parameter sets (or a slip that lands everyone on one
    value) has many coincidences; an item whose values are spread has few.
    """
    counted = {key: _counts(column) for key, column in cols.items()}
    rates: dict[str, dict[bool, float]] = {}
    for relation in (True, False):
        pairs = sum(c[0][relation] for c in counted.values())
        events = sum(c[1][relation] for c in counted.values())
        overall = (events + 0.5) / (pairs + 1)
        for key, (item_pairs, item_events) in counted.items():
            rate = (item_events[relation] + PRIOR * overall) / (item_pairs[relation] + PRIOR)
            rates.setdefault(key, {})[relation] = rate
    return rates


def chance(numbers: Numbers, key: str, first: int, second: int) -> float:
    """P(an independent student, placed like `second`, matches `first`'s value by chance)."""
    column = numbers.columns[key]
    mine = column.answers[first]
    differ = column.answers[second].params != mine.params
    n = hits = 0
    for other, answer in column.answers.items():
        if other in (first, second) or (answer.params != mine.params) != differ:
            continue
        n += 1
        if same(answer.value, mine.value) and not (answer.correct and mine.correct):
            hits += 1
    return (hits + PRIOR * numbers.rate[key][differ]) / (n + PRIOR)


def carrier(column: Column, first: int, second: int) -> tuple[int, int]:
    """Whose value to ask about: the student it is wrong for, where it is right for the other.

    A value right for one student and wrong for the other says the second carries
    a number from *someone* with the first one's parameters: its chance is how
    often students placed like the carrier write it, which counts every other
    student who could have been the source. Asked the other way round ("how
    often does anyone with different parameters write my right answer") every
    classmate with those parameters would look like the one source.
    """
    x, y = column.answers[first], column.answers[second]
    if x.correct and not y.correct and same(x.value, y.value):
        return second, first
    return first, second


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
        for key, column in cols.items():
            if first not in column.answers or second not in column.answers:
                continue
            probs.append(chance(numbers, key, *carrier(column, first, second)))
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
                value=fmt_number(x.value),
                correct_a=x.correct,
                correct_b=y.correct,
                params_differ=x.params != y.params,
                chance=float(f"{chance(numbers, key, *carrier(column, a, b)):.3g}"),
            )
        )
    return NumbersIndex(p=min(1.0, 2 * best), shared=shared)
