"""What grading knows about each student, and how it reaches the disk safely.

A `StudentResult` is everything needed to write a student's feedback, their
Gradescope results.json, their grades.csv row and their share of the class
report, without the bank or the manifest: it is self-contained, so shards
graded on other machines can be merged later. The automatic part of grading
is cached per student under `<out>/graded/<id>.json`; manual review points
(manual/*.csv) are laid over it when the outputs are written.

Every file is written atomically (a temporary file in the same folder, then
`os.replace`), so a run killed at any moment leaves either the old file or
the new one, never half of one, and a re-run resumes from what is there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmexam.checks.results import CheckResult
from mmexam.exam import Kind
from mmexam.files import atomic_write
from mmexam.roster import Roster

RESULT_FORMAT = 3
"""Bump when `StudentResult` changes shape: cached results of another format are regraded."""

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
"""Student ids that may name a file or folder in the output."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmissionProblem(_Model):
    """Something wrong with a submission: recorded, shown, never fatal."""

    where: str = Field(description="File (and line) it concerns, e.g. 'answers.yaml:7'.")
    message: str = Field(description="What is wrong and how to avoid it.")
    number: str | None = Field(
        default=None, description="The printed question number it concerns, if any."
    )

    def line(self) -> str:
        return f"{self.where}: {self.message}"


IntakeKind = Literal["file", "id", "layout", "late", "version", "roster"]


class IntakeNote(_Model):
    """A decision intake took while reading a submission, shown to the TA and the student."""

    kind: IntakeKind = Field(
        description="file: a renamed file accepted; id: the id matched another way than "
        "exactly; layout: read from an LMS's download; late: the LMS marked it late; "
        "version: the anonymous version the answers named; roster: the submission matches "
        "nobody on the roster (graded apart, not counted with the class)."
    )
    where: str = Field(description="The file or folder it concerns, as submitted.")
    message: str = Field(description="What was decided, in one sentence.")

    def line(self) -> str:
        return f"{self.where}: {self.message}"


ItemStatus = Literal["auto", "review", "manual"]


class ItemResult(_Model):
    """One printed question (or problem part) on one student's paper."""

    number: str = Field(description='Printed number, e.g. "1.3".')
    part: str = Field(description="Blueprint part id.")
    question: str = Field(description="Bank question id (the problem's id for a problem part).")
    subpart: int | None = Field(default=None, description="Index of the problem part, else null.")
    kind: Kind = Field(description="Question kind.")
    bonus: bool = Field(default=False, description="Counts toward the bonus, not the total.")
    max_points: float = Field(description="Points the item is worth.")
    points: float | None = Field(
        default=None, description="Points earned; null while waiting for manual review."
    )
    status: ItemStatus = Field(
        description="auto: scored by mmexam; review: waits for a TA (see suggested); "
        "manual: points from a TA's review sheet."
    )
    suggested: float | None = Field(
        default=None,
        description="Rubric-keyword suggestion for short answers (a hint, not a score).",
    )
    matched: list[str] = Field(
        default_factory=list, description="Rubric items whose keywords or regex matched."
    )
    text: str = Field(default="", description="The question as the student saw it (Markdown).")
    context: str | None = Field(
        default=None, description="The shared setup of the problem this part belongs to."
    )
    answer: str | None = Field(
        default=None, description="The student's answer as they wrote it; null if unanswered."
    )
    crops: list[str] = Field(
        default_factory=list,
        description="Pictures of an answer written on paper (scanned crops, in page order), "
        "relative to the student's submission folder; a TA grades it from them.",
    )
    answer_shown: str | None = Field(
        default=None, description="The answer as it reads on the paper, e.g. '(b) Late fusion'."
    )
    expected: str | None = Field(
        default=None, description="The correct answer, as the student saw it."
    )
    explanation: str | None = Field(default=None, description="Why (Markdown), from the bank.")
    messages: list[str] = Field(
        default_factory=list, description="Feedback lines: expected, got, difference, where."
    )
    comment: str | None = Field(default=None, description="The reviewer's comment, if any.")
    checks: list[CheckResult] = Field(
        default_factory=list,
        description="Code checks of this item, as the checks runner returned them.",
    )
    code_task: str | None = Field(default=None, description="Code task of a code item.")
    chosen: list[int] | None = Field(
        default=None, description="Authored indices of the options the student chose (mcq/multi)."
    )
    key: list[int] | None = Field(
        default=None, description="Authored indices of the correct options (mcq/multi)."
    )
    option_count: int | None = Field(default=None, description="Number of options (mcq/multi).")

    @property
    def review_key(self) -> str:
        """The manual/ sheet this item belongs to: the question id, plus the part letter."""
        if self.subpart is None:
            return self.question
        return f"{self.question}.{chr(ord('a') + self.subpart)}"

    @property
    def pending(self) -> bool:
        return self.points is None

    @property
    def scanned(self) -> bool:
        """Whether the answer is a picture of the paper (its crops), not text."""
        return bool(self.crops) and self.answer is None


class Fingerprint(_Model):
    """What a cached result was computed from; a change in any part regrades the student."""

    format: int = Field(default=RESULT_FORMAT, description="StudentResult format.")
    submission: str = Field(description="sha256 of the submitted files.")
    variant: str = Field(description="sha256 of the student's manifest entry.")
    questions: dict[str, str] = Field(
        default_factory=dict, description="sha256 of each bank question on the paper, by id."
    )
    tasks: dict[str, str] = Field(
        default_factory=dict, description="sha256 of each code task's grader files, by task."
    )


