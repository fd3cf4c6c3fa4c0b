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
   complete, so a killed or interrupted (Ctrl-C) run resumes where it stopped;
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
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.checks.results import TaskResult
from mmexam.errors import UsageError
from mmexam.files import atomic_write
from mmexam.grade.inputs import (
    ExamInputs,
    bank_folder,
    in_shard,
    load_manifest,
    matches_only,
    review_max_points,
)
from mmexam.grade.intake import Known, discover, match_entries
from mmexam.grade.results import (
    GradeSummary,
    RunInfo,
    StudentResult,
    clean_stale_temporaries,
    dump_json,
    load_result,
    result_path,
    save_result,
)
from mmexam.grade.student import Work, assemble, find_paper, prepare, select_all
from mmexam.grade.submissions import Entry, read_submission
from mmexam.grade.workers import grade_code
from mmexam.roster import Roster, RosterEntry, load_roster

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
    require_sandbox: bool = True  # False only with --no-sandbox
    device: str = "cpu"  # where students' code runs: cpu, or cuda (a GPU)
    review_database: str | None = None  # SQLAlchemy URL of `mmexam review --database`
    roster: Path | None = None
    id_column: str | None = None
    name_column: str | None = None
    graders: Path | None = None  # the course's graders/ (default: the shipped sample's)
    course_bank: Path | None = None  # the course's bank, when variants.json's is gone


@dataclass
class Run:
    """A run's inputs, opened and checked: the exam, the review sheets, the submissions."""

    opts: GradeOptions
    exam: ExamInputs
    sheets: dict
    entries: list[Entry]
    notes: list[str]
    tell: ProgressFn
    roster: Roster | None = None
    names: dict[str, str] = field(default_factory=dict)  # roster names by id
    results: dict[str, StudentResult] = field(default_factory=dict)  # by id, as they finish
    reused: int = 0


def grade_submissions(opts: GradeOptions, progress: ProgressFn | None = None) -> GradeSummary:
    """Grade a folder of submissions (see the module docstring)."""
    run = open_run(opts, progress or (lambda _p: None))
    works = plan_work(run)
    isolation = _isolation(works, run.notes)
    workers = opts.jobs or os.cpu_count() or 1
    graders = opts.graders
    hide = secret_folders(opts)
    device = opts.device
    graded = grade_code(works, workers, opts.limits, opts.require_sandbox, graders, hide, device)
    with closing(graded):  # on Ctrl-C, the workers stop before the exception leaves
        for work, code in graded:
            without_device_checks(code, device)
            score(run, work, code)
    # From every result, graded now or reused, so that a rerun writes the same run.json.
    if device == "cpu" and any(
        item.kind == "code" for result in run.results.values() for item in result.items
    ):
        run.notes.append(
            "graded on cpu: the checks that need CUDA (`*.cuda`) did not run and are left "
            "out of the feedback — grade with --device cuda on a machine with a GPU to run them"
        )
    return write_outputs(run, graded=len(works), isolation=isolation)


def without_device_checks(code: dict[str, TaskResult], device: str) -> None:
    """Leave out the checks that need CUDA from a run on cpu, rather than show students a
    "skipped, 0 of 0 points" line for each (they are worth nothing on cpu; the run says
    so once, in a note)."""
    if device != "cpu":
        return
    for task, result in code.items():
        unrun = [c.name for c in result.checks if c.skipped and c.kind == "device"]
        if unrun:
            kept = [c for c in result.checks if c.name not in unrun]
            code[task] = result.model_copy(update={"checks": kept})


def open_run(opts: GradeOptions, tell: ProgressFn) -> Run:
    """Read and check the inputs: variants.json against the bank, --only, the review sheets
    (whole runs only), and the submissions of this shard."""
    from mmexam.bank import load_bank
    from mmexam.grade import manual
    from mmexam.paths import DEFAULT_BANK

    manifest, manifest_sha = load_manifest(opts.variants)
    bank_path, moved = bank_folder(manifest, opts.bank, opts.course_bank or DEFAULT_BANK)
    exam = ExamInputs(
        load_bank(bank_path, graders=opts.graders),
        manifest,
        manifest_sha,
        bank_path=bank_path,
        graders=opts.graders,
        device=opts.device,
    )
    if moved:
        exam.warnings.append(moved)
    if opts.only is not None and not any(
        matches_only(i, opts.only) for s in manifest.students for i in s.items
    ):
        raise UsageError(
            f"--only {opts.only}: no item has that number or question id on any "
            "paper — numbers look like 1.3 or 3.a"
        )
    sheets = manual.read_sheets(opts.manual, review_max_points(exam)) if opts.shard is None else {}
    roster = (
        load_roster(opts.roster, id_column=opts.id_column, name_column=opts.name_column)
        if opts.roster is not None
        else _paper_roster(exam, opts.variants)
    )
    entries, notes = discover(opts.submissions)
    entries, match_notes = match_entries(entries, _known(roster))
    notes += match_notes + (roster.skipped if roster else [])
    entries = [e for e in entries if in_shard(e.id, opts.shard)]
    clean_stale_temporaries(opts.out / "graded")
    run = Run(opts, exam, sheets, entries, notes, tell, roster)
    run.names = {e.id: e.name for e in roster.entries} if roster else {}
    return run


