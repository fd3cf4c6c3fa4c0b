"""The question bank as pydantic models: what authors write in YAML.

A bank folder holds `exam.yaml` (the blueprint, `Blueprint`) and any number
of other YAML files, each a `BankFile` with a list of questions. Every model
forbids unknown keys, so a typo is an error with a "did you mean" rather
than a silently ignored field. Field descriptions feed `mmexam schema`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Slug = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Lower-case letters, digits and dashes."),
]
Difficulty = Literal["easy", "medium", "hard"]
Letter = Annotated[str, Field(pattern=r"^[a-z]$", description="An option letter: a, b, c, ...")]


class Model(BaseModel):
    # coerce_numbers_to_str: an option or text written as a bare number in
    # YAML (`- 12`) is the text "12", not a type error.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


# ---------------------------------------------------------------- pieces


class Option(Model):
    """One choice of an mcq or multi_select question."""

    text: str = Field(description="The option as shown (Markdown + LaTeX math).")
    fixed: bool = Field(
        default=False,
        description="Keep this option in its authored place when options are shuffled "
        '(e.g. "All of the above").',
    )


OptionLike = Annotated[
    str | Option,
    Field(description="An option: plain text, or {text, fixed} to pin it in place."),
]


class AnswerSpace(Model):
    """How much room the printed exam leaves for the answer."""

    style: Literal["lines", "box"] = Field(
        default="lines", description="Ruled lines or an empty box."
    )
    height_cm: float = Field(gt=0, le=24, description="Height of the answer area in centimetres.")


class ParamRange(Model):
    """An integer or decimal range: min, min+step, ..., up to max."""

    min: float = Field(description="Smallest value (inclusive).")
    max: float = Field(description="Largest value (inclusive).")
    step: float = Field(default=1, gt=0, description="Spacing between values.")

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min}) — swap them")
        return self


class Param(Model):
    """A value drawn per student: from `choices`, or from `range`."""

    choices: list[int | float | str] | None = Field(
        default=None, min_length=1, description="Values to draw from."
    )
    range: ParamRange | None = Field(default=None, description="A range to draw from.")

    @model_validator(mode="after")
    def _one_source(self) -> Param:
        if (self.choices is None) == (self.range is None):
            raise ValueError("give exactly one of 'choices' or 'range'")
        return self


class RubricItem(Model):
    """One thing a grader looks for, worth some points."""

    points: float = Field(gt=0, description="Points this item is worth.")
    description: str = Field(description="What earns the points.")
    keywords: list[str] = Field(
        default_factory=list,
        description="Words or phrases whose presence suggests the item is met (case-insensitive).",
    )
    regex: str | None = Field(
        default=None,
        description="A Python regular expression whose match suggests the item is met.",
    )


# ---------------------------------------------------------------- kinds
#
# Each kind is a "body" (what it asks and how it is graded). A top-level
# question adds `Meta` (id, part, topics, difficulty, params); a part of a
# `problem` adds only an optional label.


class Body(Model):
    text: str = Field(description="The question (Markdown with LaTeX math in $...$ or $$...$$).")
    solution: str | None = Field(default=None, description="The worked solution, shown in the key.")
    explanation: str | None = Field(
        default=None, description="Why the answer is right, shown in the key and in feedback."
    )
    answer_space: AnswerSpace | None = Field(
        default=None, description="Room for the answer on paper; a default is chosen per kind."
    )


class McqBody(Body):
    kind: Literal["mcq"] = Field(description="Multiple choice with exactly one correct option.")
    points: float = Field(gt=0, description="Points for the correct option.")
    options: list[OptionLike] = Field(
        min_length=2, max_length=26, description="The options, in authored order."
    )
    answer: Letter = Field(
        description="Letter of the correct option in authored order (a = first)."
    )
    accept: list[Letter] = Field(
        default_factory=list,
        description="Further letters (authored order) that also earn full points: for an "
        "item found ambiguous after the exam; re-grading re-scores everyone.",
    )


class MultiSelectBody(Body):
    kind: Literal["multi_select"] = Field(description="Select all that apply.")
    points: float = Field(gt=0, description="Points for a fully correct selection.")
    options: list[OptionLike] = Field(
        min_length=2, max_length=26, description="The options, in authored order."
    )
    answers: list[Letter] = Field(
        min_length=1, description="Letters of all correct options (authored order)."
    )
    scoring: Literal["all_or_nothing", "per_option", "right_minus_wrong"] = Field(
        default="right_minus_wrong",
        description="all_or_nothing: full points only for the exact set; per_option: each option "
        "marked correctly earns points/options; right_minus_wrong: (right picks - wrong picks) / "
        "correct options, never below zero.",
    )


class NumericBody(Body):
    kind: Literal["numeric"] = Field(description="A number, accepted within a tolerance.")
    points: float = Field(gt=0, description="Points for an answer within tolerance.")
    answer: float | str = Field(
        description="The correct value, or a Jinja2 expression template over the params, "
        "e.g. '{{ (d_a + 1) * (d_b + 1) }}'."
    )
    abs_tol: float | None = Field(default=None, ge=0, description="Accepted absolute error.")
    rel_tol: float | None = Field(default=None, ge=0, description="Accepted relative error.")
    unit: str | None = Field(default=None, description="Unit printed after the answer box.")


class ShortAnswerBody(Body):
    kind: Literal["short_answer"] = Field(description="A few sentences, graded by rubric.")
    points: float = Field(gt=0, description="Points; must equal the sum of the rubric items.")
    reference: str = Field(description="A model answer.")
    rubric: list[RubricItem] = Field(min_length=1, description="What earns the points.")


class CodeBody(Body):
    kind: Literal["code"] = Field(description="Implement functions of a task in graders/.")
    points: float = Field(gt=0, description="Points, scaled by the share of check points earned.")
    task: Slug = Field(description="The task folder in graders/, e.g. 'fusion'.")
    functions: list[str] = Field(
        min_length=1,
        description="The task's functions this question covers, e.g. ['tensor_fusion'].",
    )


class OpenBody(Body):
    kind: Literal["open"] = Field(description="An open question graded by people with a rubric.")
    points: float = Field(gt=0, description="Points; must equal the sum of the rubric items.")
    rubric: list[RubricItem] = Field(min_length=1, description="What earns the points.")


class Meta(Model):
    id: Slug = Field(description="Unique across the whole bank, e.g. 'fusion-tensor-dim'.")
    part: Slug = Field(description="The blueprint part this question belongs to, e.g. 'mcq'.")
    topics: list[Slug] = Field(
        min_length=1, description="Lecture topics, from the blueprint's list."
    )
    difficulty: Difficulty = Field(description="easy, medium or hard.")
    params: dict[str, Param] = Field(
        default_factory=dict,
        description="Values drawn per student, usable as {{ name }} in text, options and answers.",
    )
    practice: bool | None = Field(
        default=None,
        description="Offer this question in practice mode: true or false; unset, the "
        "blueprint part's `practice` decides (false keeps an item for the exam).",
    )
    excludes: list[Slug] = Field(
        default_factory=list,
        description="Ids of questions that may not share a paper with this one (one repeats "
        "or gives away the other); either side may declare it.",
    )

    @field_validator("params")
    @classmethod
    def _identifiers(cls, params: dict[str, Param]) -> dict[str, Param]:
        for name in params:
            if not name.isidentifier():
                raise ValueError(
                    f"parameter name {name!r} is not an identifier — use letters, digits, _"
                )
        return params


class PartLabel(Model):
    label: str | None = Field(
        default=None, description="Printed label; defaults to (a), (b), ... in order."
    )


class McqPart(McqBody, PartLabel):
    """An mcq inside a problem."""


class MultiSelectPart(MultiSelectBody, PartLabel):
    """A multi_select inside a problem."""


class NumericPart(NumericBody, PartLabel):
    """A numeric question inside a problem."""


class ShortAnswerPart(ShortAnswerBody, PartLabel):
    """A short answer inside a problem."""


class CodePart(CodeBody, PartLabel):
    """A code question inside a problem."""


class OpenPart(OpenBody, PartLabel):
    """An open question inside a problem."""


ProblemPart = Annotated[
    McqPart | MultiSelectPart | NumericPart | ShortAnswerPart | CodePart | OpenPart,
    Field(discriminator="kind"),
]


class Mcq(McqBody, Meta):
    """A multiple-choice question with one correct option."""


class MultiSelect(MultiSelectBody, Meta):
    """A select-all-that-apply question."""


class Numeric(NumericBody, Meta):
    """A question with a numeric answer."""


class ShortAnswer(ShortAnswerBody, Meta):
    """A short written answer graded by rubric."""


class Code(CodeBody, Meta):
    """A code question graded by the autograder."""


class Open(OpenBody, Meta):
    """An open (bonus) question graded by people."""


class Problem(Meta):
    """A multi-part problem: (a), (b), (c)... each any other kind."""

    kind: Literal["problem"] = Field(description="A multi-part problem.")
    text: str = Field(description="The shared setup of the problem (Markdown + LaTeX math).")
    parts: list[ProblemPart] = Field(min_length=1, description="The parts, in order.")
    points: float | None = Field(
        default=None, description="Optional; if given, must equal the sum of the parts' points."
    )
    solution: str | None = Field(
        default=None, description="Notes on the whole problem for the key."
    )
    explanation: str | None = Field(default=None, description="Why, for the key and feedback.")


Question = Annotated[
    Mcq | MultiSelect | Numeric | ShortAnswer | Code | Open | Problem,
    Field(discriminator="kind"),
]


class BankFile(Model):
    """A YAML file of questions (any file in the bank except exam.yaml)."""

    questions: list[Question] = Field(description="The questions in this file.")


# ---------------------------------------------------------------- blueprint


class Pool(Model):
    """Which questions a part may draw. Empty means every question of the part."""

    ids: list[Slug] | None = Field(default=None, description="Only these question ids.")
    topics: list[Slug] | None = Field(
        default=None, description="Only questions with one of these topics."
    )


class Cover(Model):
    """Every paper draws at least `min` of this part's questions tagged with one of `topics`."""

    topics: list[Slug] = Field(min_length=1, description="Topics, any of which counts.")
    min: int = Field(default=1, ge=1, description="Questions per paper with one of the topics.")


