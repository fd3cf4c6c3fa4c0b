"""LaTeX math: the rewrites both converters need, conversion to Typst and MathML, and the
formula cache.

`math_to_typst` (tex2typst) and `math_to_mathml` (latex2mathml) convert one
formula each and remember the result, failures included, in the process's
formula cache; `check_typst_math` checks many converted formulas in one Typst
compile. A process that starts workers hands them what it has converted with
`formula_cache_snapshot()` and `preload_formula_cache(...)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmexam.markup.parsing import MarkupError

#: Bumped whenever the LaTeX rewriting below changes, so cached verdicts expire.
CONVERTER_VERSION = 1

# ---------------------------------------------------------------- rewrites
#
# tex2typst (strict mode) and latex2mathml each miss a few common commands;
# these rewrites turn them into equivalents both understand.

_SIZE = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![A-Za-z])")
_DROP = re.compile(r"\\(?:limits|nolimits|scriptstyle|scriptscriptstyle)(?![A-Za-z])")
SIMPLE = {
    "lvert": "|",
    "rvert": "|",
    "lVert": r"\|",
    "rVert": r"\|",
    "coloneqq": ":=",
    "lnot": r"\neg ",
    "bm": r"\boldsymbol",
    "mathds": r"\mathbb",
    "varnothing": r"\emptyset",
    "mbox": r"\text",
    "textrm": r"\text",
    "textnormal": r"\text",
}
_SIMPLE_RE = re.compile(r"\\(" + "|".join(SIMPLE) + r")(?![A-Za-z])")
# Operator names: upright, arguments beside them.
OPERATORS = [
    "tanh",
    "sinh",
    "cosh",
    "coth",
    "arcsin",
    "arccos",
    "arctan",
    "arg",
    "deg",
    "dim",
    "hom",
    "ker",
    "lg",
    "exp",
]
# Operator names whose subscripts go below in display math.
LIMIT_OPERATORS = {
    "max": "max",
    "min": "min",
    "sup": "sup",
    "inf": "inf",
    "det": "det",
    "gcd": "gcd",
    "Pr": "Pr",
    "liminf": "lim inf",
    "limsup": "lim sup",
    "argmax": "arg max",
    "argmin": "arg min",
}
_OPERATOR_RE = re.compile(r"\\(" + "|".join(OPERATORS) + r")(?![A-Za-z])")
_LIMIT_RE = re.compile(r"\\(" + "|".join(LIMIT_OPERATORS) + r")(?![A-Za-z])")
_OPNAME = re.compile(r"\\operatorname(\*?)\s*\{([^{}]*)\}")
SPACING = re.compile(r"\\[,;:! ]")


def group_end(tex: str, start: int) -> int:
    """Index just past the brace group opening at `start`, or -1 if unbalanced."""
    depth = 0
    i = start
    while i < len(tex):
        ch = tex[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _wrap_text_style(tex: str, command: str, math: str) -> str:
    r"""\textbf{x} -> \mathbf{\text{x}} (both converters know the latter)."""
    pattern = re.compile(r"\\" + command + r"(?![A-Za-z])\s*\{")
    while True:
        found = pattern.search(tex)
        if not found:
            return tex
        brace = found.end() - 1
        end = group_end(tex, brace)
        if end < 0:
            return tex
        inner = tex[brace + 1 : end - 1]
        tex = tex[: found.start()] + "\\" + math + r"{\text{" + inner + "}}" + tex[end:]


def _common_fixes(tex: str) -> str:
    tex = _SIZE.sub("", tex)
    tex = _DROP.sub("", tex)
    tex = _SIMPLE_RE.sub(lambda m: SIMPLE[m.group(1)], tex)
    tex = _wrap_text_style(tex, "textbf", "mathbf")
    tex = _wrap_text_style(tex, "textit", "mathit")
    tex = _OPERATOR_RE.sub(lambda m: r"\operatorname{" + m.group(1) + "}", tex)
    tex = _LIMIT_RE.sub(lambda m: r"\operatorname*{" + LIMIT_OPERATORS[m.group(1)] + "}", tex)
    # Spacing commands inside an operator name would be printed literally.
    return _OPNAME.sub(
        lambda m: r"\operatorname" + m.group(1) + "{" + SPACING.sub(" ", m.group(2)) + "}",
        tex,
    )


_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}")


def _structure_problem(tex: str) -> str | None:
    """Unbalanced braces, \\left/\\right or \\begin/\\end: converters guess, so refuse."""
    depth = 0
    i = 0
    while i < len(tex):
        ch = tex[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return "Unmatched '}'"
        i += 1
    if depth > 0:
        return "Unmatched '{'"
    lefts = len(re.findall(r"\\left(?![A-Za-z])", tex))
    rights = len(re.findall(r"\\right(?![A-Za-z])", tex))
    if lefts != rights:
        return f"{lefts} \\left but {rights} \\right"
    stack: list[str] = []
    for match in _ENVIRONMENT.finditer(tex):
        if match.group(1) == "begin":
            stack.append(match.group(2))
        elif not stack or stack.pop() != match.group(2):
            return f"\\end{{{match.group(2)}}} does not close a matching \\begin"
    if stack:
        return f"\\begin{{{stack[-1]}}} is never closed with \\end{{{stack[-1]}}}"
    return None


def _reason(error: Exception) -> str:
    """The first line of a converter's error, without its boilerplate."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"^Conversion failed(?: for '.*?')?:\s*", "", text)
    return text.replace("\\{", "{").replace("\\}", "}")


