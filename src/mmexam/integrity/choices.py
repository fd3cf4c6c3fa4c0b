"""The answer-copying index on multiple-choice items (Wollack's omega, exact tail).

**What is compared.** Two students agree on an item when they gave the same
response. Responses are compared at two levels:

- *authored*: the option as the bank wrote it, on questions both students
  got. Options are shuffled per student, so content copied (the answer told,
  not the letter) agrees here while its letters differ;
- *printed*: the letter at the same printed number, whatever question sits
  there: an answer sheet copied from a neighbour agrees here.

A select-all item is split into one yes/no response per option. An
unanswered item is a response of its own ("omit") in the model, as in
Wollack (1997), but only the source's *answered* items are trials: a blank
leaves nothing to copy, and two blank papers are not evidence of anything.

**The expected agreement.** Wollack's omega compares the observed number of
agreements with the number expected if the copier answered on their own:
P(copier gives the source's response) summed over shared items. Wollack takes
these probabilities from the nominal response model (NRM), P(option k | θ)
∝ exp(a_k + b_k θ). We fit the same form per item by penalised maximum
likelihood, with θ the student's *observed* ability (the logit of their
automatically scored points on the rest of the exam, standardised) instead of
a latent trait: a class of a few hundred answers each item 30 to 200 times,
too few to estimate a latent NRM well, and the observed score is the
standard stand-in (it is what the K-index and g2 condition on). The penalty
pulls each item towards its plain option popularity, so a rarely answered
item falls back to "how often the class picked this option". Printed-level
probabilities come from the same model, through the student's own option
order.

**The p-value.** Under independence the number of agreements is a sum of
independent Bernoulli trials with those probabilities; its upper tail is
computed exactly (`stats.poisson_binomial_tail`), not from omega's normal
approximation, which is poor for ten or twenty items. The index is computed
in both directions (either student may have copied) and at both levels, and
the smallest of the four p-values is multiplied by four.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from mmexam.fmt import letter
from mmexam.integrity.models import Choice, ChoicesIndex, SharedChoice, Sheet
from mmexam.integrity.stats import poisson_binomial_tail

PENALTY = 2.0
"""Ridge penalty (in pseudo-observations) pulling each item's model towards its popularity."""
STEPS = 150
"""Gradient steps of the per-item fit (the loss is convex; this converges for |θ| <= 4)."""
BATCH = 2048
"""Pairs scored at once (bounds memory: batch x items x options floats)."""


@dataclass
class Responses:
    """One comparison level: a response matrix and each student's probability tensor."""

    keys: list[str]
    cats: np.ndarray  # (students, keys) int: the response category, -1 where absent
    probs: np.ndarray  # (students, keys, categories): P(student gives category)
    omit: np.ndarray  # (keys,) int: the category that means "not answered"


def ability(sheet: Sheet, choice: Choice | None = None) -> float:
    """The logit of the student's automatically scored points, without `choice`'s own."""
    earned, possible = sheet.earned, sheet.possible
    if choice is not None:
        earned, possible = earned - choice.earned, possible - choice.possible
    return math.log((earned + 0.5) / (max(possible - earned, 0.0) + 0.5))


def _units(choice: Choice, printed: bool) -> list[tuple[str, int, int]]:
    """(key, category, categories) per response unit of one item at one level."""
    if choice.multi:
        chosen = choice.printed if printed else choice.chosen
        base = f"@{choice.number}" if printed else choice.key
        return [
            (f"{base}#{j}", 2 if chosen is None else int(j in chosen), 3)
            for j in range(choice.option_count)
        ]
    n = choice.option_count
    picked = choice.printed if printed else choice.chosen
    if picked is not None and len(picked) != 1:
        picked = None  # two boxes marked on a one-answer item: read as no answer
    category = n if picked is None else picked[0]
    return [((f"@{choice.number}" if printed else choice.key), category, n + 1)]


