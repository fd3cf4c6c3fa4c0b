"""Scoring one answer: shuffles undone, partial credit, tolerances, suggestions, code shares."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmexam.bank.models import (
    CodePart,
    McqPart,
    MultiSelectPart,
    NumericPart,
    OpenPart,
    ShortAnswerPart,
)
from mmexam.checks.results import CheckResult, TaskResult
from mmexam.exam import Item
from mmexam.grade.scoring import parse_number, score_item
from mmexam.grade.submissions import Answer

OPTIONS = ["early fusion", "late fusion", "tensor fusion", "gated fusion"]


def mcq(answer="c", options=OPTIONS):
    return McqPart(
        kind="mcq",
        points=2,
        text="Which fusion takes an outer product?",
        options=options,
        answer=answer,
    )


def item(kind, number="1.1", points=2.0, options=None, **kw):
    return Item(
        number=number,
        part="mcq",
        question="q-" + kind,
        kind=kind,
        points=points,
        options=options,
        **kw,
    )


def ans(value, line=3):
    return Answer(value, line)


def test_mcq_shuffle_is_undone():
    # printed order: a=authored 3, b=authored 2 (the key 'c'), c=authored 0, d=authored 1
    it = item("mcq", options=[3, 2, 0, 1])
    right = score_item(it, mcq(), ans("b"))
    assert right.result.points == 2 and right.problems == []
    assert right.result.chosen == [2] and right.result.key == [2]
    assert right.result.expected == "(b) tensor fusion"
    wrong = score_item(it, mcq(), ans("c"))
    assert wrong.result.points == 0
    assert wrong.result.answer_shown == "(c) early fusion"
    assert "Expected (b) tensor fusion, got (c) early fusion." in wrong.result.messages
    # the authored letter of the key is not the student's letter
    assert score_item(it, mcq(), ans("C")).result.points == 0


@given(perm=st.permutations(list(range(5))), key=st.integers(0, 4), pick=st.integers(0, 4))
def test_mcq_any_permutation(perm, key, pick):
    body = mcq(answer="abcde"[key], options=["o0", "o1", "o2", "o3", "o4"])
    it = item("mcq", options=list(perm))
    scored = score_item(it, body, ans("abcde"[pick]))
    assert scored.result.points == (2 if perm[pick] == key else 0)
    assert scored.result.expected == f"({'abcde'[perm.index(key)]}) o{key}"


def test_mcq_answer_forms_and_wrong_types():
    it = item("mcq", options=[0, 1, 2, 3])
    for form in ("c", "C", "(c)", "c)", "c) tensor fusion", ["c"]):
        assert score_item(it, mcq(), ans(form)).result.points == 2, form
    for bad in ("e", "tensor", ["a", "c"]):
        scored = score_item(it, mcq(), ans(bad))
        assert scored.result.points == 0
        assert scored.problems and scored.problems[0].where == "answers.yaml:3"
        assert scored.problems[0].number == "1.1"
    blank = score_item(it, mcq(), None)
    assert blank.result.points == 0 and blank.result.messages == ["No answer given."]
    assert blank.problems == []


def multi(scoring):
    return MultiSelectPart(
        kind="multi_select",
        points=3,
        text="Select all true.",
        options=["t0", "t1", "t2", "f3", "f4"],
        answers=["a", "b", "c"],
        scoring=scoring,
    )


@pytest.mark.parametrize(
    ("scoring", "picked", "points"),
    [
        ("all_or_nothing", "abc", 3),
        ("all_or_nothing", "ab", 0),
        ("per_option", "abc", 3),
        ("per_option", "ab", 3 * 4 / 5),
        ("per_option", "abd", 3 * 3 / 5),
        ("right_minus_wrong", "ab", 2),
        ("right_minus_wrong", "abd", 1),
        ("right_minus_wrong", "ade", 0),
    ],
)
def test_multi_select_policies(scoring, picked, points):
    it = item("multi_select", points=3, options=[0, 1, 2, 3, 4])
    result = score_item(it, multi(scoring), ans(list(picked))).result
    assert result.points == pytest.approx(points)


def test_multi_select_under_permutation_and_string_forms():
    # printed: a=f4, b=t0, c=f3, d=t1, e=t2
    it = item("multi_select", points=3, options=[4, 0, 3, 1, 2])
    for form in ("b, d, e", "bde", "B D E", ["b", "d", "e"]):
        assert score_item(it, multi("all_or_nothing"), ans(form)).result.points == 3, form
    scored = score_item(it, multi("right_minus_wrong"), ans("b, d, z"))
    assert scored.result.points == pytest.approx(2)
    assert "'z' not among the letters a–e" in scored.problems[0].message


def numeric(abs_tol=None, rel_tol=None, answer=20.0, unit=None):
    return NumericPart(
        kind="numeric",
        points=2,
        text="How long is the fused vector?",
        answer=answer,
        abs_tol=abs_tol,
        rel_tol=rel_tol,
        unit=unit,
    )


def test_numeric_tolerances():
    it = item("numeric")
    assert score_item(it, numeric(), ans("20")).result.points == 2
    assert score_item(it, numeric(), ans("20.0000000001")).result.points == 2
    assert score_item(it, numeric(), ans("20.01")).result.points == 0
    assert score_item(it, numeric(abs_tol=0.5), ans("19.6")).result.points == 2
    assert score_item(it, numeric(rel_tol=0.01), ans("20.19")).result.points == 2
    off = score_item(it, numeric(rel_tol=0.01), ans("21")).result
    assert off.points == 0
    assert off.messages == [
        "Expected 20, got 21: absolute difference 1 (up to 0.2 allowed), relative difference 0.05."
    ]
    assert score_item(it, numeric(unit="MB"), ans("20 MB")).result.points == 2
    assert score_item(item("numeric"), numeric(answer=0.25), ans("1/4")).result.points == 2


def test_numeric_wrong_type_is_a_problem():
    scored = score_item(item("numeric", number="3.a"), numeric(), ans("twenty", line=7))
    assert scored.result.points == 0
    assert scored.problems[0].line() == "answers.yaml:7: 3.a: 'twenty' is not a number"


def test_parse_number():
    assert parse_number("\u22121.5") == -1.5
    assert parse_number("2.5e-3") == 0.0025
    assert parse_number("inf") is None
    assert parse_number("1/0") is None


def short():
    return ShortAnswerPart(
        kind="short_answer",
        points=5,
        text="Why append a 1?",
        reference="To keep unimodal terms.",
        rubric=[
            {
                "points": 2,
                "description": "unimodal terms kept",
                "keywords": ["unimodal", "first-order"],
            },
            {"points": 2, "description": "outer product", "keywords": ["outer product"]},
            {"points": 1, "description": "bias", "regex": r"\bbias(es)?\b"},
        ],
    )


def test_short_answer_is_pending_with_a_suggestion():
    result = score_item(
        item("short_answer", points=5), short(), ans("The Outer-products keep the UNIMODAL terms.")
    ).result
    assert result.points is None and result.pending and result.status == "review"
    assert result.suggested == 4
    assert result.matched == ["unimodal terms kept", "outer product"]
    blank = score_item(item("short_answer", points=5), short(), ans("   ")).result
    assert blank.points == 0 and blank.status == "auto"


def test_open_is_pending_without_suggestion():
    body = OpenPart(
        kind="open",
        points=5,
        text="Discuss.",
        rubric=[{"points": 5, "description": "a reasoned argument"}],
    )
    result = score_item(item("open", points=5), body, ans("Long essay")).result
    assert result.pending and result.suggested is None


def code_body(functions):
    return CodePart(kind="code", points=8, text="Implement.", task="fusion", functions=functions)


def check(name, function, passed, points=1.0):
    return CheckResult(
        name=name,
        function=function,
        score=points if passed else 0.0,
        max_score=points,
        passed=passed,
        message="" if passed else "values differ",
        visibility="hidden",
    )


def test_code_points_are_the_share_of_its_functions_checks():
    checks = [
        check("tf.values", "tensor_fusion", True, 2),
        check("tf.grad", "tensor_fusion", False, 2),
        check("am.values", "additive_multiplicative", True, 4),
        check("gated.values", "gated_fusion", False, 10),
    ]
    outcome = TaskResult(task="fusion", filename="fusion.py", checks=checks)
    result = score_item(
        item("code", points=8),
        code_body(["tensor_fusion", "additive_multiplicative"]),
        None,
        code=outcome,
    ).result
    assert result.points == pytest.approx(8 * 6 / 8)
    assert [c.name for c in result.checks] == ["tf.values", "tf.grad", "am.values"]


def test_code_missing_file_and_answer_in_yaml():
    scored = score_item(
        item("code", points=8),
        code_body(["tensor_fusion"]),
        ans("def f(): ..."),
        code=None,
    )
    assert scored.result.points == 0
    assert "fusion.py was not submitted" in scored.result.messages[0]
    assert "graded from fusion.py, not from answers.yaml" in scored.problems[0].message
