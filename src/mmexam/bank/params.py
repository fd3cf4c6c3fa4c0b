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
import operator
import random
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar, cast

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateAssertionError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from mmexam.bank.explain import dotted
from mmexam.bank.models import Param, ParamRange
from mmexam.errors import BankError

ParamValue = int | float | str
Q = TypeVar("Q", bound=BaseModel)

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
                if (
                    isinstance(sequence, (str, list, tuple))
                    and isinstance(count, int)
                    and (len(sequence) * count > 100_000)
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


# Most templates are text with `{{ expression }}` holes. Those are split once
# and each distinct expression is compiled once, however many templates use
# it (`{{ d_a }}` appears everywhere); anything else (`{% ... %}`, comments,
# whitespace control) is compiled as a whole template.
_HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def _syntax_failure(error: TemplateError, source: str) -> TemplateFailure:
    line = getattr(error, "lineno", None)
    where = f" (line {line} of the template)" if line and "\n" in source.strip() else ""
    message = str(error.message or error).rstrip(".")
    # an unknown filter or test parses, but does not compile: not a syntax error
    kind = (
        "template error" if isinstance(error, TemplateAssertionError) else "template syntax error"
    )
    return TemplateFailure(f"{kind}{where}: {message}")


@lru_cache(maxsize=16384)
def _pieces(source: str) -> tuple[tuple[bool, str], ...] | None:
    """(is_expression, text) pieces of a simple template, or None if it is not simple."""
    if "{%" in source or "{#" in source:
        return None
    pieces: list[tuple[bool, str]] = []
    last = 0
    for hole in _HOLE.finditer(source):
        expression = hole.group(1)
        if (
            expression.startswith(("-", "+"))
            or expression.endswith(("-", "+"))
            or ("{" in expression or "}" in expression)
        ):
            return None
        pieces.append((False, source[last : hole.start()]))
        pieces.append((True, expression.strip()))
        last = hole.end()
    rest = source[last:]
    if "{{" in rest or "}}" in rest:
        return None
    pieces.append((False, rest))
    return tuple(p for p in pieces if p[0] or p[1])


def _names(tree: nodes.Template) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(tree))


# Arithmetic expressions (the usual `{{ (d_a + 1) * (d_b + 1) }}`) are
# evaluated by a small interpreter over Jinja's own parse tree: the same
# operators and bounds as the sandbox, a hundred times cheaper than a Jinja
# call. Anything else (attributes, calls, filters, tests, subscripts) goes
# to Jinja's SandboxedEnvironment.
_BINARY = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Div": operator.truediv,
    "FloorDiv": operator.floordiv,
    "Mod": operator.mod,
}
_COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


class _NotSimple(Exception):
    """The expression needs Jinja itself."""


# Long by nature: one branch per Jinja node kind that it interprets.
def _interpreter(node: nodes.Node):
    """A function values -> result for an arithmetic Jinja expression; _NotSimple otherwise."""
    kind = type(node).__name__
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda values: value
    if isinstance(node, nodes.Name) and node.ctx == "load":
        name = node.name

        def lookup(values):
            if name in values:
                return values[name]
            raise UndefinedError(f"'{name}' is undefined")

        return lookup
    if isinstance(node, (nodes.Tuple, nodes.List)):
        items = [_interpreter(item) for item in node.items]
        make = tuple if isinstance(node, nodes.Tuple) else list
        return lambda values: make(item(values) for item in items)
    if kind in _BINARY or kind in ("Mul", "Pow", "Concat"):
        if isinstance(node, nodes.Concat):
            parts = [_interpreter(item) for item in node.nodes]
            return lambda values: "".join(str(part(values)) for part in parts)
        binary = cast(nodes.BinExpr, node)
        left, right = _interpreter(binary.left), _interpreter(binary.right)
        if kind == "Mul":
            return lambda values: _ENV.call_binop(None, "*", left(values), right(values))
        if kind == "Pow":
            return lambda values: _ENV.call_binop(None, "**", left(values), right(values))
        function = _BINARY[kind]
        return lambda values: function(left(values), right(values))
    if isinstance(node, (nodes.Neg, nodes.Pos, nodes.Not)):
        inner = _interpreter(node.node)
        if isinstance(node, nodes.Neg):
            return lambda values: -inner(values)
        if isinstance(node, nodes.Pos):
            return lambda values: +inner(values)
        return lambda values: not inner(values)
    if isinstance(node, (nodes.And, nodes.Or)):
        left, right = _interpreter(node.left), _interpreter(node.right)
        if isinstance(node, nodes.And):
            return lambda values: left(values) and right(values)
        return lambda values: left(values) or right(values)
    if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
        test, yes, no = (
            _interpreter(node.test),
            _interpreter(node.expr1),
            _interpreter(node.expr2),
        )
        return lambda values: yes(values) if test(values) else no(values)
    if isinstance(node, nodes.Compare):
        first = _interpreter(node.expr)
        steps = [(_COMPARE[op.op], _interpreter(op.expr)) for op in node.ops]

        def compare(values):
            left = first(values)
            for function, operand in steps:
                right = operand(values)
                if not function(left, right):
                    return False
                left = right
            return True

        return compare
    raise _NotSimple(kind)


