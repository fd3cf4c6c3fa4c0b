"""How many decisions a TA makes to grade a labelled set of short answers, with
identical-only grouping against the groups `mmexam review` proposes.

The data (benchmarks/data/review_grouping.yaml) are typed short answers to six
questions of the shipped bank, written for this benchmark: each question has a
few distinct ideas (right, partly right, wrong), each idea several paraphrases,
some repeated with other case or spacing, as a class writes them.

Counting decisions, as a TA works through a slot:

- identical-only: one decision per distinct answer (after normalising case,
  punctuation and spacing: `mmexam review`'s identical groups);
- proposed: one decision per proposed group (grade it as its majority idea
  deserves), plus two per distinct answer of another idea inside it (split it
  off, grade it): a wrong member costs more than a missed merge.

Purity: the share of answers whose group's majority idea is their own idea.

Usage: python benchmarks/review_grouping.py [--measure auto|embedding|lexical|both]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mmexam.serve.review.groups import (
    THRESHOLDS,
    Group,
    choose_measure,
    identical_groups,
    propose_groups,
)

DATA = Path(__file__).resolve().parent / "data" / "review_grouping.yaml"


def load(path: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """question -> answer id -> (text, idea)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for question, ideas in raw.items():
        answers = {}
        for idea, spec in ideas.items():
            for n, text in enumerate(spec["answers"]):
                answers[f"{idea}/{n:02d}"] = (text, idea)
        out[question] = answers
    return out


def score(groups: list[Group], answers: dict[str, tuple[str, str]]) -> tuple[int, int, int]:
    """(decisions, answers in their group's majority idea, misplaced distinct answers)."""
    decisions = pure = misplaced = 0
    for group in groups:
        ideas = Counter(answers[a][1] for a in group.members)
        majority, count = ideas.most_common(1)[0]
        pure += count
        decisions += 1
        texts = {a: answers[a][0] for a in group.members if answers[a][1] != majority}
        wrong_distinct = len(identical_groups(texts)) if texts else 0
        misplaced += wrong_distinct
        decisions += 2 * wrong_distinct
    return decisions, pure, misplaced


def run(name: str, data: dict[str, dict[str, tuple[str, str]]]) -> dict[str, float]:
    t0 = time.perf_counter()
    used, measure = choose_measure(name)
    loaded = time.perf_counter() - t0
    threshold = THRESHOLDS[used]
    print(f"\nmeasure: {used} (threshold {threshold}; loading {loaded:.1f} s)")
    header = f"{'question':34} {'answers':>7} {'ideas':>5} {'identical-only':>14} "
    print(header + f"{'groups':>6} {'proposed':>8} {'purity':>7} {'ms':>6}")
    totals = Counter()
    for question, answers in data.items():
        texts = {a: t for a, (t, _) in answers.items()}
        identical = len(identical_groups(texts))
        t1 = time.perf_counter()
        groups = propose_groups(texts, measure, threshold)
        ms = (time.perf_counter() - t1) * 1000
        decisions, pure, _ = score(groups, answers)
        ideas = len({i for _, i in answers.values()})
        print(
            f"{question:34} {len(answers):7} {ideas:5} {identical:14} {len(groups):6} "
            f"{decisions:8} {pure / len(answers):7.1%} {ms:6.0f}"
        )
        totals.update(answers=len(answers), identical=identical, decisions=decisions, pure=pure)
        totals["ms"] += ms
    ratio = totals["identical"] / totals["decisions"]
    purity = totals["pure"] / totals["answers"]
    print(
        f"{'all':34} {totals['answers']:7} {'':5} {totals['identical']:14} {'':6} "
        f"{totals['decisions']:8} {purity:7.1%} {totals['ms']:6.0f}"
    )
    print(f"decisions: {ratio:.1f}x fewer with proposed groups; purity {purity:.1%}")
    return {"ratio": ratio, "purity": purity}


GRID = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]


def cross_validate(name: str, data: dict[str, dict[str, tuple[str, str]]]) -> None:
    """Leave one question out: its threshold is the best one on the other questions."""
    used, measure = choose_measure(name)
    cache: dict[tuple[str, ...], object] = {}

    def cached(texts):  # the same distinct answers are compared once per question
        key = tuple(texts)
        if key not in cache:
            cache[key] = measure(texts)
        return cache[key]

    table: dict[tuple[str, float], tuple[int, int, int]] = {}
    for question, answers in data.items():
        texts = {a: t for a, (t, _) in answers.items()}
        for threshold in GRID:
            decisions, pure, _ = score(propose_groups(texts, cached, threshold), answers)
            table[question, threshold] = (decisions, pure, len(answers))
    identical = {
        q: len(identical_groups({a: t for a, (t, _) in v.items()})) for q, v in data.items()
    }
    totals = Counter()
    for held in data:
        rest = [q for q in data if q != held]

        def saved(th: float, rest: list[str] = rest) -> tuple[bool, float]:
            d = sum(table[q, th][0] for q in rest)
            p = sum(table[q, th][1] for q in rest) / sum(table[q, th][2] for q in rest)
            return p >= 0.95, sum(identical[q] for q in rest) / d

        best = max(GRID, key=saved)
        decisions, pure, n = table[held, best]
        totals.update(decisions=decisions, pure=pure, answers=n, identical=identical[held])
        print(
            f"  {held:34} threshold {best:<5} {identical[held]:3} -> {decisions:3} decisions, "
            f"purity {pure / n:.1%}"
        )
    print(
        f"leave-one-question-out ({used}): {totals['identical'] / totals['decisions']:.1f}x fewer, "
        f"purity {totals['pure'] / totals['answers']:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--measure", default="both", choices=["auto", "embedding", "lexical", "both"]
    )
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    data = load(args.data)
    load1, load5, load15 = os.getloadavg()
    print(
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load1:.1f} / {load5:.1f} / {load15:.1f}"
    )
    names = ["lexical", "embedding"] if args.measure == "both" else [args.measure]
    for name in names:
        run(name, data)
        cross_validate(name, data)


if __name__ == "__main__":
    main()
