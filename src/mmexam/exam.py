"""The exam as drawn: what each student's paper holds, and variants.json.

Build, grade and practice share this module; building never imports grading
and grading never imports building, so what both need of a paper lives here.

- `Paper` (with `PaperPart`, `PlacedQuestion`, `PlacedPart`): everything one
  student (or anonymous version) sees, as `mmexam.build.variants` draws it.
- `Manifest` (with `Student` and `Item`, a typed paper item): variants.json,
  the one bridge between `mmexam build` and `mmexam grade`. For every student
  it records what they saw: which question sits at each printed number, the
  order their options were printed in, and the parameter values drawn for
  them. Grading maps answers back to the bank through it, and warns when a
  question's `content_hash` changed since the exam went out.

Numbering: parts are numbered 1, 2, ... in blueprint order and questions
within a part 1, 2, ...: "1.3" is the third question of part 1. A problem's
parts add a letter: "3.2.a". Where a part holds exactly one question, the
question number is dropped: part 3's single problem is "3" and its parts
are "3.a", "3.b", ...; a lone non-problem question is "6".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmexam.bank.models import Blueprint, Part

FORMAT_VERSION = 1

Kind = Literal["mcq", "multi_select", "numeric", "short_answer", "code", "open"]
ParamValue = int | float | str


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(_Frozen):
    """One gradable thing on a student's paper, at a printed number."""

    number: str = Field(description='Printed number, e.g. "1.3" or "3.a".')
    part: str = Field(description="Blueprint part id, e.g. 'mcq'.")
    question: str = Field(description="Bank question id (the problem's id for a problem part).")
    subpart: int | None = Field(
        default=None, description="0-based index of the part within its problem, else null."
    )
    kind: Kind = Field(description="The kind of this item.")
    points: float = Field(description="Points this item is worth on the paper.")
    bonus: bool = Field(default=False, description="Counts toward the bonus, not the total.")
    options: list[int] | None = Field(
        default=None,
        description="Option order as printed: options[k] is the authored index shown at letter k.",
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Parameter values drawn for this student."
    )


class Student(_Frozen):
    """One student's (or one anonymous version's) paper."""

    id: str = Field(description="Student id, or the version letter for anonymous versions.")
    name: str | None = Field(default=None, description="Name from the roster, if any.")
    variant: str = Field(description="Short variant code printed in the page footer.")
    items: list[Item] = Field(description="Every gradable item, in printed order.")


class Manifest(_Frozen):
    """The whole variants.json file."""

    format: int = Field(default=FORMAT_VERSION, description="File format version.")
    seed: int = Field(description="The exam seed the variants were drawn with.")
    bank: str = Field(description="The bank folder the exam was built from, as given.")
    question_hashes: dict[str, str] = Field(
        description="Content hash of every question used, by id: grading warns when it changed."
    )
    students: list[Student] = Field(description="One entry per student or version.")

    def student(self, student_id: str) -> Student | None:
        return next((s for s in self.students if s.id == student_id), None)


def content_hash(question: Any) -> str:
    """sha256 of the question's canonical JSON: changes exactly when its content changes."""
    data = question.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PlacedPart:
    """One part (a), (b), ... of a problem on a paper."""

    number: str
    index: int
    label: str
    body: Any  # the instantiated part model
    order: list[int] | None


@dataclass(frozen=True)
class PlacedQuestion:
    """One question at its printed number on one paper."""

    number: str
    question: Any  # the instantiated question model
    points: float
    params: dict[str, Any]
    order: list[int] | None = None
    parts: list[PlacedPart] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.question.id

    @property
    def kind(self) -> Kind:
        return self.question.kind


@dataclass(frozen=True)
class PaperPart:
    """One blueprint part as it appears on a paper."""

    number: int
    part: Part
    questions: list[PlacedQuestion]


@dataclass(frozen=True)
class Paper:
    """Everything one student (or version) sees, and how it maps back to the bank."""

    student: str
    name: str | None
    variant: str
    blueprint: Blueprint
    parts: list[PaperPart]

    def items(self) -> list[Item]:
        """Every gradable item, in printed order (the manifest's view of this paper)."""
        items = []
        for paper_part in self.parts:
            bonus = paper_part.part.bonus
            for placed in paper_part.questions:
                if placed.parts:
                    for sub in placed.parts:
                        items.append(
                            Item(
                                number=sub.number,
                                part=paper_part.part.id,
                                question=placed.id,
                                subpart=sub.index,
                                kind=sub.body.kind,
                                points=sub.body.points,
                                bonus=bonus,
                                options=sub.order,
                                params=placed.params,
                            )
                        )
                else:
                    items.append(
                        Item(
                            number=placed.number,
                            part=paper_part.part.id,
                            question=placed.id,
                            kind=placed.kind,
                            points=placed.points,
                            bonus=bonus,
                            options=placed.order,
                            params=placed.params,
                        )
                    )
        return items

    def manifest_entry(self) -> Student:
        return Student(id=self.student, name=self.name, variant=self.variant, items=self.items())

    def question_ids(self) -> list[str]:
        return [q.id for part in self.parts for q in part.questions]
