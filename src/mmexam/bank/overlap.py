"""Which questions may not share a paper, declared and suspected.

Declared: a question's `excludes:` names questions that repeat it or give it
away; the relation is symmetric (either side may declare it), and the draw
never puts both on one paper.

Suspected: `suspected_overlaps` compares what every question (and every part
of a problem) asks and answers — its text, its keyed options, its reference
answer — by tf-idf cosine over content words, across the whole bank. A pair
above `THRESHOLD` that is not declared is reported by `mmexam validate`, so
an author either declares it or rewrites one of the two. Template
expressions (`{{ ... }}`) are left out: what a parameterised question asks
is in its words, not in its drawn numbers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mmexam.bank.models import Problem

THRESHOLD = 0.36
"""Cosine at or above which two questions are reported as a possible overlap.

Chosen on the shipped bank: every pair at or above it asks the same thing
(e.g. mcq-diffusion-vs-vae and short-diffusion-vs-vae at 0.58); below it the
pairs share a topic but ask different things."""

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "not",
        "no",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "which",
        "what",
        "how",
        "why",
        "does",
        "do",
        "can",
        "from",
        "as",
        "into",
        "than",
        "then",
        "there",
        "their",
        "they",
        "each",
        "one",
        "two",
        "your",
        "you",
        "per",
        "all",
        "any",
        "both",
        "only",
        "when",
        "where",
        "while",
        "about",
        "between",
        "these",
        "those",
        "such",
        "has",
        "have",
        "was",
        "were",
        "will",
        "would",
        "should",
        "could",
        "may",
        "might",
        "use",
        "used",
        "using",
        "give",
        "gives",
        "given",
    ]
)
LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOP_WORDS = 12
"""Pairs are compared only when they share one of their 12 most weighted words."""
MAX_POSTING = 200
"""A word that is among the most weighted of more than this many questions (or of 5% of
them, if more) is not used to find pairs (a 5,000-question bank would otherwise compare
nearly every pair)."""


@dataclass(frozen=True)
class Overlap:
    """Two questions that look alike; `where` names the problem parts compared."""

    first: str
    second: str
    score: float
    where: tuple[str, str]


def exclusions(questions: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Every question's declared exclusions, both directions, by id (ids not in the bank dropped)."""
    found: dict[str, set[str]] = {qid: set() for qid in questions}
    for qid, question in questions.items():
        for other in question.excludes:
            if other in found and other != qid:
                found[qid].add(other)
                found[other].add(qid)
    return {qid: frozenset(others) for qid, others in found.items()}


def _words(text: str) -> list[str]:
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.DOTALL)
    return [
        w
        for w in re.findall(r"[a-z][a-z0-9-]+", text.casefold())
        if w not in STOP_WORDS and len(w) > 2
    ]


def _keyed(body: Any) -> list[str]:
    options = getattr(body, "options", None)
    if not options:
        return []
    letters = [body.answer] if body.kind == "mcq" else list(body.answers)
    chosen = [options[LETTERS.index(x)] for x in letters if LETTERS.index(x) < len(options)]
    return [o if isinstance(o, str) else o.text for o in chosen]


def _asks(body: Any) -> str:
    """What one question (or problem part) asks and what answers it."""
    pieces = [body.text, *_keyed(body)]
    reference = getattr(body, "reference", None)
    if reference:
        pieces.append(reference)
    return " ".join(pieces)


def units(question: Any) -> list[tuple[str, str]]:
    """(label, text) for a question, or one per part of a problem (with the shared setup)."""
    if isinstance(question, Problem):
        return [
            (f"({LETTERS[k]})", f"{question.text} {_asks(part)}")
            for k, part in enumerate(question.parts)
        ]
    return [("", _asks(question))]


def _vectors(questions: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    counted = [
        (qid, label, Counter(_words(text)))
        for qid, question in questions.items()
        for label, text in units(question)
    ]
    frequency: Counter = Counter(w for _, _, c in counted for w in c)
    total = len(counted)
    vectors = []
    for qid, label, counts in counted:
        weights = {w: (1 + math.log(n)) * math.log(total / frequency[w]) for w, n in counts.items()}
        norm = math.sqrt(sum(x * x for x in weights.values())) or 1.0
        vectors.append((qid, label, {w: x / norm for w, x in weights.items()}))
    return vectors


def _candidates(vectors: list[tuple[str, str, dict[str, float]]]) -> set[tuple[int, int]]:
    """Index pairs that share one of their most weighted words (only those can score high)."""
    index: dict[str, list[int]] = {}
    for i, (_, _, vector) in enumerate(vectors):
        for word in sorted(vector, key=lambda w: -vector[w])[:TOP_WORDS]:
            index.setdefault(word, []).append(i)
    # A word among the top ones of very many questions pairs everything with everything
    # and is a topic, not a sign that two questions ask the same: skip it as a key.
    widest = max(MAX_POSTING, len(vectors) // 20)
    pairs = set()
    for members in index.values():
        if len(members) > widest:
            continue
        for k, i in enumerate(members):
            for j in members[k + 1 :]:
                if vectors[i][0] != vectors[j][0]:
                    pairs.add((i, j) if i < j else (j, i))
    return pairs


def suspected_overlaps(questions: dict[str, Any], threshold: float = THRESHOLD) -> list[Overlap]:
    """Pairs of different questions whose asks look alike, best match per pair, highest first."""
    vectors = _vectors(questions)
    best: dict[tuple[str, str], Overlap] = {}
    for i, j in _candidates(vectors):
        (qa, la, va), (qb, lb, vb) = vectors[i], vectors[j]
        small, large = (va, vb) if len(va) < len(vb) else (vb, va)
        score = sum(x * large.get(w, 0.0) for w, x in small.items())
        if score < threshold:
            continue
        pair = (qa, qb) if qa < qb else (qb, qa)
        where = (la, lb) if qa < qb else (lb, la)
        if pair not in best or score > best[pair].score:
            best[pair] = Overlap(pair[0], pair[1], round(score, 2), where)
    return sorted(best.values(), key=lambda o: (-o.score, o.first, o.second))


def undeclared(questions: dict[str, Any], threshold: float = THRESHOLD) -> list[Overlap]:
    """Suspected overlaps that no `excludes:` declares."""
    declared = exclusions(questions)
    return [
        o for o in suspected_overlaps(questions, threshold) if o.second not in declared[o.first]
    ]
