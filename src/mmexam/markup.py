"""Question text: Markdown with LaTeX math, rendered for Typst, HTML and the terminal.

Authors write Markdown (CommonMark plus tables and ~~strike~~) with LaTeX
math between `$...$` (inline) and `$$...$$` (display), as in the lecture.

- `to_typst(text)`: Typst markup for the PDF. Math goes through `tex2typst`;
  every character of plain text that means something to Typst is escaped,
  and all formatting is emitted as function calls (`#strong[...]`,
  `#raw("...")`), so no author text can change the document's structure.
- `to_html(text)`: an HTML fragment. Math becomes MathML (`latex2mathml`),
  which browsers render natively: no JavaScript, no network. Raw HTML in the
  text is escaped, never passed through.
- `to_plain(text)`: terminal text for practice mode. Formatting markers are
  dropped and math is shown in a light Unicode rendering (`\\alpha` -> α,
  `\\mathbb{R}` -> ℝ, `x^{2}` -> x²); what it cannot render stays LaTeX.

`to_typst` and `to_html` raise `MarkupError` (with `.snippet` and `.reason`)
when a formula cannot be converted or the text would leak markup into the
output: an unmatched `$`, a LaTeX command outside math (`\\frac` in plain
text), an unclosed `**`, or an image. `to_plain` never raises.

`scan(text)` gives the validator what it needs without rendering: the text's
first problem and its formulas, so a whole bank's math can be converted once
per distinct formula (`math_to_typst`, `math_to_mathml`, both cached) and
the Typst results checked in one compile (`check_typst_math`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from html import escape as html_escape

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.dollarmath import dollarmath_plugin

from mmexam.errors import MmexamError

__all__ = [
    "CONVERTER_VERSION",
    "Formula",
    "MarkupError",
    "Scan",
    "check_typst_math",
    "math_to_mathml",
    "math_to_typst",
    "scan",
    "to_html",
    "to_plain",
    "to_typst",
]

#: Bumped whenever the LaTeX rewriting below changes, so cached verdicts expire.
CONVERTER_VERSION = 1


class MarkupError(MmexamError):
    """Text that cannot be rendered: `.snippet` is the offending piece, `.reason` why."""

    def __init__(self, message: str, *, snippet: str, reason: str) -> None:
        super().__init__(message)
        self.snippet = snippet
        self.reason = reason


@dataclass(frozen=True)
class Formula:
    """One formula of a text: its LaTeX source and whether it is display math."""

    tex: str
    display: bool


@dataclass(frozen=True)
class Scan:
    """What `scan` finds in a text: its formulas and its first non-math problem."""

    formulas: tuple[Formula, ...]
    problem: MarkupError | None


# ---------------------------------------------------------------- parsing


def _make_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # `$5 and $10` is money, not math: a digit after the closing `$` (or
    # before the opening one) means it is not a formula.
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=True,
        allow_digits=False,
        double_inline=True,
    )
    # Keep backslash escapes as their own tokens: an escaped `\$` is a dollar
    # sign, a bare `$` in text is a formula that lost its closing dollar.
    md.disable("text_join")
    return md


_MD = _make_parser()


@lru_cache(maxsize=4096)
def _tokens(text: str):
    return tuple(_MD.parse(text))


def _tree(text: str) -> SyntaxTreeNode:
    return SyntaxTreeNode(list(_tokens(text)))


def _shorten(text: str, start: int, end: int, width: int = 24) -> str:
    """The text around [start, end), cut to about `width` characters each side."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    snippet = text[left:right]
    return ("…" if left > 0 else "") + snippet + ("…" if right < len(text) else "")


# A run of plain text in an inline container: the literal characters and,
# for the checks, the same string with escaped characters blanked out.
@dataclass
class _Run:
    literal: str
    checked: str


def _is_escape(node: SyntaxTreeNode) -> bool:
    """A text_special token that stands for a literal character (`\\$`, `&amp;`)."""
    return node.type == "text_special" and node.content != node.markup


