"""Code similarity by winnowed token fingerprints (Schleimer, Wilkerson and Aiken 2003, as MOSS).

**Normalising.** A file is read with Python's own `tokenize`. Comments, blank
lines and docstrings are dropped; every local name becomes `V` (so renamed
variables and functions do not hide a copy), numbers become `0` and strings
`S`; keywords, operators, indentation and attribute names (`torch.einsum`
stays `. einsum`) are kept, because they are the shape of the code.

**Fingerprints.** Each run of K tokens is hashed; winnowing keeps the smallest
hash of every window of W consecutive hashes, which guarantees that any
match of at least K + W - 1 tokens is seen whatever surrounds it. Reordered
functions keep their fingerprints.

**What everyone shares is removed.** Every k-gram of the task's generated
starter and of its reference is removed (all students start from the one
and many end close to the other: writing `torch.einsum` the way the
reference does is no evidence), and so is any fingerprint found in more than
a quarter of the class's files for the task (the course's idioms).

**The p-value.** From the first student's remaining fingerprints, those at
least K tokens apart are taken (so they do not overlap and are close to
independent); each is found in the second student's file by chance with
probability (d + ½) / (n + 1), where d of the n other students' files contain
it. The count found is Poisson-binomial; the smaller tail of the two
directions, times two, is the p-value.
"""

from __future__ import annotations

import hashlib
import io
import keyword
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from mmexam.integrity.models import CodeIndex, Passage, Sheet
from mmexam.integrity.stats import poisson_binomial_tail

K = 10
"""Tokens per k-gram."""
W = 5
"""Winnowing window: any shared run of K + W - 1 = 14 tokens is found."""
COMMON = 0.25
"""A fingerprint in more than this share of the class's files is an idiom, not evidence."""
MAX_PASSAGES = 4
"""Passages shown per pair."""
BATCH = 4096
"""Pairs whose exact tails are computed together."""

_FALLBACK = re.compile(r"#[^\n]*|\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|\"[^\"\n]*\"|'[^'\n]*'|\w+|\S")


@dataclass(frozen=True)
class Token:
    text: str
    line: int


def normalise(source: str) -> list[Token]:
    """The normalised token stream of a Python file (broken files are read coarsely)."""
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _coarse(source)
    out: list[Token] = []
    previous = "NEWLINE"
    skip_newline = False
    for i, tok in enumerate(raw):
        kind = tokenize.tok_name[tok.type]
        if kind in ("COMMENT", "NL", "ENCODING", "ENDMARKER"):
            continue
        line = tok.start[0]
        if kind == "STRING":
            following = next(
                (t for t in raw[i + 1 :] if tokenize.tok_name[t.type] not in ("COMMENT", "NL")),
                None,
            )
            statement = previous in ("NEWLINE", "INDENT", "DEDENT")
            if statement and following is not None and following.type == tokenize.NEWLINE:
                skip_newline = True  # a docstring or a bare string: documentation
                continue
            out.append(Token("S", line))
        elif kind == "NAME":
            word = keyword.iskeyword(tok.string) or keyword.issoftkeyword(tok.string)
            attribute = bool(out) and out[-1].text == "."
            out.append(Token(tok.string if word or attribute else "V", line))
        elif kind == "NUMBER":
            out.append(Token("0", line))
        elif kind == "NEWLINE":
            if skip_newline:
                skip_newline = False
                continue
            out.append(Token(";", line))
        elif kind == "INDENT":
            out.append(Token("{", line))
        elif kind == "DEDENT":
            out.append(Token("}", line))
        else:
            out.append(Token(tok.string, line))
        previous = kind
    return out


