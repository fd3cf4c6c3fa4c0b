"""Time a roster build: PDF exam + PDF key for every student, against one variant alone.

    python benchmarks/build_roster.py                  # 300 students, shipped bank
    python benchmarks/build_roster.py --students 60 --jobs 2 --bank question_bank

Prints, from the same run:
  - one variant alone: a fresh `mmexam build` of a single version (exam + key PDF),
    first in a new process (cold) and then again in the same process (warm);
  - the roster build: total time and time per student variant, with the workers used.
Nothing is asserted: the figures are for the README and for comparing changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ONE_VARIANT = """
import sys, time
from pathlib import Path
from mmexam.build import build_exam
bank, out = Path(sys.argv[1]), Path(sys.argv[2])
times = []
for n in range(4):
    start = time.perf_counter()
    build_exam(bank, out / str(n), seed=n, formats=["pdf"], key=True, jobs=1)
    times.append(time.perf_counter() - start)
print(" ".join(f"{t:.4f}" for t in times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    parser.add_argument("--bank", type=Path, default=REPO / "question_bank")
    args = parser.parse_args()

    from mmexam.build import build_exam

    work = Path(tempfile.mkdtemp(prefix="mmexam-bench-"))
    try:
        # One variant alone, in a fresh interpreter: the first build is cold (imports,
        # fonts, templates), the next ones show the steady cost of one paper.
        done = subprocess.run(
            [sys.executable, "-c", ONE_VARIANT, str(args.bank), str(work / "one")],
            capture_output=True,
            text=True,
            check=True,
        )
        alone = [float(t) for t in done.stdout.split()]
        cold, warm = alone[0], statistics.median(alone[1:])

        roster = work / "roster.csv"
        roster.write_text(
            "id,name\n" + "".join(f"s{n:04d},Student {n}\n" for n in range(args.students))
        )
        start = time.perf_counter()
        result = build_exam(
            args.bank,
            work / "roster",
            seed=2024,
            roster=roster,
            formats=["pdf"],
            key=True,
            jobs=args.jobs,
        )
        total = time.perf_counter() - start
        per = total / args.students
        pdfs = sum(1 for path in result.files if path.suffix == ".pdf")

        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        print(f"bank: {args.bank}")
        print(
            f"one variant alone (exam + key PDF): {cold * 1000:.0f} ms cold, {warm * 1000:.0f} ms warm"
        )
        print(
            f"roster of {args.students}: {total:.2f} s total, {pdfs} PDFs, {result.jobs} "
            f"worker process(es): {per * 1000:.1f} ms per student variant "
            f"({warm / per:.1f}x one variant alone)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
