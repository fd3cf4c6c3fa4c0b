"""variants.json: the one bridge between `mmexam build` and `mmexam grade`.

For every student (or anonymous version) it records what they saw: which
question sits at each printed number, the order their options were printed
in, and the parameter values drawn for them. Grading maps answers back to
the bank through it, and warns when a question's content hash changed since
the exam went out.

Numbering: parts are numbered 1, 2, ... in blueprint order and questions
within a part 1, 2, ...: "1.3" is the third question of part 1. A problem's
parts add a letter: "3.2.a". Where a part holds exactly one question, the
question number is dropped: part 3's single problem is "3" and its parts
are "3.a", "3.b", ...; a lone non-problem question is "6".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