def _runs_and_nodes(children: list[SyntaxTreeNode]) -> list[_Run | SyntaxTreeNode]:
    """Merge adjacent text and text_special children into `_Run`s."""
    out: list[_Run | SyntaxTreeNode] = []
    for child in children:
        if child.type in ("text", "text_special"):
            literal = child.content
            checked = "\0" * len(literal) if _is_escape(child) else literal
            if out and isinstance(out[-1], _Run):
                out[-1].literal += literal
                out[-1].checked += checked
            else:
                out.append(_Run(literal, checked))
        else:
            out.append(child)
    return out


_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def _run_problem(run: _Run) -> MarkupError | None:
    checked = run.checked
    dollar = checked.find("$")
    if dollar >= 0:
        snippet = _shorten(run.literal, dollar, dollar + 1)
        return MarkupError(
            f"unmatched '$' in '{snippet}' — close the formula with '$' (no digit right "
            "after it), or write '\\$' for a dollar sign",
            snippet=snippet,
            reason="unmatched $",
        )
    command = _LATEX_COMMAND.search(checked)
    if command:
        snippet = _shorten(run.literal, command.start(), command.end())
        return MarkupError(
            f"LaTeX command '{command.group()}' outside math in '{snippet}' — put the "
            "formula between '$...$'",
            snippet=snippet,
            reason="LaTeX outside math",
        )
    for marker in ("**", "__"):
        at = checked.find(marker)
        if at >= 0:
            snippet = _shorten(run.literal, at, at + 2)
            escaped = "\\" + marker[0] + "\\" + marker[0]
            return MarkupError(
                f"unclosed '{marker}' in '{snippet}' — close the bold with '{marker}', "
                f"or write '{escaped}' for the characters themselves",
                snippet=snippet,
                reason=f"unclosed {marker}",
            )
    return None


_MATH_TYPES = {"math_inline": False, "math_inline_double": True, "math_block": True}


_SCAN_TRIGGERS = frozenset("$\\*_!")
_EMPTY_SCAN = Scan((), None)


@lru_cache(maxsize=16384)
def scan(text: str) -> Scan:
    """The formulas of `text` and its first problem outside math (or None)."""
    if not _SCAN_TRIGGERS.intersection(text):
        # No dollar, backslash, asterisk, underscore or image: nothing to find.
        return _EMPTY_SCAN
    formulas: list[Formula] = []
    problem: MarkupError | None = None
    for token in _tokens(text):
        if token.type in _MATH_TYPES:
            formulas.append(Formula(token.content.strip(), _MATH_TYPES[token.type]))
            continue
        if token.type != "inline" or not token.children:
            continue
        run: _Run | None = None
        for child in [*token.children, None]:
            if child is not None and child.type in ("text", "text_special"):
                literal = child.content
                checked = "\0" * len(literal) if _is_escape(child) else literal
                if run is None:
                    run = _Run(literal, checked)
                else:
                    run.literal += literal
                    run.checked += checked
                continue
            if run is not None:
                if problem is None:
                    problem = _run_problem(run)
                run = None
            if child is None:
                break
            if child.type in _MATH_TYPES:
                formulas.append(Formula(child.content.strip(), _MATH_TYPES[child.type]))
            elif child.type == "image" and problem is None:
                problem = _image_error(child)
    return Scan(tuple(formulas), problem)


def _image_error(node: SyntaxTreeNode) -> MarkupError:
    source = str(node.attrs.get("src", ""))
    return MarkupError(
        f"image '{source}' in question text — images are not supported; describe the "
        "figure in words or math",
        snippet=source,
        reason="image",
    )


def _check(text: str) -> SyntaxTreeNode:
    """Parse `text` and raise its first problem outside math, if any."""
    problem = scan(text).problem
    if problem is not None:  # scan is cached: raise a fresh copy, not the shared instance
        raise MarkupError(str(problem), snippet=problem.snippet, reason=problem.reason)
    return _tree(text)


# ---------------------------------------------------------------- LaTeX fixes
#
# tex2typst (strict mode) and latex2mathml each miss a few common commands;
# these rewrites turn them into equivalents both understand.