class StudentResult(_Model):
    """Everything graded for one submission."""

    id: str = Field(description="Student id (the submission's folder or zip name).")
    name: str | None = Field(default=None, description="Name from the manifest.")
    variant: str | None = Field(default=None, description="Variant code from the manifest.")
    source: str = Field(description="What was read: 'folder', 'zip' or 'none'.")
    folder: str | None = Field(
        default=None,
        description="The submission's folder as graded (absolute), where the crops of its "
        "answers on paper are; null when it has none, or is a zip or an LMS download.",
    )
    items: list[ItemResult] = Field(default_factory=list, description="Every item, printed order.")
    problems: list[SubmissionProblem] = Field(
        default_factory=list, description="Problems with the submission."
    )
    intake: list[IntakeNote] = Field(
        default_factory=list,
        description="How the submission was read: renamed files accepted, the id matched, "
        "the LMS layout, the version.",
    )
    fingerprint: Fingerprint | None = Field(
        default=None, description="Inputs this result was computed from."
    )
    retry: bool = Field(
        default=False,
        description="Grading infrastructure failed for part of it: the next run grades it again.",
    )

    def part_points(self, part: str) -> float:
        return sum(i.points or 0.0 for i in self.items if i.part == part)

    @property
    def total(self) -> float:
        return sum(i.points or 0.0 for i in self.items if not i.bonus)

    @property
    def bonus_total(self) -> float:
        return sum(i.points or 0.0 for i in self.items if i.bonus)

    @property
    def pending(self) -> int:
        return sum(1 for i in self.items if i.pending)

    @property
    def provisional(self) -> bool:
        """Whether the total is provisional: an answer counted in it still waits for review."""
        return any(i.pending and not i.bonus for i in self.items)

    @property
    def bonus_provisional(self) -> bool:
        """Whether the bonus is provisional: a bonus answer still waits for review."""
        return any(i.pending and i.bonus for i in self.items)

    @property
    def status(self) -> str:
        return "problems" if self.problems else "ok"

    @property
    def on_paper(self) -> bool:
        """Whether the submission was graded against a paper (False: no paper could be found)."""
        return bool(self.items) or self.variant is not None


class PartInfo(_Model):
    """A blueprint part, as the outputs need it."""

    id: str = Field(description="Part id.")
    title: str = Field(description="Printed title.")
    points: float = Field(description="Points of the part.")
    bonus: bool = Field(default=False, description="Bonus part.")


class RunInfo(_Model):
    """What a grading run (or one shard of it) covered; merge joins these."""

    course: str = Field(description="Course name.")
    title: str = Field(description="Exam title.")
    total_points: float = Field(description="Points of the non-bonus parts.")
    bonus_points: float = Field(default=0, description="Points of the bonus parts.")
    parts: list[PartInfo] = Field(description="Parts in printed order.")
    manifest: str = Field(description="sha256 of variants.json.")
    shard: tuple[int, int] | None = Field(default=None, description="(K, N) for shard K of N.")
    students: list[str] = Field(description="Student ids graded in this run, sorted.")
    absent: list[str] = Field(
        default_factory=list,
        description="Roster (or manifest) students with no submission (whole run only).",
    )
    off_roster: list[str] = Field(
        default_factory=list,
        description="Submissions that match no student of the roster, listed apart from grades.",
    )
    roster: Roster | None = Field(
        default=None,
        description="The roster the run used (--roster, an LMS export), as read; null when the "
        "students of variants.json were the roster.",
    )
    bank: str | None = Field(default=None, description="The bank folder graded against.")
    warnings: list[str] = Field(default_factory=list, description="Run-level warnings.")


def split_off_roster(
    info: RunInfo, results: list[StudentResult]
) -> tuple[list[StudentResult], list[StudentResult]]:
    """(the class, the submissions off the roster): off-roster submissions are graded for the
    TA's information but never counted with the class (statistics, grades.csv, exports)."""
    apart = set(info.off_roster)
    return [r for r in results if r.id not in apart], [r for r in results if r.id in apart]


def roster_note(result: StudentResult) -> IntakeNote | None:
    """The intake note saying the submission is off the roster (with where it came from)."""
    return next((n for n in result.intake if n.kind == "roster"), None)


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

    @property
    def intake(self) -> list[str]:
        """Every intake decision of the run, one line each, by student."""
        return [f"{r.id}: {n.line()}" for r in self.results for n in r.intake]


# ---------------------------------------------------------------- files


def dump_json(model: BaseModel) -> str:
    """Stable JSON: the same model always gives the same bytes."""
    return (
        json.dumps(model.model_dump(mode="json"), indent=1, sort_keys=True, ensure_ascii=False)
        + "\n"
    )


def result_path(out: Path, student_id: str) -> Path:
    return out / "graded" / f"{student_id}.json"


def save_result(out: Path, result: StudentResult) -> None:
    atomic_write(result_path(out, result.id), dump_json(result))


def load_result(path: Path) -> StudentResult | None:
    """A cached result, or None when it is missing, unreadable or of another format."""
    try:
        raw = path.read_text(encoding="utf-8")
        result = StudentResult.model_validate_json(raw)
    except (OSError, UnicodeDecodeError, ValidationError, ValueError):
        return None
    if result.fingerprint is None or result.fingerprint.format != RESULT_FORMAT:
        return None
    return result


def clean_stale_temporaries(folder: Path) -> None:
    """Remove temporary files a killed run left behind in `folder` (not recursive)."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)
