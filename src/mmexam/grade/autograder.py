"""The code part inside Gradescope: an autograder bundle, and the runner it calls.

`write_bundle` writes `autograder.zip` as Gradescope's "Autograder
Specifications" (gradescope-autograders.readthedocs.io) ask: `setup.sh` and
`run_autograder` at the top, unzipped by Gradescope into `/autograder/source`.
With them go this mmexam (`src/mmexam`, `pyproject.toml`), the course's
`graders/` and `config.json` (the code tasks and their titles). `setup.sh`
installs Python, bubblewrap and the pinned requirements (torch from the CPU
wheel index); `run_autograder` runs `python3 -m mmexam.grade.autograder`,
which reads the student's files from `/autograder/submission`, finds each
task's file as intake does (`fusion (1).py` is fusion.py), runs every check,
hidden ones included, in this sandbox, and writes
`/autograder/results/results.json`: one test per check, the score its
points. `MMEXAM_AUTOGRADER_ROOT` moves `/autograder` (for a local run; the
tests use it), and `MMEXAM_AUTOGRADER_PYTHON` chooses the interpreter.

The checks' points are the task's own (what `mmexam check --hidden` shows);
set the assignment's total in Gradescope to their sum (config.json has it).
Inside the bundle the mmexam package sits under `src/` beside
`pyproject.toml`, so the sandbox hides the whole bundle, graders included,
from student code, as it hides a checkout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mmexam.checks.results import CheckResult
from mmexam.grade.results import atomic_write

ROOT_ENV = "MMEXAM_AUTOGRADER_ROOT"
PYTHON_ENV = "MMEXAM_AUTOGRADER_PYTHON"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission (files in $ROOT/submission).
set -euo pipefail
ROOT="${MMEXAM_AUTOGRADER_ROOT:-/autograder}"
PY="${MMEXAM_AUTOGRADER_PYTHON:-python3}"
export PYTHONPATH="$ROOT/source/src"
exec "$PY" -m mmexam.grade.autograder --root "$ROOT"
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when the autograder image is built (Ubuntu).
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip bubblewrap
pip3 install --extra-index-url {index} -r /autograder/source/requirements.txt
"""


class TaskConfig(BaseModel):
    """One code task the bundle grades."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="Code task (graders/<task>/), e.g. fusion.")
    file: str = Field(description="The file students submit for it, e.g. fusion.py.")
    title: str = Field(description="What Gradescope shows as the test group.")


class BundleConfig(BaseModel):
    """config.json of the bundle."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="The exam's title.")
    tasks: list[TaskConfig] = Field(description="The code tasks, in order.")
    points: float = Field(description="Sum of every check's points: the assignment's total.")


@dataclass
class BundleResult:
    """What `write_bundle` wrote."""

    path: Path
    tasks: list[str]
    points: float
    files: list[str] = field(default_factory=list)


def requirements() -> list[str]:
    """mmexam's runtime requirements, pinned to the versions installed here."""
    lines = []
    for spec in importlib.metadata.requires("mmexam") or []:
        if ";" in spec:  # extras (tests) are not needed to grade
            continue
        name = spec.split(">")[0].split("=")[0].split("<")[0].strip()
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            lines.append(spec)
            continue
        lines.append(f"{name}=={version.split('+')[0]}")
    return lines


def write_bundle(out: Path, tasks: list[str], graders: Path, title: str) -> BundleResult:
    """autograder.zip for `tasks`, graded with the course's `graders`."""
    from mmexam.checks import plans
    from mmexam.checks.tasks import task_dir

    package = Path(__file__).resolve().parents[1]
    points = 0.0
    configs = []
    for task in tasks:
        task_dir(task, graders)  # an unknown task: one GradeError naming the known ones
        points += sum(p.points for p in plans(task, graders=graders))
        configs.append(TaskConfig(task=task, file=f"{task}.py", title=f"{task}.py"))
    config = BundleConfig(title=title, tasks=configs, points=round(points, 6))
    out.parent.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:

        def add(name: str, data: bytes | str, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
            names.append(name)

        add("setup.sh", SETUP_SH.format(index=TORCH_INDEX), 0o755)
        add("run_autograder", RUN_AUTOGRADER, 0o755)
        add("requirements.txt", "\n".join(requirements()) + "\n")
        add("config.json", config.model_dump_json(indent=1) + "\n")
        add("pyproject.toml", '[project]\nname = "mmexam-autograder"\nversion = "0"\n')
        for path in _files(package):
            add(f"src/mmexam/{path.relative_to(package).as_posix()}", path.read_bytes())
        for task in tasks:
            for path in _files(graders / task):
                add(
                    f"graders/{task}/{path.relative_to(graders / task).as_posix()}",
                    path.read_bytes(),
                )
    return BundleResult(out, tasks, config.points, names)


def _files(folder: Path) -> list[Path]:
    skip = {"__pycache__", "_data"}
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(folder).parts) and p.suffix != ".pyc"
    )  # fmt: skip


# ---------------------------------------------------------------- inside Gradescope


def grade_submission(root: Path) -> dict:
    """results.json for the submission in `root`/submission, graded with the bundle's checks."""
    from mmexam.checks import run_checks
    from mmexam.grade.submissions import Entry, find_file, read_submission
    from mmexam.paths import GRADERS, trusted_modules
    from mmexam.sandbox import Sandbox

    config = BundleConfig.model_validate_json((root / "source" / "config.json").read_text())
    sub = read_submission(Entry("student", root / "submission", "folder"))
    tests: list[dict] = []
    output: list[str] = []
    sandbox = Sandbox(modules=trusted_modules(GRADERS))
    try:
        for task in config.tasks:
            name = find_file(sub, task.file)
            if name is None:
                output.append(f"{task.file} was not submitted: its checks score 0.")
                result = run_checks(task.task, "", hidden=True, sandbox=sandbox, filename=task.file)
            else:
                source = sub.files[name].decode("utf-8", errors="replace")
                result = run_checks(task.task, source, hidden=True, sandbox=sandbox, filename=name)
            tests += [_test(task, check) for check in result.checks]
    finally:
        sandbox.close()
    output += [f"{n.where}: {n.message}" for n in sub.intake]
    output += [p.line() for p in sub.problems]
    score = round(sum(t.get("score", 0.0) for t in tests), 4)
    return {
        "score": score,
        "output": "\n".join(output) or f"{config.title}: code checks",
        "visibility": "after_published",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _test(task: TaskConfig, check: CheckResult) -> dict:
    lines = [check.message] if check.message and not check.passed else []
    return {
        "name": f"{task.title}: {check.name}",
        "score": round(check.score, 4),
        "max_score": round(check.max_score, 4),
        "output": "\n".join(lines) or ("passed" if check.passed else "skipped"),
        "tags": [task.task, check.kind],
        "visibility": "visible" if check.visibility == "public" else "after_published",
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m mmexam.grade.autograder --root /autograder` (what run_autograder calls)."""
    parser = argparse.ArgumentParser(prog="mmexam.grade.autograder")
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV, "/autograder"))
    root = Path(parser.parse_args(argv).root)
    results = grade_submission(root)
    target = root / "results" / "results.json"
    atomic_write(target, json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {target}: {results['score']} points", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by run_autograder
    sys.exit(main())
