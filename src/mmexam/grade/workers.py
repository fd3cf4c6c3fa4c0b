"""Code in workers: every submitted task file run through the checks, in sandboxed workers.

One job per student (their files share one sandboxed child); the worker runs
`mmexam.checks.run_checks` on each file and sends back a `StudentCode`, as
JSON-able data across the process boundary; this side validates it into the
same models (`TaskResult`, `CheckResult`) that scoring and the outputs read.
A grader that fails on a file, a crashed worker or a pool that stops early
costs only the files concerned: they become `TaskResult`s with `failure` set,
and the student is graded again on the next run.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from contextlib import closing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmexam.checks.results import TaskResult
from mmexam.grade.student import Work


class StudentCode(BaseModel):
    """What a worker sends back for one student: the checks' result for each task file."""

    model_config = ConfigDict(extra="forbid")

    student: str = Field(description="The student id the job was for.")
    tasks: dict[str, TaskResult] = Field(description="The result of each submitted task file.")


def grade_code_job(sandbox: Any, job: dict) -> dict:
    """Worker side: run every submitted task file of one student through the checks."""
    from mmexam.checks import run_checks

    tasks = {}
    graders = Path(job["graders"]) if job.get("graders") else None
    with sandbox.session(job["student"]):  # one student's files share one sandboxed child
        for task, (source, filename) in sorted(job["files"].items()):
            try:
                result = run_checks(
                    task, source, hidden=True, sandbox=sandbox, filename=filename, graders=graders
                )
            except Exception as error:  # noqa: BLE001 — a grader failure costs this task only
                result = TaskResult(
                    task=task, filename=filename, failure=f"{type(error).__name__}: {error}"
                )
            tasks[task] = result
    return StudentCode(student=job["student"], tasks=tasks).model_dump(mode="json")


def grade_code(
    works: list[Work],
    workers: int,
    limits: Any,
    require_sandbox: bool,
    graders: Path | None = None,
    hide: tuple[Path, ...] = (),
    device: str = "cpu",
) -> Generator[tuple[Work, dict[str, TaskResult]]]:
    """Yield every work with the checks' result for each of its code files: first the
    works without code, then the others as the sandboxed workers finish them.
    `graders`: the course's graders/ folder (default: the shipped sample's); `hide`:
    folders the sandbox must hide wherever they lie (course, build, submissions);
    `device`: where the students' code runs, cpu or cuda."""
    jobs = []
    waiting: dict[str, Work] = {}
    for work in works:
        if work.code_files:
            jobs.append(
                {
                    "student": work.submission.id,
                    "files": work.code_files,
                    "graders": str(graders) if graders else None,
                }
            )
            waiting[work.submission.id] = work
        else:
            yield work, {}
    with closing(_run_jobs(jobs, workers, limits, require_sandbox, graders, hide, device)) as run:
        for student_id, code, failure in run:
            work = waiting.pop(student_id)
            yield work, (code.tasks if code is not None else _failed(work, failure))
    for work in waiting.values():  # a pool that stopped early: grade them next time
        yield work, _failed(work, "the grading workers stopped")


def _failed(work: Work, why: str) -> dict[str, TaskResult]:
    return {
        task: TaskResult(task=task, filename=name, failure=why)
        for task, (_, name) in work.code_files.items()
    }


def _run_jobs(
    jobs: list[dict],
    workers: int,
    limits: Any,
    require_sandbox: bool,
    graders: Path | None,
    hide: tuple[Path, ...] = (),
    device: str = "cpu",
) -> Generator[tuple[str, StudentCode | None, str]]:
    """Yield (student, their code's results or None, why it failed) as the workers finish."""
    if not jobs:
        return
    from mmexam.paths import GRADERS, trusted_modules
    from mmexam.sandbox import Limits, SandboxWarning, map_in_workers

    limits = limits or Limits()
    timeout = 4 * limits.wall_seconds_per_submission + 60

    with warnings.catch_warnings():
        # the run reports a missing bwrap once, as a note in its summary and report
        warnings.simplefilter("ignore", SandboxWarning)
        # closed with this generator (Ctrl-C included): its workers stop then
        done_jobs = map_in_workers(
            grade_code_job,
            jobs,
            workers,
            limits,
            ordered=False,
            device=device,
            require_sandbox=require_sandbox,
            item_timeout=timeout,
            modules=trusted_modules(graders or GRADERS),
            hide=hide,
        )
        for done in done_jobs:
            student = jobs[done.index]["student"]
            if not done.ok:
                yield student, None, done.error or "no result"
                continue
            try:
                code = StudentCode.model_validate(done.value)
            except ValidationError as error:
                yield (
                    student,
                    None,
                    f"the worker's result is not valid ({error.error_count()} errors)",
                )
            else:
                yield student, code, ""