def _math_error(tex: str, reason: str) -> MarkupError:
    unknown = re.match(r"Unknown token: (\\[A-Za-z]+)", reason)
    if unknown:
        message = (
            f"unknown LaTeX command {unknown.group(1)} in math '${tex}$' — use a standard "
            "command, or \\operatorname{...} for a named operator"
        )
    else:
        message = f"math '${tex}$' cannot be converted: {reason} — fix the LaTeX"
    return MarkupError(message, snippet=tex, reason=reason)


# ---------------------------------------------------------------- the formula cache
#
# Every conversion, failures included, is remembered for the life of the process.

_typst_cache: dict[str, str | MarkupError] = {}
_mathml_cache: dict[tuple[str, bool], str | MarkupError] = {}


@dataclass(frozen=True)
class FormulaSnapshot:
    """The formulas a process has converted successfully, to hand to another (it pickles)."""

    typst: dict[str, str]
    mathml: dict[tuple[str, bool], str]


def formula_cache_snapshot() -> FormulaSnapshot:
    """What the formula cache holds now, without the failures (they need not pickle)."""
    return FormulaSnapshot(
        typst={k: v for k, v in _typst_cache.items() if isinstance(v, str)},
        mathml={k: v for k, v in _mathml_cache.items() if isinstance(v, str)},
    )


def preload_formula_cache(snapshot: FormulaSnapshot) -> None:
    """Add another process's conversions to this one's cache, so they are not redone."""
    _typst_cache.update(snapshot.typst)
    _mathml_cache.update(snapshot.mathml)


def clear_formula_cache() -> None:
    """Forget every conversion: the next formula is converted afresh (for cold timings)."""
    _typst_cache.clear()
    _mathml_cache.clear()


# ---------------------------------------------------------------- conversion


def math_to_typst(tex: str) -> str:
    """Typst math (without the `$`) for a LaTeX formula; raises MarkupError."""
    cached = _typst_cache.get(tex)
    if cached is None:
        cached = _convert_by_shape(tex) or _convert_typst(tex)
        _typst_cache[tex] = cached
    if isinstance(cached, MarkupError):
        raise cached
    return cached


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Digits whose grouping TeX reads differently from a single digit: "x^12" is x^1 then 2,
# "\frac12" is 1/2. Formulas with these are converted as they are.
_DIGITS_BOUND = re.compile(r"(?:[\^_]|\\[A-Za-z]+)\s*\d[\d.]")


def _convert_by_shape(tex: str) -> str | None:
    """Convert a formula through its shape, its numbers replaced by the digits 1, 2, ...:
    parameterised questions give every student the same few shapes with other numbers,
    and the converter (milliseconds a formula) then runs once per shape. None when the
    formula has no numbers, when TeX would group its digits, or when the converted shape
    does not show each placeholder exactly once: the caller converts it as it is."""
    numbers = _NUMBER.findall(tex)
    if not numbers or len(numbers) > 9 or _DIGITS_BOUND.search(tex):
        return None
    placeholders = iter("123456789")
    shape = _NUMBER.sub(lambda _: next(placeholders), tex)
    converted = _typst_cache.get(shape)
    if converted is None:
        converted = _typst_cache[shape] = _convert_typst(shape)
    if not isinstance(converted, str):
        return None
    if sorted(_NUMBER.findall(converted)) != [str(n) for n in range(1, len(numbers) + 1)]:
        return None
    return _NUMBER.sub(lambda m: numbers[int(m.group()) - 1], converted)