def _coarse(source: str) -> list[Token]:
    out = []
    for match in _FALLBACK.finditer(source):
        text = match.group()
        line = source.count("\n", 0, match.start()) + 1
        if text.startswith("#") or text[:3] in ('"""', "'''"):
            continue
        if text[0] in "\"'":
            out.append(Token("S", line))
        elif text[0].isdigit():
            out.append(Token("0", line))
        elif text[0].isalpha() or text[0] == "_":
            keep = keyword.iskeyword(text) or (out and out[-1].text == ".")
            out.append(Token(text if keep else "V", line))
        else:
            out.append(Token(text, line))
    return out


def kgram_hashes(tokens: list[Token]) -> list[int]:
    """The hash of the K-gram starting at each position."""
    texts = [t.text for t in tokens]
    return [
        int.from_bytes(
            hashlib.blake2b("\x1f".join(texts[i : i + K]).encode(), digest_size=8).digest(), "big"
        )
        for i in range(len(texts) - K + 1)
    ]


def winnow(hashes: list[int]) -> dict[int, list[int]]:
    """Winnowed fingerprints: hash -> the positions where it was selected."""
    chosen: dict[int, list[int]] = {}
    last = -1
    for start in range(max(len(hashes) - W + 1, 1 if hashes else 0)):
        window = hashes[start : start + W]
        low = min(window)
        pos = start + max(j for j, h in enumerate(window) if h == low)  # rightmost minimum
        if pos != last:
            chosen.setdefault(low, []).append(pos)
            last = pos
    return chosen


@dataclass
class Print:
    """One student's file for one task, fingerprinted."""

    student: int
    name: str
    source: str
    tokens: list[Token]
    kgrams: dict[int, list[int]]  # every k-gram hash -> positions
    chosen: dict[int, list[int]] = field(default_factory=dict)  # winnowed, filtered
    spread: list[int] = field(default_factory=list)  # chosen, at least K tokens apart


def fingerprint(student: int, name: str, source: str) -> Print:
    tokens = normalise(source)
    hashes = kgram_hashes(tokens)
    kgrams: dict[int, list[int]] = {}
    for pos, h in enumerate(hashes):
        kgrams.setdefault(h, []).append(pos)
    return Print(student, name, source, tokens, kgrams, winnow(hashes))


@dataclass
class Task:
    """The class's files for one task, with shared material removed."""

    prints: dict[int, Print]
    df: dict[int, int]  # hash -> files containing it


def prepare(
    sheets: list[Sheet], starters: dict[str, str], references: dict[str, str]
) -> dict[str, Task]:
    """Fingerprint every file, then drop the starter's, the reference's and common ones."""
    tasks: dict[str, Task] = {}
    for s, sheet in enumerate(sheets):
        for file in sheet.code:
            task = tasks.setdefault(file.task, Task({}, {}))
            task.prints[s] = fingerprint(s, file.name, file.source)
    for name, task in tasks.items():
        shared = set()
        for given in (starters.get(name), references.get(name)):
            if given:
                shared.update(kgram_hashes(normalise(given)))
        for p in task.prints.values():
            for h in p.kgrams:
                task.df[h] = task.df.get(h, 0) + 1
        cutoff = max(3, COMMON * len(task.prints))
        for p in task.prints.values():
            p.chosen = {
                h: pos for h, pos in p.chosen.items() if h not in shared and task.df[h] <= cutoff
            }
            p.spread = _spread(p)
    return tasks


def candidates(tasks: dict[str, Task]) -> set[tuple[int, int]]:
    """Pairs (a < b) sharing at least one kept fingerprint."""
    found: set[tuple[int, int]] = set()
    for task in tasks.values():
        owners: dict[int, list[int]] = {}
        for s, p in task.prints.items():
            for h in p.chosen:
                owners.setdefault(h, []).append(s)
        for group in owners.values():
            for i, a in enumerate(group):
                for b in group[i + 1 :]:
                    found.add((min(a, b), max(a, b)))
    return found


def _spread(p: Print) -> list[int]:
    """Kept fingerprints at least K tokens apart (greedy along the file)."""
    picked, last = [], -K
    for pos, h in sorted((pos[0], h) for h, pos in p.chosen.items()):
        if pos - last >= K:
            picked.append(h)
            last = pos
    return picked


