"""Time `mmexam grade` end to end on generated submissions of the shipped exam.

    python benchmarks/grade_exam.py               # 1,000 submissions
    python benchmarks/grade_exam.py --count 200 --jobs 2

Draws one paper per generated student from the shipped bank (the same code
`mmexam build` uses), writes a submission for each with the personas of
examples/make_submissions.py in turn (perfect, typical with a bug, blank,
late start, syntax error, wrong names, hostile zip, mixed free text, ...;
every part: MCQs, numerics, free text and three code files), and grades the
folder. Printed, from the same run:

- the first grading run: submissions per second, end to end (reading,
  scoring, sandboxed code checks, review sheets, every output file);
- the baseline: a fresh `mmexam grade` process per submission, as a
  per-student script or a naive autograder loop would do it (timed on a
  few submissions, then per submission);
- a re-run with nothing to do (everything resumed from saved results), and
  an `--only` regrade of one question for everybody.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_examples():
    spec = importlib.util.spec_from_file_location(
        "make_submissions", REPO / "examples" / "make_submissions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(root: Path, count: int) -> tuple[Path, Path]:
    """variants.json for `count` students and one submission each."""
    from mmexam.bank import load_bank
    from mmexam.build.variants import draw_paper
    from mmexam.exam import Manifest, content_hash
    from mmexam.paths import DEFAULT_BANK

    examples = load_examples()
    bank = load_bank(DEFAULT_BANK)
    ids = [f"b{k:05d}" for k in range(count)]
    students = [
        draw_paper(bank, 0, sid, name=f"Student {k}").manifest_entry() for k, sid in enumerate(ids)
    ]
    used = sorted({item.question for s in students for item in s.items})
    manifest = Manifest(
        seed=0,
        bank=str(DEFAULT_BANK),
        question_hashes={q: content_hash(bank.questions[q]) for q in used},
        students=students,
    )
    variants = root / "variants.json"
    variants.write_text(json.dumps(manifest.model_dump(mode="json"), sort_keys=True))
    subs = root / "submissions"
    subs.mkdir()
    personas = list(examples.PERSONAS.values())
    for k, entry in enumerate(students):
        s = examples.Student(examples.Paper(bank, entry))
        personas[k % len(personas)](s)
        files = {
            name: data.encode() if isinstance(data, str) else data for name, data in s.files.items()
        }
        if "answers.yaml" not in files:
            text = examples.answers_yaml(s.answers)
            files["answers.yaml"] = (
                text.encode("latin-1", errors="replace")
                if getattr(s, "latin1", False)
                else text.encode()
            )
        if getattr(s, "zip_extra", False) or getattr(s, "nested_zip", False):
            examples.write_zip(subs / f"{entry.id}.zip", files)
        else:
            (subs / entry.id).mkdir()
            for name, data in files.items():
                (subs / entry.id / name).write_bytes(data)
    return subs, variants


def grade(subs: Path, variants: Path, out: Path, jobs: int, **extra):
    from mmexam.grade.engine import GradeOptions, grade_submissions
    from mmexam.paths import DEFAULT_BANK

    started = time.perf_counter()
    summary = grade_submissions(
        GradeOptions(
            submissions=subs,
            variants=variants,
            bank=DEFAULT_BANK,
            out=out / "grades",
            manual=out / "manual",
            jobs=jobs,
            **extra,
        )
    )
    return time.perf_counter() - started, summary


def fresh_process_each(subs: Path, variants: Path, root: Path, sample: list[str]) -> float:
    """Seconds per submission when every submission gets its own `mmexam grade` process."""
    started = time.perf_counter()
    for sid in sample:
        one = root / f"one-{sid}"
        (one / "subs").mkdir(parents=True)
        source = subs / sid if (subs / sid).is_dir() else subs / f"{sid}.zip"
        target = one / "subs" / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mmexam",
                "grade",
                str(one / "subs"),
                "--variants",
                str(variants),
                "--out",
                str(one / "grades"),
                "--manual",
                str(one / "manual"),
                "--jobs",
                "1",
            ],
            check=True,
            capture_output=True,
        )
    return (time.perf_counter() - started) / len(sample)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="Submissions to generate.")
    parser.add_argument("--jobs", type=int, default=0, help="Workers (0: one per core).")
    parser.add_argument(
        "--baseline",
        type=int,
        default=3,
        help="Submissions graded one process each for the baseline.",
    )
    args = parser.parse_args()
    jobs = args.jobs or os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="mmexam-bench-"))
    try:
        t0 = time.perf_counter()
        subs, variants = generate(root, args.count)
        made = time.perf_counter() - t0
        files = sum(1 for p in subs.rglob("*") if p.is_file())
        print(f"generated {args.count} submissions ({files} files) in {made:.1f} s")

        first, summary = grade(subs, variants, root, jobs)
        code = sum(1 for r in summary.results for i in r.items if i.kind == "code")
        print(
            f"first run: {args.count} submissions in {first:.1f} s = "
            f"{args.count / first:.2f} submissions/s with {jobs} workers "
            f"({code} code questions, {sum(r.pending for r in summary.results)} answers "
            f"sent to review, {sum(1 for r in summary.results if r.problems)} with problems)"
        )

        sample = sorted(p.name.removesuffix(".zip") for p in subs.iterdir())[: args.baseline]
        per = fresh_process_each(subs, variants, root, sample)
        print(
            f"baseline, a fresh `mmexam grade` process per submission: {per:.1f} s each = "
            f"{1 / per:.3f} submissions/s (measured on {len(sample)})"
        )
        print(
            f"speed-up of one run over one process per submission: "
            f"{(args.count / first) * per:.0f}x"
        )

        again, summary = grade(subs, variants, root, jobs)
        print(
            f"re-run with nothing to do (all resumed): {again:.1f} s "
            f"({summary.reused} reused, {summary.graded} graded)"
        )
        only = summary.results[0].items[0].number
        regrade, summary = grade(subs, variants, root, jobs, only=only)
        print(f"--only {only} for everyone: {regrade:.1f} s ({summary.graded} rescored)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
