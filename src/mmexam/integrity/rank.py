"""Every pair of students scored, corrected for their number, ranked: the core's entry point.

A pair's p-value is the smallest of its component p-values (choices,
numbers, code, written answers), times the number of components (Bonferroni
over the components, which suits evidence that usually sits in one place: a
copied program, a copied problem). The p-values of all pairs are then
corrected together, two ways (both weighted by a seating chart where one is
given):

- `q` (Benjamini-Hochberg): listing every pair with q below 0.05 keeps the
  expected share of innocent pairs *among those listed* below 5%. This is the
  screening question an instructor asks of a short list, and it decides what
  is listed.
- `p_adjusted` (Holm): the chance that in a class where everyone worked
  alone *any* pair looks this alike. Far stricter; a pair under 0.05 here
  stands out even taken on its own.

Listed are the pairs with q under `alpha`, most unusual first, at most `top`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmexam.integrity import choices, code, numbers, seats, text
from mmexam.integrity.models import (
    ChoicesIndex,
    CodeIndex,
    IntegrityReport,
    NumbersIndex,
    Pair,
    Settings,
    Sheet,
    SimilarText,
)
from mmexam.integrity.stats import benjamini_hochberg, holm


@dataclass
class Scored:
    """One pair with every component computed."""

    a: int
    b: int
    p: float
    choices: choices.PairScore
    numbers: NumbersIndex | None = None
    code_p: float | None = None
    text: list[SimilarText] = field(default_factory=list)
    text_p: float | None = None
    p_adjusted: float = 1.0
    q: float = 1.0
    neighbours: bool | None = None

    @property
    def listed_text(self) -> float:
        return max((t.similarity for t in self.text), default=0.0)


@dataclass
class Ranking:
    """All pairs, ranked, with what the report needs to describe them."""

    sheets: list[Sheet]
    pairs: list[Scored]
    backend: str
    components: int
    popularity: dict
    tasks: dict[str, code.Task]


def score_class(
    sheets: list[Sheet],
    settings: Settings,
    chart: dict[str, seats.Seat] | None = None,
    notes: list[str] | None = None,
) -> Ranking:
    """Score every pair of `sheets` and rank them (most unusual first)."""
    n = len(sheets)
    index = np.array([(a, b) for a in range(n) for b in range(a + 1, n)], dtype=int)
    index = index.reshape(-1, 2)
    levels = choices.responses(sheets, choices.authored_model(sheets))
    choice_scores = choices.score_pairs(levels, index)
    cols = numbers.columns(sheets)
    tasks = code.prepare(sheets, settings.starters, settings.references)
    backend, measure = text.choose_backend(settings.text_backend)
    similar = text.similar_answers(sheets, backend, measure, notes)
    kinds = [
        any(s.choices for s in sheets),
        bool(cols.columns),
        any(len(t.prints) > 1 for t in tasks.values()),
        bool(similar.tails),
    ]
    k = max(1, sum(kinds))
    scored = {
        (int(a), int(b)): Scored(int(a), int(b), 1.0, cs)
        for (a, b), cs in zip(index, choice_scores)
    }
    for a, b in numbers.candidates(cols):
        scored[(a, b)].numbers = numbers.score_pair(cols, a, b)
    for key, value in code.score_pairs(tasks, sorted(code.candidates(tasks))).items():
        scored[key].code_p = value
    for key, found in similar.similar.items():
        scored[key].text = found
    for key in similar.tails:
        scored[key].text_p = similar.p(key)
    pairs = list(scored.values())
    for pair in pairs:
        parts = [pair.choices.p]
        parts += [pair.numbers.p] if pair.numbers else []
        parts += [pair.code_p] if pair.code_p is not None else []
        parts += [pair.text_p] if pair.text_p is not None else []
        pair.p = min(1.0, min(parts) * k)
    ids = [s.id for s in sheets]
    w, near = seats.weights(ids, [(p.a, p.b) for p in pairs], chart, settings.neighbour_weight)
    raw = [p.p for p in pairs]
    for pair, adjusted, q, close in zip(pairs, holm(raw, w), benjamini_hochberg(raw, w), near):
        pair.p_adjusted = adjusted
        pair.q = q
        pair.neighbours = close
    pairs.sort(key=lambda p: (p.q, p.p_adjusted, p.p, -p.listed_text, p.a, p.b))
    return Ranking(sheets, pairs, backend, k, choices.popularity(sheets), tasks)


def listed(ranking: Ranking, settings: Settings) -> list[Scored]:
    """The pairs worth a look: q under alpha, most unusual first; at most `top`."""
    return [p for p in ranking.pairs if p.q < settings.alpha][: settings.top]


def _reasons(
    pair: Scored, report_choices: ChoicesIndex | None, code_index: CodeIndex | None
) -> list[str]:
    lines = []
    c = report_choices
    if c is not None and c.p < 0.5:
        where = (
            "the same bank options"
            if c.level == "authored"
            else "the same letters at the same numbers"
        )
        n = len(c.shared_wrong)
        if not n:
            wrong = ""
        elif c.level == "authored":
            wrong = f", {n} of them the same wrong answer"
        else:
            wrong = f", {n} of them wrong for at least one of the two"
        lines.append(
            f"Multiple choice: {c.matches} of {c.items} shared answers agree ({where}{wrong}); "
            f"{c.expected:.1f} expected from students of their ability working alone (p = {c.p:.2g})."
        )
    if pair.numbers and pair.numbers.shared:
        differ = sum(s.params_differ for s in pair.numbers.shared)
        lines.append(
            f"Numbers: {len(pair.numbers.shared)} identical value(s) that are not both right"
            + (f", {differ} of them with different parameters" if differ else "")
            + f" (p = {pair.numbers.p:.2g})."
        )
    if code_index and code_index.shared:
        lines.append(
            f"Code: {code_index.similarity:.0%} of fingerprints shared beyond the starter, the "
            f"reference and the class's common idioms ({code_index.shared} fingerprints, "
            f"{len(code_index.passages)} passage(s) shown; p = {code_index.p:.2g})."
        )
    if pair.text:
        lines.append(
            f"Written answers: {len(pair.text)} near-duplicate(s), closest {pair.listed_text:.2f} "
            "(closer to each other than to the model answer)"
            + (f"; p = {pair.text_p:.2g}." if pair.text_p is not None else ".")
        )
    return lines


def check_integrity(
    sheets: list[Sheet],
    settings: Settings,
    chart: dict[str, seats.Seat] | None = None,
    notes: list[str] | None = None,
) -> IntegrityReport:
    """Rank the pairs of a graded class and describe the ones worth a look."""
    notes = list(notes or [])
    ranking = score_class(sheets, settings, chart, notes)
    out = []
    for rank, pair in enumerate(listed(ranking, settings), start=1):
        a, b = sheets[pair.a], sheets[pair.b]
        ci = (
            choices.index_for(pair.choices, a, b, ranking.popularity)
            if pair.choices.items
            else None
        )
        code_index = (
            code.index_for(ranking.tasks, pair.a, pair.b, pair.code_p)
            if pair.code_p is not None
            else None
        )
        out.append(
            Pair(
                rank=rank,
                a=a.id,
                b=b.id,
                name_a=a.name,
                name_b=b.name,
                p=pair.p,
                p_adjusted=pair.p_adjusted,
                q=pair.q,
                neighbours=pair.neighbours,
                reasons=_reasons(pair, ci, code_index),
                choices=ci,
                numbers=pair.numbers,
                code=code_index,
                text=pair.text,
            )
        )
    return IntegrityReport(
        students=len(sheets),
        pairs_tested=len(ranking.pairs),
        alpha=settings.alpha,
        top=settings.top,
        seats=bool(chart),
        text_backend=ranking.backend,
        notes=notes,
        pairs=out,
    )