def _paper_roster(exam: ExamInputs, variants: Path) -> Roster | None:
    """Without --roster, the students the papers were built for are the roster (none for
    anonymous versions: a version has no student)."""
    papers = [s for s in exam.manifest.students if s.variant not in exam.versions]
    if not papers:
        return None
    entries = [RosterEntry(id=s.id, name=s.name or "", line=0) for s in papers]
    return Roster(
        source=variants.name,
        sha256=exam.manifest_sha,
        layout="variants.json",
        id_column="id",
        name_column="name",
        entries=entries,
    )


def _known(roster: Roster | None) -> Known:
    """Whom a submission may belong to: the roster's students (nobody, without one)."""
    if roster is None:
        return Known([])
    return Known.of([e.id for e in roster.entries], [e for e in roster.entries if e.name])


def plan_work(run: Run) -> list[Work]:
    """The submissions to grade, prepared; a cached result still good is reused instead."""
    opts, exam = run.opts, run.exam
    select = (lambda item: matches_only(item, opts.only)) if opts.only else select_all
    run.tell(Progress("start", total=len(run.entries)))
    works: list[Work] = []
    for entry in run.entries:
        sub = read_submission(entry)
        student = find_paper(exam, entry, sub)
        fingerprint = exam.fingerprint(student, sub)
        cached = None if opts.force else load_result(result_path(opts.out, entry.id))
        good = cached is not None and not cached.retry
        if cached is not None and good and opts.only is None and cached.fingerprint == fingerprint:
            _reuse(run, entry.id, cached)
            continue
        partial = opts.only is not None and good
        if cached is not None and partial and student and not any(map(select, student.items)):
            _reuse(run, entry.id, cached)  # --only selects nothing on this paper
            continue
        work = Work(
            entry,
            sub,
            student,
            fingerprint,
            cached if partial else None,
            select if partial else select_all,
            name=run.names.get(entry.id) or entry.name_hint,
        )
        prepare(exam, work)
        works.append(work)
    return works


def _reuse(run: Run, student_id: str, cached: StudentResult) -> None:
    run.results[student_id] = cached
    run.reused += 1
    run.tell(Progress("student", student=student_id, reused=True))


def secret_folders(opts: GradeOptions) -> tuple[Path, ...]:
    """What the sandbox hides wherever it lies: the course folder (its graders/ and
    bank), the build (variants, keys), the submissions and the run's outputs."""
    folders = [opts.variants.parent, opts.submissions, opts.out, opts.manual]
    for inside in (opts.graders, opts.course_bank, opts.bank):
        if inside is not None:
            folders += [inside, inside.parent]
    return tuple(sorted({p.resolve() for p in folders if str(p) not in ("", ".")}))


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
    from mmexam.grade import outputs, review_state

    opts, exam = run.opts, run.exam
    blueprint = exam.bank.blueprint
    graded_ids = sorted(run.results)
    submitted = {e.id for e in run.entries}
    expected = _expected(run)
    absent = sorted(s for s in expected if in_shard(s, opts.shard) and s not in submitted)
    off_roster = sorted(i for i in graded_ids if expected and i not in expected)
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
        off_roster=off_roster,
        roster=run.roster,
        bank=str(exam.bank_path) if exam.bank_path else None,
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
    # the review database (`mmexam review`) is the source of TAs' decisions
    summary.results, sheets = review_state.overlay(
        summary.results, run.sheets, review_state.load_saved(opts.out, opts.review_database)
    )
    return outputs.finish(summary, opts.out, opts.manual, sheets)


def _expected(run: Run) -> list[str]:
    """The students who should have submitted: the roster's (none for anonymous versions
    without a roster)."""
    return [e.id for e in run.roster.entries] if run.roster is not None else []


def run_info_path(out: Path, shard: tuple[int, int] | None) -> Path:
    """run.json for a whole run, shard-K-of-N.json for a shard."""
    if shard is None:
        return out / "run.json"
    return out / f"shard-{shard[0]}-of-{shard[1]}.json"
