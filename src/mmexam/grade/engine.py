"""`mmexam grade`: from a folder of submissions to cached per-student results and outputs.

The run, in order:

1. read variants.json and the bank, and check they agree (every question on
   every paper still exists with the same kind and option count); note the
   questions edited since the exam was built;
2. read the TA's review sheets (manual/*.csv) so a typo stops the run before
   any work, with file:line;
3. list the submissions (this shard's share with `--shard K/N`) and, for each,
   decide from its fingerprint whether its cached result is still good;
4. score the answers in this process and send the code to the sandboxed
   workers (`map_in_workers`), writing each student's result atomically the
   moment it is complete, so a killed run resumes where it stopped;
5. lay the review sheets over the results, refresh the sheets, and write
   grades.csv, feedback, Gradescope results.json and the report
   (`mmexam.grade.outputs`). A shard run stops after step 4;
   `mmexam grade merge` does step 5 for all shards together.

Nothing a single student submits can stop the run: their problems are data.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from mmexam.errors import GradeError
from mmexam.exam import Item, Manifest, Student
from mmexam.grade.results import (
    Fingerprint,
    ItemResult,
    PartInfo,
    RunInfo,
    StudentResult,
    SubmissionProblem,
    atomic_write,
    clean_stale_temporaries,
    dump_json,
    load_result,
    result_path,
    save_result,
)
from mmexam.grade.scoring import CodeOutcome, score_item
from mmexam.grade.submissions import (
    ANSWERS,
    Answers,
    Entry,
    Submission,
    answers_file,
    decode_text,
    discover,
    find_file,
    parse_answers,
    read_submission,
)

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


# ---------------------------------------------------------------- inputs


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); a GradeError for anything else."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise GradeError(
            f"--shard {text!r}: write K/N, e.g. --shard 2/4 for the second of four shards"
        ) from None
    if not (n >= 1 and 1 <= k <= n):
        raise GradeError(f"--shard {text}: K must be between 1 and N (got K={k}, N={n})")
    return k, n


def in_shard(student_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether a student belongs to shard K of N: by a hash of the id, so any set splits the same."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha256(student_id.encode()).hexdigest(), 16) % n == k - 1


def load_manifest(path: Path) -> tuple[Manifest, str]:
    """variants.json and its sha256; a GradeError that says how to get one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GradeError(
            f"{path}: not found — run `mmexam build` first, or pass --variants build/variants.json"
        ) from None
    except OSError as error:
        raise GradeError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GradeError(
            f"{path}: not a variants.json written by `mmexam build` ({where}: "
            f"{first['msg']}) — rebuild it"
        ) from None
    return manifest, hashlib.sha256(raw).hexdigest()


