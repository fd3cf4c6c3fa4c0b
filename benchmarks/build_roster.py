"""Time a roster build: PDF exam + PDF key for every student, against one variant alone.

    python benchmarks/build_roster.py                  # 300 students, shipped bank
    python benchmarks/build_roster.py --students 60 --jobs 2 --bank question_bank

Prints, from the same run:
  - one variant alone: drawing, rendering and compiling one student's exam and key
    PDF in a fresh process (the bank loaded): the first paper, then the next ones;
  - the roster build: total time and time per student variant, with the workers used,
    and the CPU time it took (this machine is shared, so wall time alone misleads).
Nothing is asserted: the figures are for the README and for comparing changes.
"""

from __future__ import annotations

import argparse
import os
import resource
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
from mmexam.bank import load_bank
from mmexam.build.exam import PaperJob, Settings, make_paper
from mmexam.paths import GRADERS, TEMPLATES
bank, out = load_bank(Path(sys.argv[1])), Path(sys.argv[2])
settings = Settings(1, ("pdf",), True, TEMPLATES, GRADERS)
times = []
for n in range(5):
    start = time.perf_counter()
    make_paper(bank, PaperJob(f"alone{n}", f"Student {n}", None, out / str(n)), settings)
    times.append(time.perf_counter() - start)
print(" ".join(f"{t:.4f}" for t in times))
"""


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the build's workers)."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


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
        start, cpu = time.perf_counter(), cpu_seconds()
        result = build_exam(
            args.bank,
            work / "roster",
            seed=2024,
            roster=roster,
            formats=["pdf"],
            key=True,
            jobs=args.jobs,
        )
        total, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        per = total / args.students
        pdfs = sum(1 for path in result.files if path.suffix == ".pdf")

        cores = os.cpu_count() or 1
        used = min(cores, result.jobs)
        print(
            f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} (shared with other work)"
        )
        print(f"bank: {args.bank}")
        print(
            "one variant alone (draw, render, compile exam + key PDF; bank loaded): "
            f"{cold * 1000:.0f} ms first, {warm * 1000:.0f} ms next"
        )
        print(
            f"roster of {args.students}: {total:.2f} s total, {pdfs} PDFs, {result.jobs} worker "
            f"process(es): {per * 1000:.1f} ms per student variant ({warm / per:.1f}x one alone)"
        )
        print(
            f"  CPU: {cpu / args.students * 1000:.1f} ms per student variant, so "
            f"{cpu / args.students / used * 1000:.1f} ms per student on {used} idle core(s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
