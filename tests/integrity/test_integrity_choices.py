"""The answer-copying index: calibrated for independent students, sharp for copied answers."""

import math
import random

import numpy as np

from mmexam.integrity import choices
from mmexam.integrity.models import Choice, Sheet

ITEMS = 16
OPTIONS = 4


def order_for(rng: random.Random) -> tuple[int, ...]:
    order = list(range(OPTIONS))
    rng.shuffle(order)
    return tuple(order)


def student(sid: str, picks: list[int | None], orders: list[tuple[int, ...]]) -> Sheet:
    """A sheet answering ITEMS one-answer items; the key is option 0 of every item."""
    made = []
    for k, (pick, order) in enumerate(zip(picks, orders)):
        chosen = None if pick is None else (pick,)
        made.append(
            Choice(
                number=f"1.{k + 1}",
                key=f"q{k}",
                multi=False,
                option_count=OPTIONS,
                chosen=chosen,
                printed=None if pick is None else (order.index(pick),),
                correct=(0,),
                order=order,
                earned=2.0 if pick == 0 else 0.0,
                possible=2.0,
            )
        )
    right = sum(c.earned for c in made)
    return Sheet(id=sid, name=None, earned=right, possible=2.0 * ITEMS, choices=tuple(made))


def independent_class(n: int, seed: int) -> tuple[list[list[int | None]], list[list[tuple]]]:
    rng = random.Random(seed)
    difficulty = [rng.gauss(0, 1) for _ in range(ITEMS)]
    lure = [[rng.random() + 0.05 for _ in range(OPTIONS - 1)] for _ in range(ITEMS)]
    picks, orders = [], []
    for _ in range(n):
        theta = rng.gauss(0, 1)
        row: list[int | None] = []
        for i in range(ITEMS):
            if rng.random() < 0.03:
                row.append(None)
            elif rng.random() < 1 / (1 + math.exp(-(theta - difficulty[i]) * 1.5)):
                row.append(0)
            else:
                row.append(1 + rng.choices(range(OPTIONS - 1), weights=lure[i])[0])
        picks.append(row)
        orders.append([order_for(rng) for _ in range(ITEMS)])
    return picks, orders


def scores(sheets: list[Sheet]) -> list[choices.PairScore]:
    n = len(sheets)
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n)])
    levels = choices.responses(sheets, choices.authored_model(sheets))
    return choices.score_pairs(levels, pairs)


def test_independent_students_are_not_flagged_more_often_than_the_level():
    picks, orders = independent_class(60, seed=5)
    sheets = [student(f"s{k}", picks[k], orders[k]) for k in range(60)]
    p = np.array([s.p for s in scores(sheets)])
    # A valid p-value is below 0.05 in at most about 5% of independent pairs (taking the
    # smallest of four and multiplying by four keeps it conservative).
    assert (p < 0.05).mean() <= 0.06
    assert (p < 0.01).mean() <= 0.015
    assert p.min() > 1e-4


def test_content_copied_under_shuffled_options_is_found_at_the_authored_level():
    picks, orders = independent_class(60, seed=6)
    weakest = min(range(60), key=lambda k: sum(x == 0 for x in picks[k]))
    picks[59] = list(picks[weakest])  # the same bank options, different letters
    sheets = [student(f"s{k}", picks[k], orders[k]) for k in range(60)]
    ranked = sorted(
        zip(scores(sheets), [(a, b) for a in range(60) for b in range(a + 1, 60)]),
        key=lambda x: x[0].p,
    )
    best, pair = ranked[0]
    assert pair == tuple(sorted((weakest, 59)))
    assert best.level == "authored"
    assert best.p * 60 * 59 / 2 < 0.05  # significant after correcting for every pair
    assert best.matches == sum(x is not None for x in picks[weakest])


def test_an_answer_sheet_copied_by_letter_is_found_at_the_printed_level():
    picks, orders = independent_class(60, seed=7)
    source = 3
    letters = [
        None if x is None else orders[source][i].index(x) for i, x in enumerate(picks[source])
    ]
    picks[59] = [None if l is None else orders[59][i][l] for i, l in enumerate(letters)]
    sheets = [student(f"s{k}", picks[k], orders[k]) for k in range(60)]
    best = scores(sheets)[[(a, b) for a in range(60) for b in range(a + 1, 60)].index((3, 59))]
    assert best.level == "printed" and best.p < 1e-6


def test_two_blank_papers_are_not_evidence():
    picks, orders = independent_class(40, seed=8)
    picks[0] = [None] * ITEMS
    picks[1] = [None] * ITEMS
    sheets = [student(f"s{k}", picks[k], orders[k]) for k in range(40)]
    assert scores(sheets)[0].p == 1.0


def test_the_fitted_model_follows_ability():
    theta = np.linspace(-2, 2, 200)
    cats = (theta > 0).astype(int)  # strong students pick option 1, weak ones option 0
    _, b = choices.fit_item(theta, cats, 2)
    assert b[1] - b[0] > 1.0
