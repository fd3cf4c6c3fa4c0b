"""What the integrity check reads (one answer sheet per student) and what it reports.

The input side is plain frozen dataclasses built by `mmexam.integrity.sheets`
from grading's own results (`StudentResult`), variants.json and the submitted
code; the core modules never touch files. The output side is pydantic, so
integrity.json is `IntegrityReport.model_dump_json()` and every field says
what it means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

# ---------------------------------------------------------------- input: answer sheets


@dataclass(frozen=True)
class Choice:
    """One multiple-choice or select-all item as one student answered it."""

    number: str  # printed number on this student's paper
    key: str  # bank question id, plus ".a"... for a problem part: the same for everyone
    multi: bool
    option_count: int
    chosen: tuple[int, ...] | None  # authored option indices; None: not answered
    printed: tuple[int, ...] | None  # printed positions (0 = letter a) of the same choices
    correct: tuple[int, ...]  # authored indices of the right options
    order: tuple[int, ...] | None  # order[k]: the authored option printed at letter k
    earned: float
    possible: float
    shown: str | None = None  # the choice as it reads on the paper, e.g. "(b) Fission"


@dataclass(frozen=True)
class NumberAnswer:
    """One numeric item as one student answered it."""

    number: str
    key: str
    raw: str | None
    value: float | None  # None: unanswered or not a number
    correct: bool
    params: str  # canonical JSON of the student's parameters for this question


@dataclass(frozen=True)
class TextAnswer:
    """One written answer (short answer or open question)."""

    number: str
    key: str
    text: str
    reference: str | None  # the model answer, where the bank has one


@dataclass(frozen=True)
class CodeFile:
    """One submitted code file for a code task."""

    task: str
    name: str
    source: str


@dataclass(frozen=True)
class Sheet:
    """Everything one student answered, in the terms the integrity check compares."""

    id: str
    name: str | None
    earned: float  # automatically scored points (ability is estimated from these)
    possible: float
    choices: tuple[Choice, ...] = ()
    numbers: tuple[NumberAnswer, ...] = ()
    texts: tuple[TextAnswer, ...] = ()
    code: tuple[CodeFile, ...] = ()


@dataclass
class Settings:
    """How the check is run (the CLI's options)."""

    top: int = 20
    alpha: float = 0.05
    neighbour_weight: float = 10.0
    text_backend: str = "auto"  # auto | embedding | lexical
    starters: dict[str, str] = field(default_factory=dict)  # task -> starter source
    references: dict[str, str] = field(default_factory=dict)  # task -> reference source


# ---------------------------------------------------------------- output: the report


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SharedChoice(_Out):
    """One item on which both students picked the same authored option(s)."""

    number_a: str = Field(description="Printed number on the first student's paper.")
    number_b: str = Field(description="Printed number on the second student's paper.")
    question: str = Field(description="Bank question id (with the part letter for a problem).")
    option: str = Field(description="The authored option(s), as letters of the bank's order.")
    shown_a: str | None = Field(description="How the first student's choice reads on their paper.")
    shown_b: str | None = Field(description="How the second student's choice reads on theirs.")
    wrong: bool = Field(description="Whether the shared choice is wrong.")
    share: float = Field(description="Share of the class who answered this item this way.")


class ChoicesIndex(_Out):
    """The answer-copying index on multiple-choice items."""

    p: float = Field(description="p-value of the agreement under independent answering.")
    level: str = Field(
        description="'authored': same bank option (content copied); "
        "'printed': same letter at the same number (answer sheet copied)."
    )
    direction: str = Field(description="Whose ability the expected agreement was computed for.")
    matches: int = Field(description="Items on which the two answers agree at that level.")
    expected: float = Field(description="Agreements expected by chance on the same items.")
    items: int = Field(description="Items both answered that the index compares.")
    omega: float = Field(description="Wollack's omega: (matches - expected) / standard deviation.")
    shared_wrong: list[SharedChoice] = Field(
        default_factory=list, description="Shared wrong choices, rarest first."
    )


class SharedValue(_Out):
    """One numeric answer both students gave, where at least one of them is wrong."""

    number_a: str = Field(description="Printed number on the first student's paper.")
    number_b: str = Field(description="Printed number on the second student's paper.")
    question: str = Field(description="Bank question id (with the part letter).")
    value: str = Field(description="The value both wrote.")
    correct_a: bool = Field(description="Whether it is right for the first student's parameters.")
    correct_b: bool = Field(description="Whether it is right for the second student's parameters.")
    params_differ: bool = Field(description="Whether their parameters differ.")
    chance: float = Field(description="Estimated chance that an independent student writes it.")


class NumbersIndex(_Out):
    """Identical wrong numbers on parameterised items."""

    p: float = Field(description="p-value of this many shared wrong values by chance.")
    shared: list[SharedValue] = Field(description="The shared values.")


class Passage(_Out):
    """A stretch of code that matches between two submissions."""

    task: str = Field(description="Code task, e.g. 'fusion'.")
    file_a: str = Field(description="File name in the first submission.")
    lines_a: tuple[int, int] = Field(description="First and last matching line there (1-based).")
    text_a: str = Field(description="Those lines.")
    file_b: str = Field(description="File name in the second submission.")
    lines_b: tuple[int, int] = Field(description="First and last matching line there.")
    text_b: str = Field(description="Those lines.")


class CodeIndex(_Out):
    """Token fingerprints shared beyond the starter, the reference and common idioms."""

    p: float = Field(description="p-value of sharing this many rare fingerprints by chance.")
    similarity: float = Field(
        description="Shared fingerprints over the smaller submission's (0 to 1)."
    )
    shared: int = Field(description="Fingerprints both submissions contain.")
    passages: list[Passage] = Field(default_factory=list, description="Matching passages.")


class SimilarText(_Out):
    """Two written answers to the same question that read almost the same."""

    number_a: str = Field(description="Printed number on the first student's paper.")
    number_b: str = Field(description="Printed number on the second student's paper.")
    question: str = Field(description="Bank question id (with the part letter).")
    similarity: float = Field(description="Similarity of the two answers (0 to 1).")
    reference_similarity: float = Field(
        description="The larger similarity of either answer to the model answer."
    )
    text_a: str = Field(description="The first student's answer.")
    text_b: str = Field(description="The second student's answer.")


class TextIndex(_Out):
    """Near-duplicate written answers."""

    backend: str = Field(description="'embedding' (all-MiniLM-L6-v2) or 'lexical' (5-grams).")
    threshold: float = Field(description="Similarity from which two answers are shown.")
    similar: list[SimilarText] = Field(description="Near-duplicate answers, most similar first.")


class Pair(_Out):
    """Two students whose answers agree more than independent work explains."""

    rank: int = Field(description="1 is the pair most worth a look.")
    a: str = Field(description="First student id.")
    b: str = Field(description="Second student id.")
    name_a: str | None = Field(default=None, description="First student's name.")
    name_b: str | None = Field(default=None, description="Second student's name.")
    p: float = Field(description="Smallest component p-value times the number of components.")
    p_adjusted: float = Field(
        description="p corrected (Holm) for every pair in the class: the family-wise chance "
        "that any pair of independent students looks at least this alike."
    )
    q: float = Field(
        description="Benjamini-Hochberg q-value: listing every pair at this q or lower, the "
        "expected share of pairs among them who worked alone."
    )
    neighbours: bool | None = Field(
        default=None, description="Seated next to each other (null without a seating chart)."
    )
    reasons: list[str] = Field(description="One line per kind of evidence, in plain words.")
    choices: ChoicesIndex | None = Field(default=None, description="Multiple-choice evidence.")
    numbers: NumbersIndex | None = Field(default=None, description="Numeric evidence.")
    code: CodeIndex | None = Field(default=None, description="Code evidence.")
    text: list[SimilarText] = Field(default_factory=list, description="Written-answer evidence.")


class IntegrityReport(_Out):
    """integrity.json: the ranked pairs and how they were found."""

    students: int = Field(description="Students compared.")
    pairs_tested: int = Field(description="Pairs of students compared (the correction's size).")
    alpha: float = Field(
        description="Pairs with q below this are listed (the false discovery rate allowed)."
    )
    top: int = Field(description="At most this many pairs are listed.")
    seats: bool = Field(description="Whether a seating chart weighted neighbours.")
    text_backend: str = Field(description="How written answers were compared.")
    notes: list[str] = Field(default_factory=list, description="What was skipped, and why.")
    pairs: list[Pair] = Field(description="The listed pairs, most unusual first.")
