"""Parameterised questions: draw values per student and render the templates.

A question with `params` may use `{{ name }}` (any Jinja2 expression) in
its text, options, answers, solutions and rubric. Templates run in Jinja2's
`SandboxedEnvironment` with `StrictUndefined`: no `eval`, no attribute
tricks, and a misspelt parameter is an error rather than an empty string.
Questions without params are never templated, so LaTeX braces like
`x^{{2}}` in them are left alone.

Numbers print naturally: `{{ (d_a + 1) * (d_b + 1) }}` gives `12`, a
float that is a whole number prints without `.0`, others with up to 12
significant digits.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from mmexam.bank.explain import dotted
from mmexam.bank.models import Param, ParamRange
from mmexam.errors import BankError

ParamValue = int | float | str
Q = TypeVar("Q")

# Keys whose strings are identifiers or settings, never templates.
_NOT_TEMPLATED = frozenset(
    {
        "id",
        "part",
        "topics",
        "kind",
        "difficulty",
        "task",
        "functions",
        "scoring",
        "style",
        "params",
        "label",
        "practice",
    }
)
_TEMPLATE_MARK = re.compile(r"\{\{|\{%|\{#")


class TemplateFailure(Exception):
    """A template that cannot be rendered; `str()` says why in one line.

    `path` locates the string inside the question (e.g. `('parts', 0, 'answer')`)
    when it is known.
    """

    def __init__(self, reason: str, path: tuple = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


def _finalize(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.12g}"
    return value


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus bounds on `**` and sequence repetition, so a template
    cannot hang validation (`{{ 9 ** 9 ** 9 }}`) or fill memory (`{{ 'x' * 10**9 }}`)."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 1024:
            raise SecurityError(f"exponent {right} is too large (at most 1024)")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and (
                    len(sequence) * count > 100_000
                ):
                    raise SecurityError("repeating a sequence beyond 100,000 items")
        return super().call_binop(context, operator, left, right)


_ENV = _BoundedSandbox(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    finalize=_finalize,
)


def is_template(text: str) -> bool:
    """Whether `text` contains Jinja2 syntax."""
    return bool(_TEMPLATE_MARK.search(text))


@lru_cache(maxsize=8192)
def _compile(source: str):
    try:
        return _ENV.from_string(source)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line} of the template)" if line and "\n" in source.strip() else ""
        message = str(error.message).rstrip(".")
        raise TemplateFailure(f"template syntax error{where}: {message}") from None


def template_variables(source: str) -> set[str]:
    """The names a template reads; raises TemplateFailure on a syntax error."""
    if not is_template(source):
        return set()
    try:
        return meta.find_undeclared_variables(_ENV.parse(source))
    except TemplateError as error:
        raise TemplateFailure(f"template syntax error: {str(error.message).rstrip('.')}") from None


def render(source: str, values: dict[str, ParamValue]) -> str:
    """Render one template string; raises TemplateFailure with a one-line reason."""
    if not is_template(source):
        return source
    template = _compile(source)
    try:
        return template.render(values)
    except TemplateError as error:
        message = str(error.message or error)
        undefined = re.match(r"'(\w+)' is undefined", message)
        if undefined:
            raise TemplateFailure(
                f"template uses '{undefined.group(1)}', which is not a parameter"
            ) from None
        raise TemplateFailure(f"template failed: {message}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as error:
        raise TemplateFailure(f"template failed with {type(error).__name__}: {error}") from None


# ---------------------------------------------------------------- values


def _decimals(number: float) -> int:
    exponent = Decimal(repr(number)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def range_count(spec: ParamRange) -> int:
    """How many values a range holds."""
    return math.floor((spec.max - spec.min) / spec.step + 1e-9) + 1


def range_value(spec: ParamRange, k: int) -> int | float:
    """The k-th value of a range (0-based): int when min and step are whole numbers."""
    if float(spec.min).is_integer() and float(spec.step).is_integer():
        return int(spec.min) + k * int(spec.step)
    places = min(12, max(_decimals(spec.min), _decimals(spec.step)))
    return round(spec.min + k * spec.step, places)


def param_extremes(param: Param) -> tuple[ParamValue, ParamValue]:
    """The first and last value a parameter can take."""
    if param.choices is not None:
        return param.choices[0], param.choices[-1]
    assert param.range is not None
    return range_value(param.range, 0), range_value(param.range, range_count(param.range) - 1)


def param_size(param: Param) -> int:
    """How many values a parameter can take."""
    if param.choices is not None:
        return len(param.choices)
    assert param.range is not None
    return range_count(param.range)


def param_values(param: Param) -> Iterator[ParamValue]:
    """Every value a parameter can take, in order."""
    if param.choices is not None:
        yield from param.choices
        return
    assert param.range is not None
    for k in range(range_count(param.range)):
        yield range_value(param.range, k)


def draw_value(param: Param, rng: random.Random) -> ParamValue:
    if param.choices is not None:
        return param.choices[rng.randrange(len(param.choices))]
    assert param.range is not None
    return range_value(param.range, rng.randrange(range_count(param.range)))


def draw_params(question: Any, rng: random.Random) -> dict[str, ParamValue]:
    """One value per parameter, drawn with `rng` in authored order."""
    return {name: draw_value(param, rng) for name, param in question.params.items()}


# ---------------------------------------------------------------- instantiate


def templated_strings(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, string) for every string in a dumped question that may hold a template."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _NOT_TEMPLATED:
                continue
            yield from templated_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from templated_strings(value, (*path, index))
    elif isinstance(data, str):
        yield path, data


def numeric_answer(text: str) -> float:
    """A rendered numeric answer as a float; raises TemplateFailure if it is not a number."""
    try:
        value = float(text.strip())
    except ValueError:
        raise TemplateFailure(
            f"numeric answer rendered as {text.strip()!r}, not a number"
        ) from None
    if not math.isfinite(value):
        raise TemplateFailure(f"numeric answer rendered as {text.strip()!r}, not a finite number")
    return value


def render_data(data: Any, values: dict[str, ParamValue], path: tuple = ()) -> Any:
    """A copy of dumped question data with every templated string rendered.

    Numeric answers (a string `answer` next to `kind: numeric`) become floats.
    Raises TemplateFailure with the path of the failing string.
    """
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            here = (*path, key)
            if key in _NOT_TEMPLATED:
                out[key] = value
            elif key == "answer" and data.get("kind") == "numeric" and isinstance(value, str):
                try:
                    out[key] = numeric_answer(render(value, values))
                except TemplateFailure as failure:
                    raise TemplateFailure(failure.reason, here) from None
            else:
                out[key] = render_data(value, values, here)
        return out
    if isinstance(data, list):
        return [render_data(value, values, (*path, k)) for k, value in enumerate(data)]
    if isinstance(data, str):
        try:
            return render(data, values)
        except TemplateFailure as failure:
            raise TemplateFailure(failure.reason, path) from None
    return data


def instantiate(question: Q, values: dict[str, ParamValue]) -> Q:
    """The question with its templates rendered for `values` (same model type).

    A question without params comes back unchanged. Raises BankError when a
    template fails (the validator reports these before any build).
    """
    params = getattr(question, "params", None)
    if not params:
        return question
    missing = [name for name in params if name not in values]
    if missing:
        raise BankError(f"{question.id}: no value for parameter(s) {', '.join(missing)}")
    data = question.model_dump(mode="python", exclude_unset=False)
    try:
        rendered = render_data(data, values)
    except TemplateFailure as failure:
        raise BankError(f"{question.id}: {dotted(failure.path)}: {failure.reason}") from None
    return type(question).model_validate(rendered)
