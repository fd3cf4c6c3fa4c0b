"""The arithmetic every index shares: exact tails and multiple-testing corrections.

Each index (choices, numbers, code) counts *events* over the things two
students share (an item, a fingerprint) and gives each event a probability of
happening by chance. Under independent answering the count is a sum of
independent Bernoulli variables with different probabilities: a
Poisson-binomial variable. Its upper tail is computed exactly here by dynamic
programming (no normal approximation: a short paper has too few items for
one), vectorised over many pairs at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

P_FLOOR = 1e-300
"""Smallest p-value reported: below it floating point cannot tell values apart."""


def poisson_binomial_tail(probs: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """P(X >= observed) for X a sum of Bernoulli(probs[r, i]) over i, for every row r.

    `probs` is (rows, n) with entries in [0, 1] (an entry of 0 is an absent
    trial); `observed` is (rows,) of integer counts.
    """
    probs = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
    observed = np.asarray(observed, dtype=int)
    rows, n = probs.shape
    dist = np.zeros((rows, n + 1))
    dist[:, 0] = 1.0
    for i in range(n):
        p = probs[:, i : i + 1]
        moved = dist[:, :-1] * p
        dist *= 1.0 - p
        dist[:, 1:] += moved
    # tail[k] = P(X >= k): reverse cumulative sum over counts.
    tail = np.cumsum(dist[:, ::-1], axis=1)[:, ::-1]
    index = np.clip(observed, 0, n)
    out = tail[np.arange(rows), index]
    out = np.where(observed <= 0, 1.0, out)
    out = np.where(observed > n, 0.0, out)
    return np.clip(out, P_FLOOR, 1.0)


def tail_one(probs: Sequence[float], observed: int) -> float:
    """The Poisson-binomial upper tail for one list of probabilities."""
    if observed <= 0:
        return 1.0
    if not probs:
        return P_FLOOR if observed > 0 else 1.0
    return float(poisson_binomial_tail(np.array([list(probs)]), np.array([observed]))[0])


def holm(pvalues: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """Holm's step-down adjustment (weighted, as Holm 1979 allows), family-wise.

    With weights, hypothesis j gets the share w_j / sum(w) of the error rate:
    a seating chart gives neighbours a larger share, so the same agreement
    counts for more where copying was physically possible. Without weights
    this is plain Holm. Adjusted values are monotone in the step-down order
    and capped at 1.
    """
    m = len(pvalues)
    if m == 0:
        return []
    p = np.asarray(pvalues, dtype=float)
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=float)
    if np.any(w <= 0):
        raise ValueError("Holm weights must be positive")
    order = np.argsort(p / w, kind="stable")
    remaining = np.cumsum(w[order][::-1])[::-1]  # sum of weights from step k on
    stepped = (p[order] / w[order]) * remaining
    stepped = np.minimum(np.maximum.accumulate(stepped), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return [float(x) for x in adjusted]


def benjamini_hochberg(
    pvalues: Sequence[float], weights: Sequence[float] | None = None
) -> list[float]:
    """Benjamini-Hochberg q-values (weighted as Genovese, Roeder and Wasserman 2006).

    Listing every hypothesis with q below 0.05 keeps the expected share of
    true nulls among those listed (the false discovery rate) below 5%: of 20
    pairs listed, about one at most is expected to have worked alone. Weights
    are rescaled to average 1 and divide the p-values, as in `holm`. Pairs
    share students, so the tests are not independent; BH holds under the
    positive dependence such overlaps create (Benjamini and Yekutieli 2001).
    """
    m = len(pvalues)
    if m == 0:
        return []
    p = np.asarray(pvalues, dtype=float)
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=float)
    if np.any(w <= 0):
        raise ValueError("weights must be positive")
    scaled = p / (w / w.mean())
    order = np.argsort(scaled, kind="stable")
    ranked = scaled[order] * m / np.arange(1, m + 1)
    ranked = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = ranked
    return [float(x) for x in q]


def bonferroni_min(pvalues: Sequence[float]) -> float:
    """The smallest of k p-values, multiplied by k (capped at 1): a valid p for 'any of them'."""
    kept = [p for p in pvalues if p is not None]
    if not kept:
        return 1.0
    return min(1.0, min(kept) * len(kept))