_SIZE = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![A-Za-z])")
_DROP = re.compile(r"\\(?:limits|nolimits|scriptstyle|scriptscriptstyle)(?![A-Za-z])")
_SIMPLE = {
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
_SIMPLE_RE = re.compile(r"\\(" + "|".join(_SIMPLE) + r")(?![A-Za-z])")
# Operator names: upright, arguments beside them.
_OPERATORS = [
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
_LIMIT_OPERATORS = {
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
_OPERATOR_RE = re.compile(r"\\(" + "|".join(_OPERATORS) + r")(?![A-Za-z])")
_LIMIT_RE = re.compile(r"\\(" + "|".join(_LIMIT_OPERATORS) + r")(?![A-Za-z])")
_OPNAME = re.compile(r"\\operatorname(\*?)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]")


def _group_end(tex: str, start: int) -> int:
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
        end = _group_end(tex, brace)
        if end < 0:
            return tex
        inner = tex[brace + 1 : end - 1]
        tex = tex[: found.start()] + "\\" + math + r"{\text{" + inner + "}}" + tex[end:]


def _common_fixes(tex: str) -> str:
    tex = _SIZE.sub("", tex)
    tex = _DROP.sub("", tex)
    tex = _SIMPLE_RE.sub(lambda m: _SIMPLE[m.group(1)], tex)
    tex = _wrap_text_style(tex, "textbf", "mathbf")
    tex = _wrap_text_style(tex, "textit", "mathit")
    tex = _OPERATOR_RE.sub(lambda m: r"\operatorname{" + m.group(1) + "}", tex)
    tex = _LIMIT_RE.sub(lambda m: r"\operatorname*{" + _LIMIT_OPERATORS[m.group(1)] + "}", tex)
    # Spacing commands inside an operator name would be printed literally.
    return _OPNAME.sub(
        lambda m: r"\operatorname" + m.group(1) + "{" + _SPACING.sub(" ", m.group(2)) + "}",
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


_typst_cache: dict[str, str | MarkupError] = {}
_mathml_cache: dict[tuple[str, bool], str | MarkupError] = {}


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


# ---------------------------------------------------------------- Typst

_TYPST_SPECIAL = re.compile(r"([\\#$*_`<>@=\-+/\[\]~])")


def _typst_text(text: str) -> str:
    return _TYPST_SPECIAL.sub(r"\\\1", text)


def _typst_string(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_LINE_START_ENUM = re.compile(r"^(\d+)\.")


def _guard(markup: str) -> str:
    """Markup placed at the start of a line must not read as a Typst enum item ("1.")."""
    return _LINE_START_ENUM.sub(r"\1\\.", markup)


def to_typst(text: str) -> str:
    """Typst markup for a Markdown + LaTeX text; raises MarkupError."""
    tree = _check(text)
    return _typst_blocks(tree.children).strip()


def _typst_blocks(nodes: list[SyntaxTreeNode]) -> str:
    return "\n\n".join(part for part in (_typst_block(n) for n in nodes) if part)


def _typst_block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _guard(_typst_inline(node.children[0].children)) if node.children else ""
    if kind == "inline":
        return _guard(_typst_inline(node.children))
    if kind == "math_block":
        return f"$ {math_to_typst(node.content.strip())} $"
    if kind in ("bullet_list", "ordered_list"):
        tight = all(
            grandchild.hidden
            for item in node.children
            for grandchild in item.children
            if grandchild.type == "paragraph"
        )
        items = ", ".join(f"[{_typst_blocks(item.children)}]" for item in node.children)
        if kind == "bullet_list":
            return f"#list(tight: {str(tight).lower()}, {items});"
        start = int(node.attrs.get("start", 1) or 1)
        return f"#enum(tight: {str(tight).lower()}, start: {start}, {items});"
    if kind == "heading":
        level = int(node.tag[1:])
        content = _typst_inline(node.children[0].children) if node.children else ""
        return f"#heading(level: {level}, outlined: false, numbering: none)[{content}];"
    if kind == "blockquote":
        return f"#quote(block: true)[{_typst_blocks(node.children)}];"
    if kind == "hr":
        return "#line(length: 100%);"
    if kind in ("fence", "code_block"):
        lang = re.sub(r"[^A-Za-z0-9_+-]", "", (node.info or "").split(" ")[0])
        lang_arg = f'lang: "{lang}", ' if lang else ""
        code = node.content.removesuffix("\n")
        return f"#raw(block: true, {lang_arg}{_typst_string(code)});"
    if kind == "table":
        return _typst_table(node)
    raise MarkupError(
        f"unsupported Markdown block '{kind}' — use paragraphs, lists, tables, code or math",
        snippet=kind,
        reason=f"unsupported block {kind}",
    )


def _typst_table(node: SyntaxTreeNode) -> str:
    rows: list[tuple[bool, list[SyntaxTreeNode]]] = []
    for section in node.children:
        for row in section.children:
            rows.append((section.type == "thead", row.children))
    columns = max((len(cells) for _, cells in rows), default=1)
    aligns = []
    for cell in rows[0][1] if rows else []:
        style = str(cell.attrs.get("style", ""))
        aligns.append("center" if "center" in style else "right" if "right" in style else "left")
    cells_markup: list[str] = []
    for header, cells in rows:
        rendered = [
            f"[{_typst_inline(cell.children[0].children) if cell.children else ''}]"
            for cell in cells
        ]
        if header:
            rendered = [f"[#strong{r};]" for r in rendered]
            cells_markup.append("table.header(" + ", ".join(rendered) + ")")
        else:
            cells_markup.extend(rendered)
    align = f"align: ({', '.join(aligns)},), " if aligns else ""
    return f"#table(columns: {columns}, {align}{', '.join(cells_markup)});"


def _typst_inline(children: list[SyntaxTreeNode]) -> str:
    out: list[str] = []
    for item in _runs_and_nodes(children):
        if isinstance(item, _Run):
            out.append(_typst_text(item.literal))
            continue
        kind = item.type
        if kind == "math_inline":
            out.append(f"${math_to_typst(item.content.strip())}$")
        elif kind == "math_inline_double":
            out.append(f"$ {math_to_typst(item.content.strip())} $")
        elif kind == "strong":
            out.append(f"#strong[{_typst_inline(item.children)}];")
        elif kind == "em":
            out.append(f"#emph[{_typst_inline(item.children)}];")
        elif kind == "s":
            out.append(f"#strike[{_typst_inline(item.children)}];")
        elif kind == "code_inline":
            out.append(f"#raw({_typst_string(item.content)});")
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("#linebreak();")
        elif kind == "link":
            href = str(item.attrs.get("href", ""))
            out.append(f"#link({_typst_string(href)})[{_typst_inline(item.children)}];")
        elif kind == "image":
            raise _image_error(item)
        else:
            out.append(_typst_text(item.content))
    return "".join(out)


# ---------------------------------------------------------------- HTML


def _html_renderer() -> MarkdownIt:
    md = _make_parser()

    def inline_math(self, tokens, idx, options, env):
        return math_to_mathml(tokens[idx].content.strip(), display=False)

    def display_math(self, tokens, idx, options, env):
        mathml = math_to_mathml(tokens[idx].content.strip(), display=True)
        return f'<div class="math display">{mathml}</div>\n'

    def image(self, tokens, idx, options, env):
        raise MarkupError(
            f"image '{tokens[idx].attrs.get('src', '')}' in question text — images are not "
            "supported; describe the figure in words or math",
            snippet=str(tokens[idx].attrs.get("src", "")),
            reason="image",
        )

    md.add_render_rule("math_inline", inline_math)
    md.add_render_rule("math_inline_double", display_math)
    md.add_render_rule("math_block", display_math)

    def text_special(self, tokens, idx, options, env):
        return html_escape(tokens[idx].content, quote=False)

    md.add_render_rule("image", image)
    md.add_render_rule("text_special", text_special)
    return md


_HTML = _html_renderer()


def to_html(text: str) -> str:
    """An HTML fragment (MathML for math) for a Markdown + LaTeX text; raises MarkupError."""
    _check(text)
    return _HTML.renderer.render(list(_tokens(text)), _HTML.options, {}).strip()


# ---------------------------------------------------------------- plain text


def to_plain(text: str) -> str:
    """Terminal text for a Markdown + LaTeX text; never raises."""
    return _plain_blocks(_tree(text).children, "").strip()


def _plain_blocks(nodes: list[SyntaxTreeNode], indent: str) -> str:
    return "\n\n".join(part for part in (_plain_block(n, indent) for n in nodes) if part)


def _plain_block(node: SyntaxTreeNode, indent: str) -> str:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return indent + _plain_inline(node.children[0].children if node.children else [])
    if kind == "math_block":
        return indent + "    " + tex_to_unicode(node.content.strip())
    if kind in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        lines = []
        for k, item in enumerate(node.children):
            marker = "- " if kind == "bullet_list" else f"{start + k}. "
            body = _plain_blocks(item.children, indent + " " * len(marker)).lstrip()
            lines.append(indent + marker + body)
        return "\n".join(lines)
    if kind == "blockquote":
        return "\n".join(
            indent + "> " + line for line in _plain_blocks(node.children, "").split("\n")
        )
    if kind == "hr":
        return indent + "-" * 20
    if kind in ("fence", "code_block"):
        return "\n".join(indent + "    " + line for line in node.content.rstrip("\n").split("\n"))
    if kind == "table":
        lines = []
        for section in node.children:
            for row in section.children:
                cells = [
                    _plain_inline(cell.children[0].children if cell.children else [])
                    for cell in row.children
                ]
                lines.append(indent + " | ".join(cells))
        return "\n".join(lines)
    return indent + node.content


def _plain_inline(children: list[SyntaxTreeNode]) -> str:
    out: list[str] = []
    for item in _runs_and_nodes(children):
        if isinstance(item, _Run):
            out.append(item.literal)
            continue
        kind = item.type
        if kind == "math_inline":
            out.append(tex_to_unicode(item.content.strip()))
        elif kind == "math_inline_double":
            out.append(" " + tex_to_unicode(item.content.strip()) + " ")
        elif kind in ("strong", "em", "s"):
            out.append(_plain_inline(item.children))
        elif kind == "code_inline":
            out.append(f"`{item.content}`")
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link":
            label = _plain_inline(item.children)
            href = str(item.attrs.get("href", ""))
            out.append(label if label == href else f"{label} ({href})")
        elif kind == "image":
            out.append(f"[image: {_plain_inline(item.children)}]")
        else:
            out.append(item.content)
    return "".join(out)


_GREEK = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ϵ",
    "varepsilon": "ε",
    "zeta": "ζ",
    "eta": "η",
    "theta": "θ",
    "vartheta": "ϑ",
    "iota": "ι",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "upsilon": "υ",
    "phi": "ϕ",
    "varphi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ",
    "Delta": "Δ",
    "Theta": "Θ",
    "Lambda": "Λ",
    "Xi": "Ξ",
    "Pi": "Π",
    "Sigma": "Σ",
    "Phi": "Φ",
    "Psi": "Ψ",
    "Omega": "Ω",
}
_SYMBOLS = {
    "in": "∈",
    "notin": "∉",
    "cdot": "·",
    "times": "×",
    "otimes": "⊗",
    "oplus": "⊕",
    "odot": "⊙",
    "circ": "∘",
    "to": "→",
    "rightarrow": "→",
    "leftarrow": "←",
    "gets": "←",
    "Rightarrow": "⇒",
    "implies": "⇒",
    "Leftrightarrow": "⇔",
    "iff": "⇔",
    "mapsto": "↦",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "neq": "≠",
    "ne": "≠",
    "approx": "≈",
    "sim": "∼",
    "simeq": "≃",
    "equiv": "≡",
    "propto": "∝",
    "infty": "∞",
    "sum": "Σ",
    "prod": "Π",
    "int": "∫",
    "partial": "∂",
    "nabla": "∇",
    "|": "‖",
    "Vert": "‖",
    "lVert": "‖",
    "rVert": "‖",
    "vert": "|",
    "lvert": "|",
    "rvert": "|",
    "mid": "|",
    "langle": "⟨",
    "rangle": "⟩",
    "ldots": "…",
    "dots": "…",
    "cdots": "⋯",
    "forall": "∀",
    "exists": "∃",
    "top": "⊤",
    "perp": "⊥",
    "emptyset": "∅",
    "varnothing": "∅",
    "subset": "⊂",
    "subseteq": "⊆",
    "cup": "∪",
    "cap": "∩",
    "pm": "±",
    "ell": "ℓ",
    "star": "⋆",
    "ast": "∗",
    "dagger": "†",
    "prime": "′",
    "neg": "¬",
    "land": "∧",
    "lor": "∨",
    "{": "{",
    "}": "}",
    "_": "_",
    "%": "%",
    "#": "#",
    "$": "$",
    "&": "&",
    "triangleq": "≜",
    "coloneqq": "≔",
    "ll": "≪",
    "gg": "≫",
    "uparrow": "↑",
    "downarrow": "↓",
    "longrightarrow": "⟶",
}
_SPACES = {",": " ", ";": " ", ":": " ", "!": "", " ": " ", "quad": "  ", "qquad": "    "}
_DROPPED = {
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "limits",
    "nolimits",
    "displaystyle",
    "textstyle",
    "scriptstyle",
}
_TEXT_LIKE = {
    "text",
    "mathrm",
    "operatorname",
    "operatorname*",
    "mathbf",
    "boldsymbol",
    "bm",
    "mathit",
    "textbf",
    "textit",
    "mathsf",
    "mathtt",
    "mbox",
    "textrm",
}
_BB = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "E": "𝔼", "P": "ℙ", "1": "𝟙"}
_CAL = {
    "L": "ℒ",
    "N": "𝒩",
    "D": "𝒟",
    "X": "𝒳",
    "Y": "𝒴",
    "Z": "𝒵",
    "H": "ℋ",
    "F": "ℱ",
    "M": "ℳ",
    "E": "ℰ",
    "B": "ℬ",
    "A": "𝒜",
    "C": "𝒞",
    "G": "𝒢",
    "I": "ℐ",
    "K": "𝒦",
    "O": "𝒪",
    "P": "𝒫",
    "Q": "𝒬",
    "R": "ℛ",
    "S": "𝒮",
    "T": "𝒯",
    "U": "𝒰",
    "V": "𝒱",
    "W": "𝒲",
}
_ACCENTS = {
    "hat": "\u0302",
    "widehat": "\u0302",
    "bar": "\u0304",
    "overline": "\u0305",
    "tilde": "\u0303",
    "widetilde": "\u0303",
    "vec": "\u20d7",
    "dot": "\u0307",
}
_SUPERSCRIPT = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")


#: LaTeX command names (without the backslash) common in question text; the
#: bank reader uses them to spot LaTeX that YAML double quotes would mangle.
LATEX_COMMANDS = frozenset(
    {
        *_GREEK,
        *(k for k in _SYMBOLS if k.isalpha()),
        *_DROPPED,
        *_TEXT_LIKE,
        *_ACCENTS,
        *_OPERATORS,
        *_LIMIT_OPERATORS,
        *(k for k in _SIMPLE if k.isalpha()),
        "frac",
        "dfrac",
        "tfrac",
        "sqrt",
        "mathbb",
        "mathcal",
        "begin",
        "end",
        "underbrace",
        "overbrace",
        "log",
        "ln",
        "sin",
        "cos",
        "tan",
        "lim",
        "sigma",
        "epsilon",
        "top",
        "rightarrow",
        "leftarrow",
        "right",
        "left",
        "nabla",
        "theta",
        "beta",
        "alpha",
        "varepsilon",
        "times",
        "text",
        "textbf",
        "ldots",
        "cdot",
        "binom",
        "boxed",
        "partial",
        "bar",
        "vec",
        "odot",
        "otimes",
        "oplus",
        "approx",
        "emptyset",
        "exists",
        "forall",
        "neq",
        "notin",
        "underline",
        "overline",
        "xrightarrow",
    }
)


def tex_to_unicode(tex: str) -> str:
    """A light Unicode rendering of a LaTeX formula, for terminals; never raises."""
    try:
        out, _ = _unicode_seq(tex, 0, stop=None)
    except (IndexError, ValueError, RecursionError):
        return tex
    return unicodedata.normalize("NFC", re.sub(r"[ \t]+", " ", out).strip())


def _read_group(tex: str, i: int) -> tuple[str, int]:
    """The raw argument at i: a {group}, a \\command, or one character."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        end = _group_end(tex, i)
        if end < 0:
            return tex[i + 1 :], len(tex)
        return tex[i + 1 : end - 1], end
    if tex[i] == "\\":
        match = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        assert match is not None
        return match.group(), i + match.end()
    return tex[i], i + 1


def _unicode_seq(tex: str, i: int, stop: str | None) -> tuple[str, int]:
    out: list[str] = []
    while i < len(tex):
        ch = tex[i]
        if stop is not None and ch == stop:
            return "".join(out), i + 1
        if ch == "{":
            inner, i = _unicode_seq(tex, i + 1, "}")
            out.append(inner)
        elif ch in "^_":
            raw, i = _read_group(tex, i + 1)
            rendered = tex_to_unicode(raw)
            table = _SUPERSCRIPT if ch == "^" else _SUBSCRIPT
            scriptable = "0123456789+-=()" + ("ni" if ch == "^" else "")
            if rendered and all(c in scriptable for c in rendered):
                out.append(rendered.translate(table))
            elif len(rendered) == 1:
                out.append(ch + rendered)
            else:
                out.append(f"{ch}({rendered})")
        elif ch == "\\":
            match = re.match(r"\\([A-Za-z]+\*?|.)", tex[i:])
            if match is None:
                out.append(ch)
                i += 1
                continue
            name = match.group(1)
            i += match.end()
            if name in _GREEK:
                out.append(_GREEK[name])
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
            elif name in _SPACES:
                out.append(_SPACES[name])
            elif name in _DROPPED:
                continue
            elif name in ("begin", "end"):
                _, i = _read_group(tex, i)
            elif name == "\\":
                out.append("; ")
            elif name in _TEXT_LIKE:
                raw, i = _read_group(tex, i)
                if name in ("text", "mbox", "textrm", "operatorname", "operatorname*"):
                    out.append(_SPACING.sub(" ", raw))
                else:
                    out.append(tex_to_unicode(raw))
            elif name == "mathbb":
                raw, i = _read_group(tex, i)
                out.append("".join(_BB.get(c, c) for c in raw))
            elif name == "mathcal":
                raw, i = _read_group(tex, i)
                out.append("".join(_CAL.get(c, c) for c in raw))
            elif name in ("frac", "dfrac", "tfrac"):
                num, i = _read_group(tex, i)
                den, i = _read_group(tex, i)
                num, den = tex_to_unicode(num), tex_to_unicode(den)
                num = num if len(num) <= 1 else f"({num})"
                den = den if len(den) <= 1 else f"({den})"
                out.append(f"{num}/{den}")
            elif name == "sqrt":
                raw, i = _read_group(tex, i)
                inner = tex_to_unicode(raw)
                out.append("√" + (inner if len(inner) == 1 else f"({inner})"))
            elif name in _ACCENTS:
                raw, i = _read_group(tex, i)
                inner = tex_to_unicode(raw)
                out.append(inner + _ACCENTS[name] if len(inner) == 1 else f"{name}({inner})")
            elif name in ("underbrace", "overbrace"):
                raw, i = _read_group(tex, i)
                out.append(tex_to_unicode(raw))
            elif name in (
                "log",
                "exp",
                "sin",
                "cos",
                "tanh",
                "max",
                "min",
                "arg",
                "argmax",
                "argmin",
                "softmax",
                "lim",
                "sup",
                "inf",
                "det",
                "tan",
                "ln",
            ):
                follows = tex[i : i + 1]
                out.append(name + (" " if follows.isalpha() or follows == "\\" else ""))
            else:
                # Unknown: keep the LaTeX source, arguments included.
                out.append("\\" + name)
                while i < len(tex) and tex[i] == "{":
                    end = _group_end(tex, i)
                    if end < 0:
                        break
                    out.append(tex[i:end])
                    i = end
        else:
            out.append(" " if ch == "&" else ch)
            i += 1
    return "".join(out), i
