"""What a grading run grades against: variants.json and the bank, checked to agree.

`ExamInputs` joins the manifest `mmexam build` wrote with the bank, refuses a
bank that no longer matches the papers (a question gone, a kind or an option
count changed), notes the questions edited since the build, resolves each
student's paper (`StudentPaper`: every item with its instantiated body) and
fingerprints a submission, so a cached result is reused only while everything
it was computed from is unchanged. Shards (`--shard K/N`) and `--only` are
parsed here too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mmexam.errors import GradeError, UsageError
from mmexam.exam import Item, Manifest, Student
from mmexam.grade.results import Fingerprint, PartInfo
from mmexam.grade.submissions import Submission


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); a UsageError (exit 2) for anything else."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(
            f"--shard {text!r}: write K/N, e.g. --shard 2/4 for the second of four shards"
        ) from None
    if not (n >= 1 and 1 <= k <= n):
        raise UsageError(f"--shard {text}: K must be between 1 and N (got K={k}, N={n})")
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


def task_digest(task: str, graders: Path | None = None) -> str:
    """sha256 of a code task's grader files (reference, checks): results are redone when they
    change. `graders`: the course's graders/ folder (default: the shipped sample's)."""
    from mmexam.paths import GRADERS

    h = hashlib.sha256(task.encode())
    folder = (graders or GRADERS) / task
    if folder.is_dir():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            h.update(path.relative_to(folder).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class StudentPaper:
    """A student's paper resolved against the bank: each item with its instantiated body."""

    student: Student
    items: list[tuple[Item, Any, str | None]]  # the body: any of the bank's body models


def bank_folder(
    manifest: Manifest, given: Path | None, course_bank: Path
) -> tuple[Path, str | None]:
    """The bank to grade against: --bank, else the one variants.json records (the bank the
    exam was built from), else the course's; with a note when the recorded one is gone."""
    if given is not None:
        return given, None
    recorded = Path(manifest.bank)
    if (recorded / "exam.yaml").is_file():
        return recorded, None
    return course_bank, (
        f"variants.json records the bank {manifest.bank}, which is not there; graded with "
        f"{course_bank} — pass --bank to choose"
    )


class ExamInputs:
    """The bank and the manifest together, checked to agree."""

    def __init__(
        self,
        bank,
        manifest: Manifest,
        manifest_sha: str,
        *,
        bank_path: Path | None = None,
        graders: Path | None = None,
        device: str = "cpu",
    ):
        self.bank = bank
        self.manifest = manifest
        self.manifest_sha = manifest_sha
        self.bank_path = bank_path
        self.graders = graders
        self.device = device
        """Where the code runs: a result graded on cpu is not reused for a cuda run."""
        self.students = {s.id: s for s in manifest.students}
        self.versions = {
            s.variant: s for s in manifest.students if s.id == s.variant and s.name is None
        }
        """Anonymous versions (`mmexam build --variants N`), by letter."""
        self.warnings: list[str] = []
        self._papers: dict[str, StudentPaper] = {}
        self._digests: dict[str, str] = {}
        self._tasks: dict[str, str] = {}
        self._check()

    def _check(self) -> None:
        questions = self.bank.questions
        problems: list[str] = []
        for student in self.manifest.students:
            for item in student.items:
                problem = _mismatch(questions, student, item)
                if problem:
                    problems.append(problem)
            if len(problems) >= 5:
                break
        used = self.bank_path if self.bank_path is not None else "the bank"
        if problems:
            raise GradeError(
                f"variants.json does not match {used}: {problems[0]}"
                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                + f" — grade with the bank the exam was built from ({self.manifest.bank}, "
                "recorded in variants.json; --bank to choose another), or rebuild"
            )
        for qid, old in sorted(self.manifest.question_hashes.items()):
            q = questions.get(qid)
            if q is not None and self.digest(qid) != old:
                self.warnings.append(
                    f"question '{qid}' in {used} changed since the exam was built (its content "
                    "hash differs from variants.json); its items were graded with the current bank"
                )

    def digest(self, qid: str) -> str:
        if qid not in self._digests:
            from mmexam.exam import content_hash

            self._digests[qid] = content_hash(self.bank.questions[qid])
        return self._digests[qid]

    def task_digest(self, task: str) -> str:
        if task not in self._tasks:
            digest = task_digest(task, self.graders)
            if self.device != "cpu":  # cpu keeps the digests of runs before --device
                digest = hashlib.sha256(f"{digest} {self.device}".encode()).hexdigest()
            self._tasks[task] = digest
        return self._tasks[task]

    def paper(self, student: Student) -> StudentPaper:
        if student.id in self._papers:
            return self._papers[student.id]
        from mmexam.bank.params import instantiate

        made: dict[tuple[str, str], Any] = {}
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
        paper = StudentPaper(student, items)
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


def _mismatch(questions: dict, student: Student, item: Item) -> str | None:
    """Why the bank no longer matches this item of the manifest, or None."""
    q = questions.get(item.question)
    if q is None:
        return f"question '{item.question}' (item {item.number} of {student.id}) is not in the bank"
    body = (
        q.parts[item.subpart]
        if item.subpart is not None and q.kind == "problem" and item.subpart < len(q.parts)
        else (q if item.subpart is None else None)
    )
    if body is None or body.kind != item.kind:
        return (
            f"item {item.number} of {student.id} is a {item.kind} but the "
            f"bank's '{item.question}' no longer matches it"
        )
    options = getattr(body, "options", None)
    if item.options is not None and (
        options is None or sorted(item.options) != list(range(len(options)))
    ):
        return (
            f"item {item.number} of {student.id}: the bank's "
            f"'{item.question}' has a different number of options now"
        )
    return None


def matches_only(item: Item, only: str | None) -> bool:
    """Whether `--only` selects this item: its printed number, its problem's number, or its question id."""
    if only is None:
        return True
    return item.number == only or item.number.startswith(only + ".") or item.question == only


def review_max_points(exam: ExamInputs) -> dict[str, float]:
    """The most points any paper gives each manually reviewed question (by review key)."""
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