def task_digest(task: str) -> str:
    """sha256 of a code task's grader files (reference, checks): results are redone when they change."""
    from mmexam.paths import GRADERS

    h = hashlib.sha256(task.encode())
    folder = GRADERS / task
    if folder.is_dir():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            h.update(path.relative_to(folder).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class Paper:
    """A student's paper resolved against the bank: each item with its instantiated body."""

    student: Student
    items: list[tuple[Item, object, str | None]]


class Exam:
    """The bank and the manifest together, checked to agree."""

    def __init__(self, bank, manifest: Manifest, manifest_sha: str):
        self.bank = bank
        self.manifest = manifest
        self.manifest_sha = manifest_sha
        self.students = {s.id: s for s in manifest.students}
        self.warnings: list[str] = []
        self._papers: dict[str, Paper] = {}
        self._digests: dict[str, str] = {}
        self._tasks: dict[str, str] = {}
        self._check()

    def _check(self) -> None:
        questions = self.bank.questions
        problems = []
        for student in self.manifest.students:
            for item in student.items:
                q = questions.get(item.question)
                if q is None:
                    problems.append(
                        f"question '{item.question}' (item {item.number} of "
                        f"{student.id}) is not in the bank"
                    )
                    continue
                body = (
                    q.parts[item.subpart]
                    if item.subpart is not None
                    and q.kind == "problem"
                    and item.subpart < len(q.parts)
                    else (q if item.subpart is None else None)
                )
                if body is None or body.kind != item.kind:
                    problems.append(
                        f"item {item.number} of {student.id} is a {item.kind} but the "
                        f"bank's '{item.question}' no longer matches it"
                    )
                    continue
                options = getattr(body, "options", None)
                if item.options is not None and (
                    options is None or sorted(item.options) != list(range(len(options)))
                ):
                    problems.append(
                        f"item {item.number} of {student.id}: the bank's "
                        f"'{item.question}' has a different number of options now"
                    )
            if len(problems) >= 5:
                break
        if problems:
            raise GradeError(
                f"variants.json does not match the bank: {problems[0]}"
                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                + " — grade with the bank the exam was built from, or rebuild"
            )
        for qid, old in sorted(self.manifest.question_hashes.items()):
            q = questions.get(qid)
            if q is not None and self.digest(qid) != old:
                self.warnings.append(
                    f"question '{qid}' changed since the exam was built; "
                    "its items were graded with the current bank"
                )

    def digest(self, qid: str) -> str:
        if qid not in self._digests:
            from mmexam.exam import content_hash

            self._digests[qid] = content_hash(self.bank.questions[qid])
        return self._digests[qid]

    def task_digest(self, task: str) -> str:
        if task not in self._tasks:
            self._tasks[task] = task_digest(task)
        return self._tasks[task]

    def paper(self, student: Student) -> Paper:
        if student.id in self._papers:
            return self._papers[student.id]
        from mmexam.bank.params import instantiate

        made: dict[tuple[str, str], object] = {}
        items = []
        for item in student.items:
            question = self.bank.questions[item.question]
            key = (item.question, json.dumps(item.params, sort_keys=True))
            if key not in made:
                made[key] = instantiate(question, dict(item.params))
            q = made[key]
            if item.subpart is not None:
                items.append((item, q.parts[item.subpart], q.text))
            else:
                items.append((item, q, None))
        paper = Paper(student, items)
        self._papers[student.id] = paper
        return paper

    def fingerprint(self, student: Student | None, submission: Submission) -> Fingerprint:
        if student is None:
            return Fingerprint(submission=submission.digest(), variant="")
        variant = hashlib.sha256(student.model_dump_json().encode()).hexdigest()
        questions = {item.question: self.digest(item.question) for item in student.items}
        tasks = {}
        for item in student.items:
            if item.kind == "code":  # the task is never templated: no need to instantiate
                question = self.bank.questions[item.question]
                body = question.parts[item.subpart] if item.subpart is not None else question
                tasks[body.task] = self.task_digest(body.task)
        return Fingerprint(
            submission=submission.digest(),
            variant=variant,
            questions=dict(sorted(questions.items())),
            tasks=dict(sorted(tasks.items())),
        )

    def parts(self) -> list[PartInfo]:
        return [
            PartInfo(id=p.id, title=p.title, points=p.points, bonus=p.bonus)
            for p in self.bank.blueprint.parts
        ]


def matches_only(item: Item, only: str | None) -> bool:
    """Whether `--only` selects this item: its printed number, its problem's number, or its question id."""
    if only is None:
        return True
    return item.number == only or item.number.startswith(only + ".") or item.question == only


# ---------------------------------------------------------------- one student


@dataclass
class Work:
    """What must be done for one submission."""

    entry: Entry
    submission: Submission
    student: Student | None
    fingerprint: Fingerprint
    cached: StudentResult | None
    select: Callable[[Item], bool]
    answers: Answers | None = None
    code_files: dict[str, tuple[str, str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    answers_name: str = ANSWERS


def prepare(exam: Exam, work: Work) -> None:
    """Read answers.yaml and find the code files this student's selected items need."""
    sub = work.submission
    if work.student is None:
        return
    work.answers_name = answers_file(sub) or ANSWERS
    text = decode_text(sub, work.answers_name)
    work.answers = parse_answers(text, work.answers_name) if text is not None else Answers()
    for item, body, _ in exam.paper(work.student).items:
        if item.kind != "code" or not work.select(item) or body.task in work.code_files:
            continue
        wanted = f"{body.task}.py"
        name = find_file(sub, wanted)
        if name is None:
            work.missing[body.task] = wanted
            continue
        source = decode_text(sub, name)
        if source is not None:
            work.code_files[body.task] = (source, name)


def assemble(
    exam: Exam, work: Work, code: dict[str, CodeOutcome], retry: bool = False
) -> StudentResult:
    """Score every selected item; keep the cached result for the others (--only)."""
    sub = work.submission
    student = work.student
    if student is None:
        problems = list(sub.problems)
        problems.append(
            SubmissionProblem(
                where=work.entry.path.name,
                message=f"student '{sub.id}' is not in variants.json — the folder (or zip) must be "
                "named by a student id from the roster",
            )
        )
        return StudentResult(
            id=sub.id, source=sub.kind, problems=problems, fingerprint=work.fingerprint
        )
    answers = work.answers or Answers()
    cached = {i.number: i for i in work.cached.items} if work.cached else {}
    items: list[ItemResult] = []
    problems: list[SubmissionProblem] = []
    numbers = set()
    for item, body, context in exam.paper(student).items:
        numbers.add(item.number)
        if not work.select(item) and item.number in cached:
            items.append(cached[item.number])
            continue
        outcome = None
        if item.kind == "code":
            task = body.task
            if task in code:
                outcome = code[task]
            else:
                outcome = CodeOutcome(
                    filename=work.missing.get(task, f"{task}.py"), submitted=False
                )
        scored = score_item(
            item,
            body,
            answers.by_number.get(item.number),
            context=context,
            code=outcome,
            filename=work.answers_name,
        )
        items.append(scored.result)
        problems.extend(scored.problems)
    selected = {i.number for i, _, _ in exam.paper(student).items if work.select(i)}
    extra = list(sub.problems) + list(answers.problems)
    if answers_file(sub) is None:
        extra.append(
            SubmissionProblem(
                where=ANSWERS,
                message="not submitted: no answers were read (code files are still graded)",
            )
        )
    for number, answer in sorted(answers.by_number.items(), key=lambda kv: kv[1].line):
        if number not in numbers:
            sample = ", ".join(sorted(numbers, key=_number_key)[:3])
            extra.append(
                SubmissionProblem(
                    where=f"{work.answers_name}:{answer.line}",
                    number=number,
                    message=f"{number} is not a question number on your paper; its answer was ignored "
                    f"(numbers look like {sample}, …)",
                )
            )
    if work.cached and work.select is not _all:
        kept = [
            p for p in work.cached.problems if p.number is not None and p.number not in selected
        ]
        problems = kept + [p for p in problems if p.number in selected]
        extra = [p for p in extra if p.number is None or p.number in selected]
    for task, outcome in sorted(code.items()):
        if outcome.failure:
            extra.append(
                SubmissionProblem(
                    where=outcome.filename,
                    message=f"the grader failed while running this file ({outcome.failure}); it is "
                    "not graded yet — run mmexam grade again (this is not your fault)",
                )
            )
    all_problems = _dedupe(extra + problems)
    fingerprint = work.fingerprint
    if work.cached and work.select is not _all and work.cached.fingerprint is not None:
        # --only: the other items keep the inputs they were graded from.
        old = work.cached.fingerprint
        questions = dict(old.questions)
        tasks = dict(old.tasks)
        for item, body, _ in exam.paper(student).items:
            if work.select(item):
                questions[item.question] = fingerprint.questions[item.question]
                if item.kind == "code":
                    tasks[body.task] = fingerprint.tasks[body.task]
        fingerprint = old.model_copy(update={"questions": questions, "tasks": tasks})
    return StudentResult(
        id=sub.id,
        name=student.name,
        variant=student.variant,
        source=sub.kind,
        items=items,
        problems=all_problems,
        fingerprint=fingerprint,
        retry=retry,
    )


def _dedupe(problems: list[SubmissionProblem]) -> list[SubmissionProblem]:
    seen = set()
    out = []
    for p in problems:
        key = (p.where, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _number_key(number: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in number.split("."))


def _all(item: Item) -> bool:
    return True


# ---------------------------------------------------------------- code in workers


def grade_code_job(sandbox, job: dict) -> dict:
    """Worker side: run every submitted task file of one student through the checks."""
    from mmexam.grade.checks import run_checks

    tasks = {}
    with sandbox.session(job["student"]):  # one student's files share one sandboxed child
        for task, (source, filename) in sorted(job["files"].items()):
            try:
                result = run_checks(task, source, hidden=True, sandbox=sandbox, filename=filename)
            except Exception as error:  # noqa: BLE001 — a grader failure costs this task only
                tasks[task] = {"failure": f"{type(error).__name__}: {error}"}
            else:
                tasks[task] = result.model_dump(mode="json")
    return {"student": job["student"], "tasks": tasks}


def outcome_from(task_result: dict, filename: str) -> CodeOutcome:
    from mmexam.grade.results import CodeCheck

    if "failure" in task_result:
        return CodeOutcome(filename=filename, submitted=True, failure=task_result["failure"])
    checks = tuple(
        CodeCheck(
            name=c["name"],
            function=c["function"],
            score=float(c["score"]),
            max_score=float(c["max_score"]),
            passed=bool(c["passed"]),
            message=c.get("message") or "",
            visibility=c.get("visibility", "hidden"),
            skipped=bool(c.get("skipped", False)),
        )
        for c in task_result.get("checks", [])
    )
    return CodeOutcome(
        filename=filename, submitted=True, load_error=task_result.get("load_error"), checks=checks
    )


def run_code(
    jobs: list[dict], workers: int, limits, require_sandbox: bool
) -> Iterator[tuple[str, dict | None, str | None]]:
    """Yield (student, task results or None, why it failed) as the sandboxed workers finish."""
    if not jobs:
        return
    from mmexam.grade.pool import map_in_workers
    from mmexam.grade.sandbox import Limits

    limits = limits or Limits()
    timeout = 4 * limits.wall_seconds_per_submission + 60
    from mmexam.grade.sandbox import SandboxWarning

    with warnings.catch_warnings():
        # the run reports a missing bwrap once, as a note in its summary and report
        warnings.simplefilter("ignore", SandboxWarning)
        for done in map_in_workers(
            grade_code_job,
            jobs,
            workers,
            limits,
            ordered=False,
            require_sandbox=require_sandbox,
            item_timeout=timeout,
        ):
            student = jobs[done.index]["student"]
            if done.ok and isinstance(done.value, dict):
                yield student, done.value["tasks"], None
            else:
                yield student, None, done.error or "no result"


# ---------------------------------------------------------------- the run


def grade_submissions(opts: GradeOptions, progress: ProgressFn | None = None) -> GradeSummary:
    """Grade a folder of submissions (see the module docstring)."""
    from mmexam.bank import load_bank
    from mmexam.grade import manual, outputs
    from mmexam.paths import DEFAULT_BANK

    tell = progress or (lambda _p: None)
    if not opts.submissions.is_dir():
        raise GradeError(
            f"{opts.submissions}: not a folder of submissions — pass the folder that "
            "holds one folder or .zip per student"
        )
    manifest, manifest_sha = load_manifest(opts.variants)
    bank = load_bank(opts.bank or DEFAULT_BANK)
    exam = Exam(bank, manifest, manifest_sha)
    if opts.only is not None and not any(
        matches_only(i, opts.only) for s in manifest.students for i in s.items
    ):
        raise GradeError(
            f"--only {opts.only}: no item has that number or question id on any "
            "paper — numbers look like 1.3 or 3.a"
        )
    max_points = _review_max_points(exam)
    sheets = manual.read_sheets(opts.manual, max_points) if opts.shard is None else {}

    entries, notes = discover(opts.submissions)
    entries = [e for e in entries if in_shard(e.id, opts.shard)]
    clean_stale_temporaries(opts.out / "graded")
    select = (lambda item: matches_only(item, opts.only)) if opts.only else _all

    tell(Progress("start", total=len(entries)))
    works: list[Work] = []
    results: dict[str, StudentResult] = {}
    reused = 0
    for entry in entries:
        sub = read_submission(entry)
        student = exam.students.get(entry.id)
        fingerprint = exam.fingerprint(student, sub)
        cached = None if opts.force else load_result(result_path(opts.out, entry.id))
        if (
            cached is not None
            and not cached.retry
            and opts.only is None
            and cached.fingerprint == fingerprint
        ):
            results[entry.id] = cached
            reused += 1
            tell(Progress("student", student=entry.id, reused=True))
            continue
        partial = opts.only is not None and cached is not None and not cached.retry
        work = Work(
            entry,
            sub,
            student,
            fingerprint,
            cached if partial else None,
            select if partial else _all,
        )
        if partial and student is not None and not any(select(i) for i in student.items):
            results[entry.id] = cached
            reused += 1
            tell(Progress("student", student=entry.id, reused=True))
            continue
        prepare(exam, work)
        works.append(work)

    def finish(work: Work, code: dict[str, CodeOutcome], retry: bool = False) -> None:
        result = assemble(exam, work, code, retry)
        save_result(opts.out, result)
        results[result.id] = result
        tell(Progress("student", student=result.id))

    jobs = []
    waiting: dict[str, Work] = {}
    for work in works:
        if work.code_files:
            jobs.append({"student": work.submission.id, "files": work.code_files})
            waiting[work.submission.id] = work
        else:
            finish(work, {})
    isolation = None
    if jobs:
        from mmexam.grade.sandbox import isolation_status

        isolation, warning = isolation_status()
        if warning:
            notes.append(str(warning))
    workers = opts.jobs or os.cpu_count() or 1
    for student_id, tasks, failure in run_code(jobs, workers, opts.limits, opts.require_sandbox):
        work = waiting.pop(student_id)
        if tasks is None:
            code = {
                task: CodeOutcome(filename=name, submitted=True, failure=failure)
                for task, (_, name) in work.code_files.items()
            }
        else:
            code = {task: outcome_from(tasks[task], work.code_files[task][1]) for task in tasks}
        finish(work, code, retry=any(o.failure for o in code.values()))
    for work in waiting.values():  # a pool that stopped early: grade them next time
        finish(
            work,
            {
                task: CodeOutcome(
                    filename=name, submitted=True, failure="the grading workers stopped"
                )
                for task, (_, name) in work.code_files.items()
            },
            retry=True,
        )

    graded_ids = sorted(results)
    submitted = {e.id for e in entries}
    absent = sorted(s for s in exam.students if in_shard(s, opts.shard) and s not in submitted)
    info = RunInfo(
        course=bank.blueprint.course,
        title=bank.blueprint.title,
        total_points=bank.blueprint.total_points,
        bonus_points=bank.blueprint.bonus_points,
        parts=exam.parts(),
        manifest=manifest_sha,
        shard=opts.shard,
        students=graded_ids,
        absent=absent,
        warnings=exam.warnings + notes,
    )
    ordered = [results[i] for i in graded_ids]
    summary = GradeSummary(
        info=info,
        results=ordered,
        graded=len(works),
        reused=reused,
        notes=list(exam.warnings) + notes,
        isolation=isolation,
    )
    atomic_write(run_info_path(opts.out, opts.shard), dump_json(info))
    if opts.shard is not None:
        return summary
    return outputs.finish(summary, opts.out, opts.manual, sheets)


def run_info_path(out: Path, shard: tuple[int, int] | None) -> Path:
    if shard is None:
        return out / "run.json"
    return out / f"shard-{shard[0]}-of-{shard[1]}.json"


def _review_max_points(exam: Exam) -> dict[str, float]:
    found: dict[str, float] = {}
    for student in exam.manifest.students:
        for item in student.items:
            if item.kind in ("short_answer", "open"):
                key = (
                    item.question
                    if item.subpart is None
                    else f"{item.question}.{chr(ord('a') + item.subpart)}"
                )
                found[key] = max(found.get(key, 0.0), item.points)
    return found


# ---------------------------------------------------------------- merge


def merge_shards(shard_dirs: list[Path], out: Path, manual_dir: Path) -> GradeSummary:
    """Join the results of `--shard K/N` runs and write the outputs for everyone."""
    from mmexam.grade import manual, outputs

    infos: dict[int, tuple[RunInfo, Path]] = {}
    total = None
    for folder in shard_dirs:
        found = sorted(folder.glob("shard-*-of-*.json"))
        if not found:
            raise GradeError(
                f"{folder}: no shard-K-of-N.json — pass the --out folders of "
                "`mmexam grade --shard K/N` runs"
            )
        for path in found:
            try:
                info = RunInfo.model_validate_json(path.read_text(encoding="utf-8"))
            except (ValidationError, OSError, UnicodeDecodeError) as error:
                raise GradeError(
                    f"{path}: unreadable shard record ({error.__class__.__name__}) — "
                    "grade that shard again"
                ) from None
            k, n = info.shard
            if total is not None and n != total:
                raise GradeError(f"{path}: shard {k}/{n} does not belong with shards of {total}")
            total = n
            if k in infos and infos[k][0].manifest != info.manifest:
                raise GradeError(
                    f"{path}: shard {k}/{n} appears twice with different variants.json"
                )
            infos[k] = (info, folder)
    missing = [k for k in range(1, (total or 0) + 1) if k not in infos]
    if missing:
        raise GradeError(
            "missing shard(s) "
            + ", ".join(f"{k}/{total}" for k in missing)
            + " — grade them with `mmexam grade --shard K/N` and pass their folders"
        )
    manifests = {info.manifest for info, _ in infos.values()}
    if len(manifests) > 1:
        raise GradeError(
            "the shards were graded against different variants.json files — "
            "grade every shard with the same build"
        )
    results: dict[str, StudentResult] = {}
    for k in sorted(infos):
        info, folder = infos[k]
        for sid in info.students:
            result = load_result(result_path(folder, sid))
            if result is None:
                raise GradeError(
                    f"{result_path(folder, sid)}: missing or unreadable — grade shard "
                    f"{k}/{total} again"
                )
            results[sid] = result
            if folder.resolve() != out.resolve():
                save_result(out, result)
    first = infos[min(infos)][0]
    warnings = sorted({w for info, _ in infos.values() for w in info.warnings})
    absent = sorted({a for info, _ in infos.values() for a in info.absent})
    info = first.model_copy(
        update={"shard": None, "students": sorted(results), "warnings": warnings, "absent": absent}
    )
    atomic_write(run_info_path(out, None), dump_json(info))
    max_points = {}
    for result in results.values():
        for item in result.items:
            if item.kind in ("short_answer", "open"):
                max_points[item.review_key] = max(
                    max_points.get(item.review_key, 0), item.max_points
                )
    sheets = manual.read_sheets(manual_dir, max_points)
    summary = GradeSummary(info=info, results=[results[i] for i in sorted(results)], notes=warnings)
    return outputs.finish(summary, out, manual_dir, sheets)
