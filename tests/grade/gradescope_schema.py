"""Gradescope's documented results.json format, as strict pydantic models for the tests.

Transcribed from Gradescope's "Autograder Specifications", section "Output
format" (gradescope-autograders.readthedocs.io/en/latest/specs/): every key
it lists, their types, the visibility, status and format values it allows,
and its one rule: "score" is required at the top level unless every test
has one. Unknown keys are rejected, so a typo in a key fails the tests.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, model_validator

Number = StrictFloat | StrictInt
Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
Format = Literal["text", "simple_format", "html", "md", "ansi"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Test(_Strict):
    score: Number | None = None
    max_score: Number | None = None
    status: Literal["passed", "failed"] | None = None
    name: StrictStr | None = None
    name_format: Format | None = None
    number: StrictStr | None = None
    output: StrictStr | None = None
    output_format: Format | None = None
    tags: list[StrictStr] | None = None
    visibility: Visibility | None = None
    extra_data: dict | None = None


class LeaderboardEntry(_Strict):
    name: StrictStr
    value: Number | StrictStr
    order: Literal["asc", "desc"] | None = None


class Results(_Strict):
    score: Number | None = None
    execution_time: Number | None = None
    output: StrictStr | None = None
    output_format: Format | None = None
    test_output_format: Format | None = None
    test_name_format: Format | None = None
    visibility: Visibility | None = None
    stdout_visibility: Visibility | None = None
    extra_data: dict | None = None
    tests: list[Test] | None = None
    leaderboard: list[LeaderboardEntry] | None = None

    @model_validator(mode="after")
    def _score_somewhere(self):
        if self.score is None and (not self.tests or any(t.score is None for t in self.tests)):
            raise ValueError("'score' is required at the top level unless every test has one")
        return self


def validate(data: dict) -> Results:
    return Results.model_validate(data)
