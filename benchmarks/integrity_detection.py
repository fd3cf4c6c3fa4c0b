"""Does `mmexam integrity` find copying, and only copying? A synthetic class with known pairs.

    python benchmarks/integrity_detection.py                 # 200 students, 20 injected pairs
    python benchmarks/integrity_detection.py --students 400 --seed 3

1. Papers: one per roster id, drawn from the shipped bank by the real build
   code (`draw_paper`, the function `mmexam build` uses; nothing is rendered).
2. Answers: every student has an ability θ ~ N(0, 1); every item a
   difficulty (from the bank's easy/medium/hard, plus noise), a
   discrimination and fixed distractor popularities, so some wrong options
   attract many students and others almost none. Right with probability
   logistic(a(θ - b)); otherwise a distractor by popularity, sometimes blank.
   Wrong numbers come from a few common slips applied to the student's own
   parameters (×2, ½, ±1, a sign, 0) or an arithmetic accident. Written
   answers are rubric points in the student's own words (dropped and
   reordered words). Code is the reference solution reworked by the student
   (temporaries, checks, prints, different keyword forms), or the untouched
   starter, or nothing.
3. Injected pairs (5 of each kind by default; copier and source never
   reused): **full** copy (every answer the copier could take from the
   source: the same question by its content, else the same printed number
   from the answer sheet; the code files too); **partial** copy of 30% of
   the copier's multiple-choice part; **code** copied with every variable
   renamed, functions reordered and comments changed; **numeric**: the
   numeric answers of one problem both got, copied across different
   parameters.
4. Grading with the grading core (`score_item`, as `mmexam grade` scores each
   item; code checks are not run: their points do not enter the integrity
   check) into graded/*.json, then the integrity check reads that folder,
   variants.json and the submissions exactly as `mmexam integrity` does.
5. Figures: injected pairs found among the listed pairs (q < 0.05, at most
   20), innocent pairs listed, per kind; the same for the 20
   highest-ranked pairs whatever their p-value; the same with a seating
   chart (random seats, each copier beside their source, as copying from a
   paper needs); and a baseline in the same run: the 20 pairs with the most
   identical letters at the same printed numbers (raw agreement, no model of
   chance).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from integrity_class import KINDS, make_class

from mmexam.integrity import Settings
from mmexam.integrity.rank import listed, score_class
from mmexam.integrity.sheets import read_sheets, task_sources

# ---------------------------------------------------------------- figures


def letter_agreement(sheets: list, top: int) -> list[tuple[str, str]]:
    """The baseline: pairs ranked by identical letters at the same printed numbers."""
    letters = [{c.number: c.printed for c in s.choices if c.printed} for s in sheets]
    scored = []
    for a in range(len(sheets)):
        for b in range(a + 1, len(sheets)):
            same = sum(1 for n, x in letters[a].items() if letters[b].get(n) == x)
            scored.append((-same, sheets[a].id, sheets[b].id))
    scored.sort()
    return [(x, y) for _, x, y in scored[:top]]


def tally(found: list[tuple[str, str]], injected: dict[tuple[str, str], str]) -> dict[str, Any]:
    hits = [injected[p] for p in found if p in injected]
    return {
        "found": {k: hits.count(k) for k in KINDS},
        "innocent": sum(1 for p in found if p not in injected),
        "listed": len(found),
    }


def seating(ids: list[str], injected: dict[tuple[str, str], str], seed: int) -> dict:
    """A random seating chart (rows of 10) with every injected pair side by side."""
    rng = random.Random(seed + 2)
    order = list(ids)
    rng.shuffle(order)
    for a, b in injected:
        i = order.index(a)
        j = i + 1 if (i % 10) < 9 else i - 1  # the seat beside a, in the same row
        k = order.index(b)
        order[j], order[k] = order[k], order[j]
    return {sid: ("hall", float(n // 10), float(n % 10)) for n, sid in enumerate(order)}


def run(
    students: int, seed: int, per_kind: int, top: int, work: Path, same: bool = False
) -> dict[str, Any]:
    started = time.perf_counter()
    injected = make_class(work, students, seed, per_kind, same)
    drawn = time.perf_counter()
    sheets, tasks, _ = read_sheets(
        work / "grades", work / "build" / "variants.json", work / "submissions"
    )
    starters, references = task_sources(tasks)
    settings = Settings(top=top, text_backend="lexical", starters=starters, references=references)
    ranking = score_class(sheets, settings)
    checked = time.perf_counter()
    ids = [s.id for s in sheets]
    chart = seating(ids, injected, seed)
    seated = score_class(sheets, settings, chart)
    ours = [(ids[p.a], ids[p.b]) for p in listed(ranking, settings)]
    return {
        "design": "same questions, shuffled" if same else "drawn from the bank",
        "students": students,
        "pairs": len(ranking.pairs),
        "injected": {k: sum(1 for v in injected.values() if v == k) for k in KINDS},
        "integrity": tally(ours, injected),
        "integrity_top": tally([(ids[p.a], ids[p.b]) for p in ranking.pairs[:top]], injected),
        "integrity_seats": tally(
            [(ids[p.a], ids[p.b]) for p in listed(seated, settings)], injected
        ),
        "baseline": tally(letter_agreement(sheets, top), injected),
        "innocent_min_p": min(
            (p.p_adjusted for p in ranking.pairs if (ids[p.a], ids[p.b]) not in injected),
            default=1.0,
        ),
        "innocent_min_q": min(
            (p.q for p in ranking.pairs if (ids[p.a], ids[p.b]) not in injected), default=1.0
        ),
        "seconds_setup": round(drawn - started, 1),
        "seconds_integrity": round(checked - drawn, 1),
        "missed": [
            {"pair": list(p), "kind": k, "rank": _rank(ranking, ids, p)}
            for p, k in injected.items()
            if p not in ours
        ],
    }


def _rank(ranking, ids: list[str], pair: tuple[str, str]) -> tuple[int, float] | None:
    for r, p in enumerate(ranking.pairs, start=1):
        if (ids[p.a], ids[p.b]) == pair:
            return r, p.q
    return None


def show(result: dict[str, Any]) -> None:
    injected = result["injected"]
    total = sum(injected.values())
    print(
        f"{result['design']}: {result['students']} students, {result['pairs']} pairs, "
        f"{total} injected "
        f"({', '.join(f'{v} {k}' for k, v in injected.items())})"
    )
    print(
        f"{'method':<34} {'found':>7} " + " ".join(f"{k:>8}" for k in KINDS) + f" {'innocent':>9}"
    )
    for label, key in (
        ("mmexam integrity (listed)", "integrity"),
        ("mmexam integrity (top 20 by rank)", "integrity_top"),
        ("mmexam integrity --seats (listed)", "integrity_seats"),
        ("baseline: raw letter agreement", "baseline"),
    ):
        t = result[key]
        found = sum(t["found"].values())
        print(
            f"{label:<34} {found:>3}/{total:<3} "
            + " ".join(f"{t['found'][k]:>4}/{injected[k]:<3}" for k in KINDS)
            + f" {t['innocent']:>9}"
        )
    rate = sum(result["integrity"]["found"].values()) / total
    print(
        f"detection rate {rate:.0%}; innocent pairs listed: {result['integrity']['innocent']}; "
        f"most unusual innocent pair: q = {result['innocent_min_q']:.2g}, "
        f"family-wise p = {result['innocent_min_p']:.2g}"
    )
    for miss in result["missed"]:
        print(f"  missed {miss['kind']}: {miss['pair']} (rank, q: {miss['rank']})")
    print(
        f"setup (draw, simulate, grade): {result['seconds_setup']} s; "
        f"integrity check: {result['seconds_integrity']} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200, help="class size (default 200)")
    parser.add_argument("--per-kind", type=int, default=5, help="injected pairs of each kind")
    parser.add_argument("--seed", type=int, default=1, help="seed of papers, answers, pairs")
    parser.add_argument("--top", type=int, default=20, help="pairs listed (default 20)")
    parser.add_argument(
        "--same-questions",
        action="store_true",
        help="everyone gets the same questions (options shuffled, parameters drawn)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mmexam-integrity-") as tmp:
        result = run(
            args.students, args.seed, args.per_kind, args.top, Path(tmp), args.same_questions
        )
    print(json.dumps(result, indent=1)) if args.json else show(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
