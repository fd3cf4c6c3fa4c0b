"""Answer groups: identical answers are one group; similar ones are proposed by meaning.

1. *Identical*: answers equal after lower-casing, dropping punctuation and
   collapsing spacing (`mmexam.grade.manual.normalise_answer`) are one group,
   always: grading it grades every copy.
2. *Proposed*: the distinct answers are compared by a similarity measure — the
   cosine of all-MiniLM-L6-v2 sentence embeddings where the optional model is
   installed (`pip install 'mmexam[review]'`, see `mmexam.embedding`), else the
   Jaccard similarity of word sets plus character 4-grams — and clustered by
   average linkage: the most frequent distinct answer opens a group, and each
   next one joins the group whose members it is, on average, most similar to,
   if that average reaches the measure's threshold (and it is at least as
   similar to that group's first answer), else opens its own. A TA confirms a
   proposed group or splits answers off it.

The thresholds were chosen on the labelled set of `benchmarks/review_grouping.py`
(see benchmarks/README.md): high enough that groups stay pure, because a
wrong member costs a TA two decisions (split it off, grade it) while a missed
merge costs one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mmexam.embedding import embedding_backend
from mmexam.grade.manual import normalise_answer

THRESHOLDS = {"embedding": 0.72, "lexical": 0.42}
"""Average similarity from which a distinct answer joins a proposed group."""

Measure = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Group:
    """Answer ids that are graded together: 'identical', 'proposed', or 'single'."""

    members: tuple[str, ...]
    how: str


def _features(text: str) -> set[str]:
    clean = normalise_answer(text)
    words = {w for w in re.findall(r"\w+", clean) if len(w) > 2}
    grams = {clean[i : i + 4] for i in range(max(len(clean) - 3, 1))}
    return words | {"#" + g for g in grams}


def lexical(texts: Sequence[str]) -> np.ndarray:
    """Pairwise Jaccard similarity of word sets plus character 4-grams."""
    sets = [_features(t) for t in texts]
    n = len(sets)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            union = len(sets[i] | sets[j])
            out[i, j] = out[j, i] = len(sets[i] & sets[j]) / union if union else 0.0
    return out


def choose_measure(name: str = "auto") -> tuple[str, Measure]:
    """'auto' takes the embedding model where installed, else the lexical measure."""
    if name in ("auto", "embedding"):
        embed = embedding_backend()
        if embed is not None:
            return "embedding", embed
    return "lexical", lexical


def identical_groups(answers: Mapping[str, str]) -> list[list[str]]:
    """Answer ids by normalised text, largest group first, deterministic."""
    by_text: dict[str, list[str]] = {}
    for aid in sorted(answers):
        by_text.setdefault(normalise_answer(answers[aid]), []).append(aid)
    return sorted(by_text.values(), key=lambda ids: (-len(ids), ids[0]))


def propose_groups(
    answers: Mapping[str, str], measure: Measure | None, threshold: float
) -> list[Group]:
    """Groups of answer ids: identical copies always together, similar ones proposed."""
    same = identical_groups(answers)
    if measure is None or len(same) < 2:
        return [_plain(ids) for ids in same]
    texts = [answers[ids[0]] for ids in same]
    sim = measure(texts)
    clusters: list[list[int]] = []
    for i in range(len(same)):
        best, best_score = None, threshold
        for c, members in enumerate(clusters):
            score = float(np.mean(sim[i, members]))
            if score >= best_score and sim[i, members[0]] >= threshold:
                best, best_score = c, score
        if best is None:
            clusters.append([i])
        else:
            clusters[best].append(i)
    out = []
    for members in clusters:
        ids = tuple(aid for m in members for aid in same[m])
        out.append(_plain(list(ids)) if len(members) == 1 else Group(ids, "proposed"))
    return sorted(out, key=lambda g: (-len(g.members), g.members[0]))


def _plain(ids: list[str]) -> Group:
    return Group(tuple(ids), "identical" if len(ids) > 1 else "single")
