"""Parameterised questions: drawing values and rendering templates in the sandbox."""

from __future__ import annotations

import random

import pytest
from jinja2 import TemplateError

from mmexam.bank.content import draws
from mmexam.bank.models import Mcq, Numeric, Param, ParamRange, Problem
from mmexam.bank.params import (
    TemplateFailure,
    draw_params,
    instantiate,
    param_values,
    render,
    template_variables,
)
from mmexam.errors import BankError

META = {"part": "short", "topics": ["fusion"], "difficulty": "easy"}


def numeric(**extra) -> Numeric:
    data = {
        "id": "n",
        "kind": "numeric",
        "points": 2,
        **META,
        "params": {"d_a": {"range": {"min": 2, "max": 5}}, "d_b": {"choices": [3, 7]}},
        "text": "Fuse $x_A \\in \\mathbb{R}^{ {{ d_a }} }$ and $x_B$ ({{ d_b }} features).",
        "answer": "{{ (d_a + 1) * (d_b + 1) }}",
        "solution": "$({{ d_a }}+1)({{ d_b }}+1)$",
    }
    data.update(extra)
    return Numeric.model_validate(data)


def test_draws_are_reproducible_and_in_range():
    question = numeric()
    first = [draw_params(question, random.Random(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    seen = {tuple(draw_params(question, random.Random(seed)).values()) for seed in range(200)}
    assert seen == {(a, b) for a in range(2, 6) for b in (3, 7)}


def test_range_values_are_ints_or_clean_decimals():
    assert list(param_values(Param(range=ParamRange(min=2, max=8, step=3)))) == [2, 5, 8]
    assert list(param_values(Param(range=ParamRange(min=0.1, max=0.5, step=0.1)))) == [
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
    ]
    assert list(param_values(Param(choices=["a", 2.5]))) == ["a", 2.5]


def test_instantiate_renders_every_templated_string_and_keeps_the_type():
    question = numeric()
    concrete = instantiate(question, {"d_a": 3, "d_b": 7})
    assert type(concrete) is Numeric
    assert concrete.text == "Fuse $x_A \\in \\mathbb{R}^{ 3 }$ and $x_B$ (7 features)."
    assert concrete.answer == 32.0
    assert concrete.solution == "$(3+1)(7+1)$"
    assert question.answer == "{{ (d_a + 1) * (d_b + 1) }}"  # the bank is untouched


def test_instantiate_problem_parts_and_options():
    problem = Problem.model_validate(
        {
            "id": "p",
            "kind": "problem",
            **META,
            "part": "fusion",
            "params": {"k": {"choices": [2]}},
            "text": "k = {{ k }}",
            "parts": [
                {
                    "kind": "mcq",
                    "points": 1,
                    "text": "Twice {{ k }}?",
                    "options": ["{{ 2 * k }}", {"text": "{{ k }}", "fixed": True}],
                    "answer": "a",
                },
                {"kind": "numeric", "points": 1, "text": "Half?", "answer": "{{ k / 4 }}"},
            ],
        }
    )
    concrete = instantiate(problem, {"k": 2})
    assert concrete.text == "k = 2"
    assert concrete.parts[0].options[0] == "4"
    assert concrete.parts[0].options[1].text == "2"
    assert concrete.parts[0].options[1].fixed is True
    assert concrete.parts[1].answer == 0.5


def test_questions_without_params_are_not_templated():
    mcq = Mcq.model_validate(
        {
            "id": "m",
            "kind": "mcq",
            "points": 2,
            **META,
            "text": "$x^{{2}}$",
            "options": ["a", "b"],
            "answer": "a",
        }
    )
    assert instantiate(mcq, {}) is mcq


def test_instantiate_failures_are_bank_errors():
    with pytest.raises(BankError, match=r"^n: no value for parameter\(s\) d_b$"):
        instantiate(numeric(), {"d_a": 2})
    broken = numeric(answer="{{ d_a }} features")
    with pytest.raises(BankError, match=r"^n: answer: numeric answer rendered as '2 features'"):
        instantiate(broken, {"d_a": 2, "d_b": 3})


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ d_c }}", "template uses 'd_c', which is not a parameter"),
        (
            "{{ x.__class__ }}",
            ("template failed: access to attribute '__class__' of 'int' object is unsafe."),
        ),
        (
            "{{ ().__class__.__bases__[0].__subclasses__() }}",
            ("template failed: access to attribute '__class__' of 'tuple' object is unsafe."),
        ),
        ("{{ 1 / 0 }}", "template failed with ZeroDivisionError: division by zero"),
        ("{{ 2 ** 100000 }}", "template failed: exponent 100000 is too large (at most 1024)"),
        ("{{ 'x' * 10 ** 9 }}", "template failed: repeating a sequence beyond 100,000 items"),
        (
            "{{ range(10 ** 7) | list | length }}",
            (
                "template failed with OverflowError: Range too "
                "big. The sandbox blocks ranges larger than MAX_RANGE (100000)."
            ),
        ),
        (
            "{{ x ",
            (
                "template syntax error: unexpected end of template, expected 'end of print "
                "statement'"
            ),
        ),
    ],
)
def test_templates_run_sandboxed_and_fail_with_one_line(template, reason):
    with pytest.raises(TemplateFailure) as caught:
        render(template, {"x": 1})
    assert caught.value.reason == reason


