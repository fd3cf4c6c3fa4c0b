"""The exact tail and the corrections every index relies on."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmexam.integrity.stats import (
    benjamini_hochberg,
    bonferroni_min,
    holm,
    poisson_binomial_tail,
    tail_one,
)


def brute_tail(probs: list[float], k: int) -> float:
    total = 0.0
    for outcome in itertools.product((0, 1), repeat=len(probs)):
        if sum(outcome) >= k:
            weight = 1.0
            for hit, p in zip(outcome, probs):
                weight *= p if hit else 1 - p
            total += weight
    return total


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=8),
    st.integers(0, 9),
)
def test_the_tail_is_the_exact_poisson_binomial_tail(probs, k):
    expected = max(brute_tail(probs, k), 1e-300) if k <= len(probs) else 1e-300
    assert tail_one(probs, k) == pytest.approx(expected if k > 0 else 1.0, rel=1e-9, abs=1e-12)


def test_rows_are_independent_and_zero_probability_trials_are_absent():
    probs = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.5]])
    tail = poisson_binomial_tail(probs, np.array([2, 2]))
    assert tail[0] == pytest.approx(0.25)
    assert tail[1] == pytest.approx(0.5)


def test_holm_matches_the_textbook_example():
    # Holm (1979)-style: sorted p 0.01, 0.02, 0.03, 0.04 with m = 4 -> 0.04, 0.06, 0.06, 0.06.
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])


def test_weighted_holm_favours_the_weighted_hypothesis_and_equal_weights_change_nothing():
    p = [0.001, 0.001, 0.5, 0.5]
    assert holm(p, [1, 1, 1, 1]) == pytest.approx(holm(p))
    # A neighbour pair (weight 10) with p = 0.02 beats an unweighted correction...
    p = [0.02, 0.001] + [0.5] * 8
    weights = [10.0] + [1.0] * 9
    assert holm(p, weights)[0] < holm(p)[0]
    # ...and a non-neighbour pays for it: the error rate is shared, not created.
    assert holm(p, weights)[1] > holm(p)[1]
    assert all(0 <= x <= 1 for x in holm(p, weights))


def test_benjamini_hochberg_matches_the_step_up_rule_and_is_never_above_holm():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.02, 0.04, 0.04 (m / rank, then step up)
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    rng = np.random.default_rng(1)
    many = list(rng.uniform(size=200) ** 3)
    assert all(q <= h + 1e-12 for q, h in zip(benjamini_hochberg(many), holm(many)))
    weighted = benjamini_hochberg([0.004, 0.004, 0.5, 0.5], [4.0, 1.0, 1.0, 1.0])
    assert weighted[0] < benjamini_hochberg([0.004, 0.004, 0.5, 0.5])[0] < weighted[1]


def test_bonferroni_min_multiplies_the_smallest_by_the_count():
    assert bonferroni_min([0.01, 0.5, 1.0]) == pytest.approx(0.03)
    assert bonferroni_min([0.6, 0.9]) == 1.0
