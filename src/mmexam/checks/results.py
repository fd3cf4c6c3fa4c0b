"""The one result model of a check run: what the runner returns, the worker sends, the
engine validates, and scoring, feedback and exports read.

A `TaskResult` is one student's file for one code task; its `checks` are one
`CheckResult` each. The same models cross the process boundary as
`model_dump(mode="json")` and come back with `model_validate`; a grader that
fails on a file (not the student's fault) is a `TaskResult` with `failure` set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mmexam.checks.plan import Kind, Visibility
from mmexam.safetext import printable

Cause = Literal["wrong", "crashed", "missing", "not_loaded", "not_credited"]


class ReproTensor(BaseModel):
    """One tensor of a failing call, exactly: its values as Python literals."""

    model_config = ConfigDict(extra="forbid")

    dtype: str = Field(description="torch dtype name, e.g. 'float32'.")
    shape: list[int] = Field(description="The tensor's shape.")
    values: list[str] | None = Field(
        default=None,
        description="Every element, flattened in C order, as the repr of its Python value "
        "(float64 repr of a float: converting back gives the same bits; 'nan', 'inf'); "
        "None when the tensor was too large to keep.",
    )


class ReproArg(BaseModel):
    """One argument of a failing call."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The parameter's name in the starter, e.g. 'x_a'.")
    tensor: ReproTensor | None = Field(default=None, description="The argument, if a tensor.")
    literal: str | None = Field(
        default=None, description="The argument's repr, if a plain int, float, bool or None."
    )


class Repro(BaseModel):
    """A failed value check's failing call, as data: what a student pastes to see it again.

    Made for every failed value check, hidden ones included (the result is staff data);
    who may see it is decided where it is shown (`mmexam.checks.present`)."""

    model_config = ConfigDict(extra="forbid")

    function: str = Field(description="The student's function that was called.")
    case: str = Field(description="The call's label, e.g. 'B=1, dA=2, dB=3, float32'.")
    args: list[ReproArg] | None = Field(
        default=None,
        description="The call's arguments, in order; None when they cannot be written as "
        "a snippet (a module argument, or more elements than a snippet holds).",
    )
    expected: list[ReproTensor] = Field(
        default_factory=list, description="The reference's output (one per returned tensor)."
    )
    got: list[ReproTensor] = Field(
        default_factory=list, description="What the student's function returned."
    )
    names: list[str] = Field(
        default_factory=list, description="The outputs' names, for a function returning a tuple."
    )
    rtol: float = Field(default=0.0, description="Relative tolerance of the comparison.")
    atol: float = Field(default=0.0, description="Absolute tolerance of the comparison.")
    line: int | None = Field(
        default=None,
        description="The line of the student's file whose `return` produced the output "
        "(reported by the sandbox, checked to lie within the file).",
    )
    code: str = Field(
        default="", description="That line's text, read from the student's file by the grader."
    )

    @field_validator("code", "case", "function")
    @classmethod
    def _printable(cls, text: str) -> str:
        return printable(text)


class CheckResult(BaseModel):
    """The outcome of one check on one student's file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Check name, '<function>.<what>', e.g. 'tensor_fusion.values'.")
    function: str = Field(description="The task function the check calls.")
    kind: Kind = Field(
        default="value",
        description="value, gradient, property, memory, mutation, determinism or device.",
    )
    score: float = Field(description="Points earned: max_score if passed, else 0.")
    max_score: float = Field(description="Points the check is worth (0 when skipped).")
    passed: bool = Field(description="Whether every call of the check passed.")
    message: str = Field(
        default="", description="Feedback in the voice of torch.testing.assert_close."
    )
    visibility: Visibility = Field(description="public (practice) or hidden (grading only).")
    skipped: bool = Field(
        default=False,
        description="Not run here (a CUDA check without a GPU); counts 0 of 0.",
    )
    cause: Cause | None = Field(
        default=None,
        description="Why it failed: 'wrong' (the function ran, the result is wrong), "
        "'crashed' (it raised, ran out of time or memory, or ended its process), "
        "'missing' (no such function, or a signature it cannot be called with), "
        "'not_loaded' (the file did not import), 'not_credited' (it passed, but pays only "
        "once the function's value checks pass); None when it passed or was skipped.",
    )
    error: str = Field(
        default="",
        description="For crashed, missing and not_loaded: the error alone, without the "
        "check's name and case, e.g. 'raised NotImplementedError (fusion.py, line 44)'.",
    )
    repro: Repro | None = Field(
        default=None,
        description="A failed value check's failing call: inputs, expected and returned "
        "outputs, and the student's line that returned it.",
    )

    @field_validator("message", "name", "function", "error")
    @classmethod
    def _printable(cls, text: str) -> str:
        """Messages quote the student's exceptions: no control character reaches an output."""
        return printable(text)


class TaskResult(BaseModel):
    """All checks of one code task on one student's file."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="The code task: fusion, contrastive, mllm or generation.")
    filename: str = Field(default="", description="The student's file, e.g. 'fusion.py'.")
    score: float = Field(default=0.0, description="Sum of the checks' scores.")
    max_score: float = Field(default=0.0, description="Sum of the checks' max scores.")
    checks: list[CheckResult] = Field(
        default_factory=list, description="One result per check, in declaration order."
    )
    load_error: str | None = Field(
        default=None, description="Why the file could not be loaded (then every check fails)."
    )
    sandbox: str = Field(
        default="bwrap",
        description="How the student's code was isolated: 'bwrap' (bubblewrap), or "
        "'rlimits-only' when the run opted out with --no-sandbox (the code then ran with "
        "the grader's rights).",
    )
    failure: str | None = Field(
        default=None,
        description="The grader itself failed on this file (not the student's fault): "
        "it is graded again on the next run.",
    )

    @field_validator("filename", "load_error", "failure")
    @classmethod
    def _printable(cls, text: str | None) -> str | None:
        """An import error quotes the student's code: no control character reaches an output."""
        return printable(text) if text else text
