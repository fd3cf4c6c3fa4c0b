"""`mmexam grade`: from a folder of submissions to cached per-student results and outputs.

The run, in plain steps:

1. *open the inputs* (`open_run`): read variants.json and the bank and check
   they agree (`mmexam.grade.inputs`); read the TA's review sheets
   (manual/*.csv) so a typo stops the run before any work, with file:line;
   list the submissions (this shard's share with `--shard K/N`);
2. *plan the work* (`plan_work`): for each submission, decide from its
   fingerprint whether its cached result is still good; read the answers and
   find the code files of the others (`mmexam.grade.student`);
3. *grade code* (`mmexam.grade.workers.grade_code`): send the code to the
   sandboxed workers, which run the checks and return `TaskResult`s;
4. *score* (`score`): score the answers and lay the code's results on the
   code items, writing each student's result atomically the moment it is
   complete, so a killed run resumes where it stopped;
5. *write outputs* (`write_outputs`): lay the review sheets over the results,
   refresh the sheets, and write grades.csv, feedback, Gradescope
   results.json and the report (`mmexam.grade.outputs`). A shard run stops
   before the outputs; `mmexam grade merge` (`mmexam.grade.merge`) writes
   them for all shards together.

Nothing a single student submits can stop the run: their problems are data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.checks.results import TaskResult
from mmexam.errors import GradeError
from mmexam.grade.inputs import (
    ExamInputs,
    in_shard,
    load_manifest,
    matches_only,
    review_max_points,
)
from mmexam.grade.results import (
    RunInfo,
    StudentResult,
    atomic_write,
    clean_stale_temporaries,
    dump_json,
    load_result,
    result_path,
    save_result,
)
from mmexam.grade.student import Work, assemble, prepare, select_all
from mmexam.grade.submissions import Entry, discover, read_submission
from mmexam.grade.workers import grade_code

ProgressFn = Callable[["Progress"], None]


@dataclass(frozen=True)
class Progress:
    """One step of a run, for a progress bar: 'start' (total known), 'student' (one done)."""

    event: str
    total: int = 0
    student: str | None = None
    reused: bool = False
    message: str = ""


@dataclass(frozen=True)
class GradeOptions:
    """What `mmexam grade` was asked to do."""

    submissions: Path
    variants: Path = Path("build/variants.json")
    bank: Path | None = None
    out: Path = Path("grades")
    manual: Path = Path("manual")
    jobs: int = 0
    force: bool = False
    shard: tuple[int, int] | None = None
    only: str | None = None
    limits: object | None = None
    require_sandbox: bool = False


@dataclass
class GradeSummary:
    """What a run did, for the CLI's summary table."""

    info: RunInfo
    results: list[StudentResult]
    graded: int = 0
    reused: int = 0
    notes: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    isolation: str | None = None


@dataclass
class Run:
    """A run's inputs, opened and checked: the exam, the review sheets, the submissions."""

    opts: GradeOptions
    exam: ExamInputs
    sheets: dict
    entries: list[Entry]
    notes: list[str]
    tell: ProgressFn
    results: dict[str, StudentResult] = field(default_factory=dict)  # by id, as they finish
    reused: int = 0


def grade_submissions(opts: GradeOptions, progress: ProgressFn | None = None) -> GradeSummary:
    """Grade a folder of submissions (see the module docstring)."""
    run = open_run(opts, progress or (lambda _p: None))
    works = plan_work(run)
    isolation = _isolation(works, run.notes)
    workers = opts.jobs or os.cpu_count() or 1
    for work, code in grade_code(works, workers, opts.limits, opts.require_sandbox):
        score(run, work, code)
    return write_outputs(run, graded=len(works), isolation=isolation)