def _tail(task: Task, first: Print, second: Print) -> tuple[list[float], int]:
    others = len(task.prints) - 2
    probs, hits = [], 0
    for h in first.spread:
        d = task.df.get(h, 0) - 1 - (h in second.kgrams)
        probs.append((d + 0.5) / (others + 1))
        hits += h in second.kgrams
    return probs, hits


def score_pairs(
    tasks: dict[str, Task], pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], float]:
    """The code p-value of each pair (a < b), over every task both submitted."""
    owners: list[tuple[int, int]] = []
    rows: list[list[float]] = []
    counts: list[int] = []
    for a, b in pairs:
        common = [t for _, t in sorted(tasks.items()) if a in t.prints and b in t.prints]
        for first, second in ((a, b), (b, a)):
            probs: list[float] = []
            hits = 0
            for task in common:
                p, h = _tail(task, task.prints[first], task.prints[second])
                probs += p
                hits += h
            if hits:
                owners.append((a, b))
                rows.append(probs)
                counts.append(hits)
    found: dict[tuple[int, int], float] = {}
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        width = max(len(r) for r in chunk)
        matrix = np.zeros((len(chunk), width))
        for i, r in enumerate(chunk):
            matrix[i, : len(r)] = r
        tails = poisson_binomial_tail(matrix, np.array(counts[start : start + BATCH]))
        for pair, tail in zip(owners[start : start + BATCH], tails):
            found[pair] = min(found.get(pair, 1.0), min(1.0, 2 * float(tail)))
    return found


def index_for(tasks: dict[str, Task], a: int, b: int, p: float) -> CodeIndex | None:
    """The report's view of one pair's code: similarity and the matching passages."""
    shared = total = 0
    passages: list[Passage] = []
    for name, task in sorted(tasks.items()):
        if a not in task.prints or b not in task.prints:
            continue
        pa, pb = task.prints[a], task.prints[b]
        both = [h for h in pa.chosen if h in pb.kgrams]
        shared += len(both)
        total += min(len(pa.chosen), len(pb.chosen))
        passages += _passages(name, pa, pb, both)
    if not total and not shared:
        return None
    passages.sort(key=lambda x: x.lines_a[0] - x.lines_a[1])
    return CodeIndex(
        p=p,
        similarity=round(min(shared / total, 1.0), 3) if total else 0.0,
        shared=shared,
        passages=passages[:MAX_PASSAGES],
    )


def _lines(p: Print, pos: int) -> tuple[int, int]:
    return p.tokens[pos].line, p.tokens[min(pos + K - 1, len(p.tokens) - 1)].line


def _passages(task: str, pa: Print, pb: Print, both: list[int]) -> list[Passage]:
    """Matching fingerprints merged into line ranges, each with its counterpart."""
    spans = sorted((_lines(pa, pa.chosen[h][0]), _lines(pb, pb.kgrams[h][0])) for h in both)
    merged: list[list[int]] = []
    for (a0, a1), (b0, b1) in spans:
        near = merged and merged[-1][2] - 2 <= b0 <= merged[-1][3] + 2
        if near and a0 <= merged[-1][1] + 1:
            last = merged[-1]
            last[1] = max(last[1], a1)
            last[2], last[3] = min(last[2], b0), max(last[3], b1)
        else:
            merged.append([a0, a1, b0, b1])
    la, lb = pa.source.splitlines(), pb.source.splitlines()
    return [
        Passage(
            task=task,
            file_a=pa.name,
            lines_a=(a0, a1),
            text_a="\n".join(la[a0 - 1 : a1]),
            file_b=pb.name,
            lines_b=(b0, b1),
            text_b="\n".join(lb[b0 - 1 : b1]),
        )
        for a0, a1, b0, b1 in merged
    ]
