"""One student: what their submission needs, and their result assembled from it.

`prepare` reads the answers file and finds the code files the student's
selected items need; `assemble` scores every selected item (a code item
reads the checks' `TaskResult` for its task), keeps the cached result for the
others (`--only`), and gathers every problem with the submission. Nothing a
student submits raises: their problems are data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mmexam.checks.results import TaskResult
from mmexam.exam import Item, Student
from mmexam.grade.inputs import ExamInputs
from mmexam.grade.results import Fingerprint, ItemResult, StudentResult, SubmissionProblem
from mmexam.grade.scoring import score_item
from mmexam.grade.submissions import (
    ANSWERS,
    Answers,
    Entry,
    Submission,
    answers_file,
    decode_text,
    find_file,
    parse_answers,
)


def select_all(item: Item) -> bool:
    """The selection of a whole run (no --only): every item."""
    return True


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
    code_files: dict[str, tuple[str, str]] = field(default_factory=dict)  # task -> (source, name)
    answers_name: str = ANSWERS
    name: str | None = None  # from the roster (a version's paper has none)

    @property
    def partial(self) -> bool:
        """Whether only some items are regraded (--only) over a cached result."""
        return self.cached is not None and self.select is not select_all


def find_paper(exam: ExamInputs, entry: Entry, sub: Submission) -> Student | None:
    """The paper this submission was written on: the student's own, else (anonymous versions)
    the version its answers name (`variant: B`). A missing or unknown version is one problem
    line on the submission, and no paper."""
    own = exam.students.get(entry.id)
    name = answers_file(sub)
    text = decode_text(sub, name) if name is not None else None
    named = parse_answers(text, name).variant if text is not None and name else None
    if own is not None:
        if named is not None and not exam.versions and named.value != own.variant:
            sub.problem(
                f"{name}:{named.line}",
                f"names the version {named.value!r}, but your paper is {own.variant}; "
                f"graded as your own paper {own.variant}",
            )
        return own
    if not exam.versions:
        return None
    letters = ", ".join(sorted(exam.versions))
    if named is None:
        sub.problem(
            name or ANSWERS,
            f"no 'variant:' line — this exam was handed out as versions {letters}: add "
            "'variant: B' (the letter in your paper's footer) to answers.yaml",
        )
        return None
    letter = str(named.value)
    paper = exam.versions.get(letter) or exam.versions.get(letter.upper())
    if paper is None:
        sub.problem(
            f"{name}:{named.line}",
            f"variant {letter!r} is not a version of this exam ({letters}) — write the "
            "letter in your paper's footer",
        )
        return None
    sub.note("version", f"{name}:{named.line}", f"graded as version {paper.variant}")
    return paper


def prepare(exam: ExamInputs, work: Work) -> None:
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
        name = find_file(sub, f"{body.task}.py")
        if name is None:
            continue  # not submitted: the item says so when it is scored
        source = decode_text(sub, name)
        if source is not None:
            work.code_files[body.task] = (source, name)


def assemble(
    exam: ExamInputs, work: Work, code: dict[str, TaskResult], retry: bool = False
) -> StudentResult:
    """Score every selected item; keep the cached result for the others (--only).

    `code` holds the checks' result for each task file the student submitted.
    """
    sub = work.submission
    student = work.student
    if student is None:
        return _unknown_student(exam, work)
    answers = work.answers or Answers()
    items, problems = _score_items(exam, work, student, answers, code)
    extra = list(sub.problems) + list(answers.problems)
    extra.extend(_answer_problems(work, answers, {i.number for i in items}))
    if work.partial and work.cached is not None:
        selected = {i.number for i, _, _ in exam.paper(student).items if work.select(i)}
        kept = [
            p for p in work.cached.problems if p.number is not None and p.number not in selected
        ]
        problems = kept + [p for p in problems if p.number in selected]
        extra = [p for p in extra if p.number is None or p.number in selected]
    for _, result in sorted(code.items()):
        if result.failure:
            extra.append(
                SubmissionProblem(
                    where=result.filename,
                    message=f"the grader failed while running this file ({result.failure}); it "
                    "is not graded yet — run mmexam grade again (this is not your fault)",
                )
            )
    return StudentResult(
        id=sub.id,
        name=work.name or student.name,
        variant=student.variant,
        source=sub.kind,
        folder=_crops_folder(work, items),
        items=items,
        problems=_dedupe(extra + problems),
        intake=list(sub.intake),
        fingerprint=_fingerprint(exam, work, student),
        retry=retry,
    )


def _crops_folder(work: Work, items: list[ItemResult]) -> str | None:
    """Where the pictures of the answers written on paper are: the submission's folder (not
    recorded for a submission without such answers, so results do not depend on where a
    class is graded)."""
    if work.entry.kind != "folder" or not any(i.crops for i in items):
        return None
    return str(work.entry.path.resolve())


def _unknown_student(exam: ExamInputs, work: Work) -> StudentResult:
    """A submission with no paper: off the roster, or an anonymous version not named."""
    sub = work.submission
    problems = list(sub.problems)
    entry = work.entry
    if sub.id not in exam.students and not exam.versions:
        hint = f" — did you mean {entry.suggestion}?" if entry.suggestion else ""
        problems.append(
            SubmissionProblem(
                where=entry.where,
                message=f"student '{sub.id}' is not in variants.json or on the roster{hint} "
                "(rename the folder or zip to the student's id and grade again)",
            )
        )
    return StudentResult(
        id=sub.id,
        name=work.name or entry.name_hint,
        source=sub.kind,
        problems=_dedupe(problems),
        intake=list(sub.intake),
        fingerprint=work.fingerprint,
    )


def _score_items(
    exam: ExamInputs,
    work: Work,
    student: Student,
    answers: Answers,
    code: dict[str, TaskResult],
) -> tuple[list[ItemResult], list[SubmissionProblem]]:
    cached = {i.number: i for i in work.cached.items} if work.cached else {}
    items: list[ItemResult] = []
    problems: list[SubmissionProblem] = []
    for item, body, context in exam.paper(student).items:
        if not work.select(item) and item.number in cached:
            items.append(cached[item.number])
            continue
        scored = score_item(
            item,
            body,
            answers.by_number.get(item.number),
            context=context,
            code=code.get(body.task) if item.kind == "code" else None,
            filename=work.answers_name,
        )
        items.append(scored.result)
        problems.extend(scored.problems)
    return items, problems


def _answer_problems(work: Work, answers: Answers, numbers: set[str]) -> list[SubmissionProblem]:
    """No answers file at all; answers to numbers that are not on the student's paper."""
    found = []
    if answers_file(work.submission) is None:
        found.append(
            SubmissionProblem(
                where=ANSWERS,
                message="not submitted: no answers were read (code files are still graded)",
            )
        )
    for number, answer in sorted(answers.by_number.items(), key=lambda kv: kv[1].line):
        if number not in numbers:
            sample = ", ".join(sorted(numbers, key=_number_key)[:3])
            found.append(
                SubmissionProblem(
                    where=f"{work.answers_name}:{answer.line}",
                    number=number,
                    message=f"{number} is not a question number on your paper; its answer was "
                    f"ignored (numbers look like {sample}, …)",
                )
            )
    return found


def _fingerprint(exam: ExamInputs, work: Work, student: Student) -> Fingerprint:
    """The submission's fingerprint; with --only, the other items keep the inputs they were
    graded from."""
    fingerprint = work.fingerprint
    if not work.partial or work.cached is None or work.cached.fingerprint is None:
        return fingerprint
    old = work.cached.fingerprint
    questions = dict(old.questions)
    tasks = dict(old.tasks)
    for item, body, _ in exam.paper(student).items:
        if work.select(item):
            questions[item.question] = fingerprint.questions[item.question]
            if item.kind == "code":
                tasks[body.task] = fingerprint.tasks[body.task]
    return old.model_copy(update={"questions": questions, "tasks": tasks})


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