class Part(Model):
    """One part of the exam, e.g. '1. Multiple choice (10 x 2 = 20 points)'."""

    id: Slug = Field(description="Questions name this in their 'part' field, e.g. 'mcq'.")
    title: str = Field(description="Printed title, e.g. 'Multiple choice'.")
    pick: int = Field(ge=1, description="How many questions each student gets from the pool.")
    points: float = Field(
        gt=0, description="Points for the whole part; each question is worth points/pick."
    )
    bonus: bool = Field(
        default=False, description="Bonus points, not counted in the total out of 100."
    )
    shuffle: bool = Field(
        default=True, description="Shuffle question order within the part per student."
    )
    practice: bool = Field(
        default=True,
        description="Offer this part's questions in practice mode (false excludes them all).",
    )
    instructions: str | None = Field(default=None, description="Printed under the part title.")
    pool: Pool = Field(
        default_factory=Pool, description="Narrow the questions this part draws from."
    )
    cover: list[Cover] = Field(
        default_factory=list,
        description="Topic coverage every paper must have within this part.",
    )


class Balance(Model):
    """How far a paper's expected score may sit from the exam's target."""

    band: float = Field(
        default=0.03,
        gt=0,
        le=1,
        description="Largest allowed distance between a paper's expected share of the "
        "non-bonus points and the target (the mean over all draws): 0.03 is ±3 points of 100.",
    )
    tries: int = Field(
        default=400, ge=1, le=100_000, description="Redraws per paper before giving up."
    )


class Blueprint(Model):
    """exam.yaml: the exam's structure, drawn from the bank."""

    course: str = Field(description="Course name printed on the cover.")
    title: str = Field(description="Exam title, e.g. 'Midterm Exam'.")
    term: str | None = Field(default=None, description="Term or date line on the cover.")
    duration_minutes: int = Field(gt=0, description="Time allowed.")
    instructions: str = Field(description="Cover-page instructions (Markdown).")
    total_points: float = Field(
        gt=0, description="Points of the non-bonus parts together, e.g. 100."
    )
    bonus_points: float = Field(default=0, ge=0, description="Points of the bonus parts together.")
    topics: dict[Slug, str] = Field(
        description="Every topic tag questions may use, with a one-line description."
    )
    parts: list[Part] = Field(min_length=1, description="The parts, in printed order.")
    balance: Balance | None = Field(
        default=None,
        description="Keep every paper's expected difficulty within a band (off when absent).",
    )
