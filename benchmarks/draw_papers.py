"""Draw papers from the shipped bank: overlaps, difficulty spread and draw time, old draw vs new.

    .venv/bin/python benchmarks/draw_papers.py [--papers 2000] [--bank question_bank]

Both draws run in this process, one after the other, on the same papers
(seed k, student "student" for k in 0..papers-1):

- unconstrained: every part on its own (`draw_paper(..., constrained=False)`),
  the draw before `excludes:`, `cover` and `balance` existed;
- constrained: the draw `mmexam build` uses now (`mmexam.build.fairness`).

For each: the share of papers holding two questions that exclude each other,
the lowest and highest expected score (share of the non-bonus points), the
spread and the papers outside the blueprint's band, and the time of the full
`draw_paper` (selection plus parameters and option orders: what a build pays)
and of the selection alone. Prints a Markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from mmexam.bank import load_bank
from mmexam.build.survey import survey
from mmexam.build.variants import draw_paper
from mmexam.paths import DEFAULT_BANK


def full_draw_seconds(bank, papers: int, constrained: bool) -> tuple[float, float]:
    """(wall, CPU) seconds to draw every paper with draw_paper."""
    wall, cpu = time.perf_counter(), time.process_time()
    for seed in range(papers):
        draw_paper(bank, seed, "student", constrained=constrained)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK)
    args = parser.parse_args()
    bank = load_bank(args.bank, math=False)
    draws = [(seed, "student") for seed in range(args.papers)]
    load = os.getloadavg()[0]
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start")
    rows = []
    for constrained in (False, True):
        found = survey(bank, draws, constrained=constrained)
        wall, cpu = full_draw_seconds(bank, args.papers, constrained)
        rows.append((constrained, found, wall, cpu))
    print(f"load average {os.getloadavg()[0]:.1f} at the end; band ±{rows[1][1].band}")
    print()
    print(
        "| draw | papers with an overlap | expected score min–max | spread | outside the band "
        "| selection only | full draw_paper (CPU) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for constrained, found, wall, cpu in rows:
        name = "constrained (now)" if constrained else "unconstrained (before)"
        print(
            f"| {name} | {found.overlapping} ({found.overlap_share:.1%}) | "
            f"{found.expected_min:.3f}–{found.expected_max:.3f} | {found.spread:.3f} | "
            f"{found.outside_band} | {found.seconds:.2f} s | {wall:.1f} s ({cpu:.1f} s) |"
        )
    top = list(rows[0][1].pairs.items())[:5]
    print()
    print("most frequent overlaps of the unconstrained draw:")
    for pair, count in top:
        print(f"  {pair}: {count} papers")


if __name__ == "__main__":
    main()
