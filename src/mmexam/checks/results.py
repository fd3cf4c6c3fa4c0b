"""The one result model of a check run: what the runner returns, the worker sends, the
engine validates, and scoring, feedback and exports read.

A `TaskResult` is one student's file for one code task; its `checks` are one
`CheckResult` each. The same models cross the process boundary as
`model_dump(mode="json")` and come back with `model_validate`; a grader that
fails on a file (not the student's fault) is a `TaskResult` with `failure` set.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mmexam.checks.plan import Kind, Visibility
from mmexam.safetext import printable


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

    @field_validator("message", "name", "function")
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