def open_run(opts: GradeOptions, tell: ProgressFn) -> Run:
    """Read and check the inputs: variants.json against the bank, --only, the review sheets
    (whole runs only), and the submissions of this shard."""
    from mmexam.bank import load_bank
    from mmexam.grade import manual
    from mmexam.paths import DEFAULT_BANK

    if not opts.submissions.is_dir():
        raise GradeError(
            f"{opts.submissions}: not a folder of submissions — pass the folder that "
            "holds one folder or .zip per student"
        )
    manifest, manifest_sha = load_manifest(opts.variants)
    exam = ExamInputs(load_bank(opts.bank or DEFAULT_BANK), manifest, manifest_sha)
    if opts.only is not None and not any(
        matches_only(i, opts.only) for s in manifest.students for i in s.items
    ):
        raise GradeError(
            f"--only {opts.only}: no item has that number or question id on any "
            "paper — numbers look like 1.3 or 3.a"
        )
    sheets = manual.read_sheets(opts.manual, review_max_points(exam)) if opts.shard is None else {}
    entries, notes = discover(opts.submissions)
    entries = [e for e in entries if in_shard(e.id, opts.shard)]
    clean_stale_temporaries(opts.out / "graded")
    return Run(opts, exam, sheets, entries, notes, tell)


def plan_work(run: Run) -> list[Work]:
    """The submissions to grade, prepared; a cached result still good is reused instead."""
    opts, exam = run.opts, run.exam
    select = (lambda item: matches_only(item, opts.only)) if opts.only else select_all
    run.tell(Progress("start", total=len(run.entries)))
    works: list[Work] = []
    for entry in run.entries:
        sub = read_submission(entry)
        student = exam.students.get(entry.id)
        fingerprint = exam.fingerprint(student, sub)
        cached = None if opts.force else load_result(result_path(opts.out, entry.id))
        good = cached is not None and not cached.retry
        if good and opts.only is None and cached.fingerprint == fingerprint:
            _reuse(run, entry.id, cached)
            continue
        partial = opts.only is not None and good
        if partial and student is not None and not any(select(i) for i in student.items):
            _reuse(run, entry.id, cached)  # --only selects nothing on this paper
            continue
        work = Work(
            entry,
            sub,
            student,
            fingerprint,
            cached if partial else None,
            select if partial else select_all,
        )
        prepare(exam, work)
        works.append(work)
    return works


def _reuse(run: Run, student_id: str, cached: StudentResult) -> None:
    run.results[student_id] = cached
    run.reused += 1
    run.tell(Progress("student", student=student_id, reused=True))


def _isolation(works: list[Work], notes: list[str]) -> str | None:
    """How the code will be isolated (None when there is no code to run); a note if weakly."""
    if not any(work.code_files for work in works):
        return None
    from mmexam.sandbox import isolation_status

    isolation, warning = isolation_status()
    if warning:
        notes.append(str(warning))
    return isolation


def score(run: Run, work: Work, code: dict[str, TaskResult]) -> StudentResult:
    """Score one student with their code's results and save the result at once; a grader
    failure on any of their files marks them to be graded again."""
    retry = any(result.failure for result in code.values())
    result = assemble(run.exam, work, code, retry)
    save_result(run.opts.out, result)
    run.results[result.id] = result
    run.tell(Progress("student", student=result.id))
    return result


def write_outputs(run: Run, *, graded: int, isolation: str | None) -> GradeSummary:
    """Record what the run covered; for a whole run, write grades, feedback and reports."""
    from mmexam.grade import outputs

    opts, exam = run.opts, run.exam
    blueprint = exam.bank.blueprint
    graded_ids = sorted(run.results)
    submitted = {e.id for e in run.entries}
    absent = sorted(s for s in exam.students if in_shard(s, opts.shard) and s not in submitted)
    info = RunInfo(
        course=blueprint.course,
        title=blueprint.title,
        total_points=blueprint.total_points,
        bonus_points=blueprint.bonus_points,
        parts=exam.parts(),
        manifest=exam.manifest_sha,
        shard=opts.shard,
        students=graded_ids,
        absent=absent,
        warnings=exam.warnings + run.notes,
    )
    summary = GradeSummary(
        info=info,
        results=[run.results[i] for i in graded_ids],
        graded=graded,
        reused=run.reused,
        notes=list(exam.warnings) + run.notes,
        isolation=isolation,
    )
    atomic_write(run_info_path(opts.out, opts.shard), dump_json(info))
    if opts.shard is not None:
        return summary
    return outputs.finish(summary, opts.out, opts.manual, run.sheets)


def run_info_path(out: Path, shard: tuple[int, int] | None) -> Path:
    """run.json for a whole run, shard-K-of-N.json for a shard."""
    if shard is None:
        return out / "run.json"
    return out / f"shard-{shard[0]}-of-{shard[1]}.json"