def _convert_typst(tex: str) -> str | MarkupError:
    from tex2typst import tex2typst

    if not tex.strip():
        return ""
    problem = _structure_problem(tex)
    if problem:
        return _math_error(tex, problem)
    try:
        out = tex2typst(_common_fixes(tex), non_strict=False)
    except ValueError as error:  # the converter's errors carry a JS stack trace
        return _math_error(tex, _reason(error))
    return _typst_fixes(" ".join(out.split("\n")).strip())


# Symbol names tex2typst still emits but current Typst has renamed.
_RENAMED_SYMBOLS = {
    "times.circle": "times.o",
    "minus.circle": "minus.o",
    "dot.circle": "dot.o",
    "plus.circle": "plus.o",
    "div.circle": "div.o",
    "alef": "aleph",
}
_RENAMED_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in _RENAMED_SYMBOLS) + r")(?![\w])"
)


def _typst_fixes(typst_math: str) -> str:
    return _RENAMED_RE.sub(lambda m: _RENAMED_SYMBOLS[m.group(1)], typst_math)


def math_to_mathml(tex: str, display: bool = False) -> str:
    """A `<math>` element for a LaTeX formula; raises MarkupError."""
    key = (tex, display)
    cached = _mathml_cache.get(key)
    if cached is None:
        cached = _convert_mathml(tex, display)
        _mathml_cache[key] = cached
    if isinstance(cached, MarkupError):
        raise cached
    return cached


def _convert_mathml(tex: str, display: bool) -> str | MarkupError:
    from latex2mathml.converter import convert

    problem = _structure_problem(tex)
    if problem:
        return _math_error(tex, problem)
    fixed = _common_fixes(tex).replace(r"\operatorname*", r"\operatorname")
    try:
        out = convert(fixed, display="block" if display else "inline")
    except Exception as error:  # noqa: BLE001 - latex2mathml has no common base class
        return _math_error(tex, _reason(error) or type(error).__name__)
    # latex2mathml passes commands it does not know through as text.
    leaked = re.search(r"\\[A-Za-z]+", out)
    if leaked:
        return _math_error(tex, f"Unknown token: {leaked.group()}")
    return out


def check_typst_math(formulas: list[str]) -> dict[str, str]:
    """Compile Typst math formulas in one document; return {formula: error} for the bad ones.

    tex2typst can emit Typst that Typst rejects (an unknown symbol name, an
    unclosed delimiter). One compile checks a whole bank's distinct formulas;
    a failing formula is found from the error's line and set aside, then the
    rest is compiled again.
    """
    import typst

    pending = list(dict.fromkeys(f for f in formulas))
    errors: dict[str, str] = {}
    while pending:
        # Line k + 2 of the document holds pending[k].
        source = "#let _ = (\n" + "".join(f"[${f}$],\n" for f in pending) + ")\n"
        try:
            typst.compile(source.encode(), format="svg")
            return errors
        except typst.TypstError as error:
            bad = _failing_lines(error, len(pending))
            if not bad:
                # Cannot tell which: fall back to one compile per formula.
                for formula in pending:
                    message = _typst_error_of(formula)
                    if message:
                        errors[formula] = message
                return errors
            for index, message in bad.items():
                errors[pending[index]] = message
            pending = [f for k, f in enumerate(pending) if k not in bad]
    return errors


def _failing_lines(error, count: int) -> dict[int, str]:
    message = str(getattr(error, "message", "") or str(error)).strip().splitlines()[0]
    found: dict[int, str] = {}
    for match in re.finditer(r"\.typ:(\d+):\d+", str(getattr(error, "diagnostic", "") or "")):
        index = int(match.group(1)) - 2
        if 0 <= index < count:
            found.setdefault(index, message)
    return found


def _typst_error_of(formula: str) -> str | None:
    import typst

    try:
        typst.compile(f"${formula}$".encode(), format="svg")
    except typst.TypstError as error:
        return str(getattr(error, "message", "") or error).strip().splitlines()[0]
    return None