def fit_item(theta: np.ndarray, cats: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Penalised multinomial logistic fit: P(category | θ) ∝ exp(a + b θ)."""
    n = len(theta)
    counts = np.bincount(cats, minlength=k) + 0.5
    a0 = np.log(counts / counts.sum())
    a, b = a0.copy(), np.zeros(k)
    onehot = np.eye(k)[cats]
    lam = PENALTY / n
    for _ in range(STEPS):
        z = a[None, :] + theta[:, None] * b[None, :]
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        residual = p - onehot
        grad_a = residual.mean(axis=0) + lam * (a - a0)
        grad_b = (residual * theta[:, None]).mean(axis=0) + lam * b
        a -= 1.0 * grad_a
        b -= 0.5 * grad_b
    return a, b


def _predict(a: np.ndarray, b: np.ndarray, theta: float, n: int) -> np.ndarray:
    z = a + b * theta
    p = np.exp(z - z.max())
    p /= p.sum()
    eps = 1.0 / (n + len(a))  # no response is ever impossible
    return (1 - eps) * p + eps / len(a)


def authored_model(sheets: list[Sheet]) -> dict[str, dict[str, np.ndarray]]:
    """P(category) per student per authored unit key, from the fitted item models."""
    data: dict[str, list[tuple[int, float, int, int]]] = {}
    mean_sd = _theta_scale(sheets)
    for s, sheet in enumerate(sheets):
        for choice in sheet.choices:
            theta = (ability(sheet, choice) - mean_sd[0]) / mean_sd[1]
            for key, cat, k in _units(choice, printed=False):
                data.setdefault(key, []).append((s, theta, cat, k))
    model: dict[str, dict[str, np.ndarray]] = {sheet.id: {} for sheet in sheets}
    for key, rows in data.items():
        k = max(r[3] for r in rows)
        thetas = np.array([r[1] for r in rows])
        cats = np.array([r[2] for r in rows])
        a, b = fit_item(np.clip(thetas, -4, 4), cats, k)
        for s, t, _, _ in rows:
            model[sheets[s].id][key] = _predict(a, b, float(np.clip(t, -4, 4)), len(rows))
    return model


def _theta_scale(sheets: list[Sheet]) -> tuple[float, float]:
    values = np.array([ability(s) for s in sheets]) if sheets else np.zeros(1)
    sd = float(values.std()) if len(values) > 1 else 1.0
    return float(values.mean()), sd if sd > 1e-9 else 1.0


def _printed_probs(choice: Choice, model: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Printed-level probabilities from the authored model, through the student's order."""
    order = choice.order or tuple(range(choice.option_count))
    if choice.multi:
        return [model[f"{choice.key}#{order[j]}"] for j in range(choice.option_count)]
    authored = model[choice.key]
    return [np.append(authored[list(order)], authored[-1])]


def responses(sheets: list[Sheet], model: dict[str, dict[str, np.ndarray]]) -> list[Responses]:
    """The authored and the printed comparison levels, as matrices."""
    levels = []
    for printed in (False, True):
        cells: dict[tuple[int, str], tuple[int, np.ndarray]] = {}
        for s, sheet in enumerate(sheets):
            for choice in sheet.choices:
                units = _units(choice, printed)
                if printed:
                    unit_probs = _printed_probs(choice, model[sheet.id])
                else:
                    unit_probs = [model[sheet.id][key] for key, _, _ in units]
                for (key, cat, _), p in zip(units, unit_probs):
                    cells[(s, key)] = (cat, p)
        keys = sorted({key for _, key in cells})
        index = {key: j for j, key in enumerate(keys)}
        width = max((len(p) for _, p in cells.values()), default=1)
        cats = np.full((len(sheets), len(keys)), -1, dtype=int)
        probs = np.zeros((len(sheets), len(keys), width))
        omit = np.zeros(len(keys), dtype=int)
        for (s, key), (cat, p) in cells.items():
            cats[s, index[key]] = cat
            probs[s, index[key], : len(p)] = p
            omit[index[key]] = len(p) - 1
        levels.append(Responses(keys, cats, probs, omit))
    return levels


@dataclass
class PairScore:
    """The best of the four one-sided indices of one pair."""

    p: float
    level: str
    copier: int
    matches: int
    expected: float
    variance: float
    items: int


def score_pairs(levels: list[Responses], pairs: np.ndarray) -> list[PairScore]:
    """The choices p-value of every pair (rows of `pairs` are student indices a < b)."""
    out: list[PairScore] = []
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        best = [PairScore(1.0, "authored", 0, 0, 0.0, 0.0, 0) for _ in batch]
        for name, level in zip(("authored", "printed"), levels):
            if not level.keys:
                continue
            ca, cb = level.cats[batch[:, 0]], level.cats[batch[:, 1]]
            both = (ca >= 0) & (cb >= 0)
            for copier in (0, 1):
                mine = level.probs[batch[:, copier]]
                theirs = cb if copier == 0 else ca
                # A blank in the source leaves nothing to copy: only answered units are trials.
                present = both & (theirs != level.omit[None, :])
                matches = (present & (ca == cb)).sum(axis=1)
                p = np.take_along_axis(mine, np.maximum(theirs, 0)[:, :, None], axis=2)[:, :, 0]
                p = np.where(present, p, 0.0)
                tail = poisson_binomial_tail(p, matches)
                expected = p.sum(axis=1)
                variance = (p * (1 - p)).sum(axis=1)
                for r, value in enumerate(tail):
                    if value < best[r].p or (value == best[r].p and best[r].items == 0):
                        best[r] = PairScore(
                            float(value),
                            name,
                            copier,
                            int(matches[r]),
                            float(expected[r]),
                            float(variance[r]),
                            int(present[r].sum()),
                        )
        for score in best:
            score.p = min(1.0, score.p * 4)
        out.extend(best)
    return out


def _letters(indices: tuple[int, ...]) -> str:
    return ", ".join(letter(i) for i in indices) or "none"


def shared_wrong(a: Sheet, b: Sheet, popularity: dict[str, Counter]) -> list[SharedChoice]:
    """Items both got with the same wrong authored choice, rarest in the class first."""
    theirs = {c.key: c for c in b.choices}
    found = []
    for mine in a.choices:
        other = theirs.get(mine.key)
        if other is None or mine.chosen is None or mine.chosen != other.chosen:
            continue
        if mine.chosen == mine.correct:
            continue
        counts = popularity.get(mine.key, Counter())
        total = sum(counts.values()) or 1
        found.append(
            SharedChoice(
                number_a=mine.number,
                number_b=other.number,
                question=mine.key,
                option=_letters(mine.chosen),
                shown_a=mine.shown,
                shown_b=other.shown,
                wrong=True,
                share=counts[mine.chosen] / total,
            )
        )
    return sorted(found, key=lambda s: s.share)


def shared_letters(a: Sheet, b: Sheet) -> list[SharedChoice]:
    """Printed numbers where both marked the same wrong letters (answer-sheet agreement)."""
    theirs = {c.number: c for c in b.choices}
    found = []
    for mine in a.choices:
        other = theirs.get(mine.number)
        if other is None or mine.printed is None or mine.printed != other.printed:
            continue
        if mine.chosen == mine.correct and other.chosen == other.correct:
            continue
        found.append(
            SharedChoice(
                number_a=mine.number,
                number_b=other.number,
                question=mine.key if mine.key == other.key else f"{mine.key} / {other.key}",
                option="printed " + _letters(mine.printed),
                shown_a=mine.shown,
                shown_b=other.shown,
                wrong=True,
                share=0.0,
            )
        )
    return found


def popularity(sheets: list[Sheet]) -> dict[str, Counter]:
    """How often the class gave each authored response, per question key."""
    counts: dict[str, Counter] = {}
    for sheet in sheets:
        for c in sheet.choices:
            counts.setdefault(c.key, Counter())[c.chosen] += 1
    return counts


def index_for(score: PairScore, a: Sheet, b: Sheet, pop: dict[str, Counter]) -> ChoicesIndex:
    """The report's view of one pair's choices score, with the shared wrong choices."""
    evidence = shared_wrong(a, b, pop) if score.level == "authored" else shared_letters(a, b)
    sd = math.sqrt(score.variance) if score.variance > 0 else 1.0
    return ChoicesIndex(
        p=score.p,
        level=score.level,
        direction=f"expected agreement computed for {(a, b)[score.copier].id}",
        matches=score.matches,
        expected=round(score.expected, 3),
        items=score.items,
        omega=round((score.matches - score.expected) / sd, 3),
        shared_wrong=evidence,
    )