def test_numbers_print_naturally():
    assert render("{{ 6 / 2 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 7 }}", {}) == (
        "3 0.3 0.333333333333 7"
    )


def test_template_variables():
    assert template_variables("{{ a + b }} {% if c %}{{ d }}{% endif %}") == {"a", "b", "c", "d"}
    assert template_variables("no templates") == set()


def test_validation_draws_every_combination_or_a_spread():
    small = numeric()
    assert len(draws(small)) == 8
    big = numeric(
        params={"a": {"range": {"min": 0, "max": 100}}, "b": {"range": {"min": 0, "max": 100}}},
        text="{{ a }} {{ b }}",
        answer="{{ a + b }}",
        solution="s",
    )
    spread = draws(big)
    assert spread[0] == {"a": 0, "b": 0}
    assert spread[1] == {"a": 100, "b": 100}
    assert 3 <= len(spread) <= 8
    assert draws(big) == spread  # seeded by the question id


@pytest.mark.parametrize(
    "expression",
    [
        "(d_a + 1) * (d_b + 1)",
        "d_a / 3",
        "d_a // 3",
        "d_a % 3",
        "2 ** d_a",
        "-d_a + +d_b",
        "d_a > 2 and d_b < 5",
        "d_a if d_a > d_b else d_b",
        "'x' ~ d_a ~ 'y'",
        "[d_a, d_b]",
        "(d_a, 1)",
        "not d_a",
        "d_a in [1, 2, 3]",
        "1 < d_a < 5",
        "d_a or 0",
        "d_a - 0.5",
        "d_a * 'ab'",
        "(d_a * d_b) | round(1)",
        "[1, 2, 3][d_a % 3]",
        "d_a is even",
    ],
)
def test_fast_arithmetic_agrees_with_jinja(expression):
    from mmexam.bank.params import _ENV

    jinja = _ENV.from_string("{{ " + expression + " }}")
    for d_a, d_b in ((0, 3), (3, 3), (7, 2), (2.5, 1)):
        values = {"d_a": d_a, "d_b": d_b}
        try:
            expected = jinja.render(values)
        except (TypeError, TemplateError):
            with pytest.raises(TemplateFailure):
                render("{{ " + expression + " }}", values)
            continue
        assert render("{{ " + expression + " }}", values) == _finalized(expected, jinja, values)


def _finalized(rendered: str, template, values) -> str:
    """Jinja's own output with mmexam's number formatting (whole floats print as ints)."""
    try:
        number = float(rendered)
    except ValueError:
        return rendered
    if "." in rendered and number == int(number):
        return str(int(number))
    return rendered