@lru_cache(maxsize=16384)
def _expression(expression: str):
    """(evaluate(values), variables) for one `{{ }}` expression; raises TemplateFailure."""
    source = "{{ " + expression + " }}"
    try:
        tree = _ENV.parse(source)
        names = _names(tree)  # compiles: an unknown filter or test fails here
    except TemplateError as error:
        raise _syntax_failure(error, source) from None
    body = tree.body[0] if len(tree.body) == 1 else None
    if isinstance(body, nodes.Output) and len(body.nodes) == 1:
        try:
            return _interpreter(body.nodes[0]), names
        except _NotSimple:
            pass
    try:
        compiled = _ENV.compile_expression(expression, undefined_to_none=False)
    except TemplateError as error:
        raise _syntax_failure(error, source) from None
    return (lambda values: compiled(**values)), names


@lru_cache(maxsize=8192)
def _template(source: str):
    """(template, variables) for a template that is not simple; raises TemplateFailure."""
    try:
        tree = _ENV.parse(source)
        return _ENV.from_string(tree), _names(tree)
    except TemplateError as error:
        raise _syntax_failure(error, source) from None


def template_variables(source: str) -> set[str]:
    """The names a template reads; raises TemplateFailure on a syntax error."""
    if not is_template(source):
        return set()
    pieces = _pieces(source)
    if pieces is None:
        return set(_template(source)[1])
    names: set[str] = set()
    for is_expression, text in pieces:
        if is_expression:
            names |= _expression(text)[1]
    return names


def _failure(error: Exception) -> TemplateFailure:
    if isinstance(error, TemplateError):
        message = str(error.message or error)
        undefined = re.match(r"'(\w+)' is undefined", message)
        if undefined:
            return TemplateFailure(
                f"template uses '{undefined.group(1)}', which is not a parameter"
            )
        return TemplateFailure(f"template failed: {message}")
    return TemplateFailure(f"template failed with {type(error).__name__}: {error}")


_RUNTIME_ERRORS = (
    TemplateError,
    ArithmeticError,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
)


def render(source: str, values: dict[str, ParamValue], memo: dict | None = None) -> str:
    """Render one template string; raises TemplateFailure with a one-line reason.

    memo: expression -> value for these `values`, shared by the strings of one
    question so each expression is evaluated once per draw.
    """
    if not is_template(source):
        return source
    pieces = _pieces(source)
    try:
        if pieces is None:
            return _template(source)[0].render(values)
        out = []
        for is_expression, text in pieces:
            if not is_expression:
                out.append(text)
                continue
            if memo is not None and text in memo:
                out.append(memo[text])
                continue
            value = str(_finalize(_expression(text)[0](values)))
            if memo is not None:
                memo[text] = value
            out.append(value)
        return "".join(out)
    except _RUNTIME_ERRORS as error:
        raise _failure(error) from None


def expressions(source: str) -> tuple[str, ...] | None:
    """The `{{ }}` expressions of a simple template, or None for one Jinja must render.

    Raises TemplateFailure on a syntax error.
    """
    pieces = _pieces(source)
    if pieces is None:
        return None
    found = tuple(text for is_expression, text in pieces if is_expression)
    for text in found:
        _expression(text)
    return found


def evaluate(expression: str, values: dict[str, ParamValue]) -> str:
    """One expression of a simple template, as it prints; raises TemplateFailure."""
    try:
        return str(_finalize(_expression(expression)[0](values)))
    except _RUNTIME_ERRORS as error:
        raise _failure(error) from None


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


def render_data(
    data: Any, values: dict[str, ParamValue], path: tuple = (), memo: dict | None = None
) -> Any:
    """A copy of dumped question data with every templated string rendered.

    Numeric answers (a string `answer` next to `kind: numeric`) become floats.
    Raises TemplateFailure with the path of the failing string.
    """
    if memo is None:
        memo = {}
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            here = (*path, key)
            if key in _NOT_TEMPLATED:
                out[key] = value
            elif key == "answer" and data.get("kind") == "numeric" and isinstance(value, str):
                try:
                    out[key] = numeric_answer(render(value, values, memo))
                except TemplateFailure as failure:
                    raise TemplateFailure(failure.reason, here) from None
            else:
                out[key] = render_data(value, values, here, memo)
        return out
    if isinstance(data, list):
        return [render_data(value, values, (*path, k), memo) for k, value in enumerate(data)]
    if isinstance(data, str):
        try:
            return render(data, values, memo)
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
    qid = getattr(question, "id", "?")
    missing = [name for name in params if name not in values]
    if missing:
        raise BankError(f"{qid}: no value for parameter(s) {', '.join(missing)}")
    data = question.model_dump(mode="python", exclude_unset=False)
    try:
        rendered = render_data(data, values)
    except TemplateFailure as failure:
        raise BankError(f"{qid}: {dotted(failure.path)}: {failure.reason}") from None
    return type(question).model_validate(rendered)
