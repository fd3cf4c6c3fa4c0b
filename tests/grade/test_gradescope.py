"""results.json follows Gradescope's documented autograder format."""

import json

import pytest
from gradescope_schema import validate
from pydantic import ValidationError

from mmexam.checks.results import CheckResult
from mmexam.grade.gradescope import to_gradescope
from mmexam.grade.results import ItemResult, StudentResult, SubmissionProblem


def student():
    checks = [
        CheckResult(
            name="tensor_fusion.values",
            function="tensor_fusion",
            score=2,
            max_score=2,
            passed=True,
            visibility="public",
        ),
        CheckResult(
            name="tensor_fusion.grad",
            function="tensor_fusion",
            score=0,
            max_score=2,
            passed=False,
            message="tensor_fusion: gradient is not close\n  Mismatched: 3 / 9",
            visibility="hidden",
        ),
    ]
    items = [
        ItemResult(
            number="1.1",
            part="mcq",
            question="q1",
            kind="mcq",
            max_points=2,
            points=0,
            status="auto",
            answer="c",
            answer_shown="(c) late",
            expected="(b) tensor",
            messages=["Expected (b) tensor, got (c) late."],
        ),
        ItemResult(
            number="2.1",
            part="short",
            question="q2",
            kind="short_answer",
            max_points=5,
            points=None,
            status="review",
            answer="because",
            suggested=1,
        ),
        ItemResult(
            number="3.c",
            part="fusion",
            question="q3",
            kind="code",
            max_points=8,
            points=4,
            status="auto",
            checks=checks,
            code_task="fusion",
        ),
        ItemResult(
            number="6.1",
            part="bonus",
            question="q6",
            kind="open",
            max_points=5,
            points=3,
            status="manual",
            bonus=True,
            comment="good start",
        ),
    ]
    problems = [
        SubmissionProblem(where="answers.yaml:4", message="1.9: not on your paper", number="1.9")
    ]
    return StudentResult(
        id="s1", name="Ada", variant="K7Q2M9", source="zip", items=items, problems=problems
    )


def test_results_json_follows_the_documented_schema():
    data = json.loads(json.dumps(to_gradescope(student())))
    parsed = validate(data)
    assert parsed.score == 7
    tests = {t.number: t for t in parsed.tests}
    assert tests["1.1"].score == 0 and tests["1.1"].max_score == 2
    assert tests["1.1"].output == "Your answer: (c) late\nExpected (b) tensor, got (c) late."
    # pending: informational, never a zero
    assert tests["2.1"].score is None and "pending" in tests["2.1"].name
    assert "[FAIL] tensor_fusion.grad (0/2)" in tests["3.c"].output
    assert "    Mismatched: 3 / 9" in tests["3.c"].output
    assert tests["6.1"].name.endswith("(bonus)") and "Reviewer: good start" in tests["6.1"].output
    assert "1 answer(s) still wait for manual review" in parsed.output
    assert "answers.yaml:4: 1.9: not on your paper" in parsed.output


def test_the_schema_rejects_what_gradescope_would():
    good = to_gradescope(student())
    for broken in (
        {**good, "visibility": "sometimes"},
        {**good, "score": "7"},
        {**good, "scores": 7},
        {k: v for k, v in good.items() if k != "score"},
    ):
        with pytest.raises(ValidationError):
            validate(broken)
