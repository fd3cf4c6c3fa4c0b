"""Parsing question text: the Markdown parser, the checks for markup that would leak, `scan`.

`scan(text)` gives the validator what it needs without rendering: the text's
first problem outside math and its formulas. The renderers (`to_typst`,
`to_html`, `to_plain`) share the parser and `check` here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.dollarmath import dollarmath_plugin

from mmexam.errors import MmexamError


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


def make_parser() -> MarkdownIt:
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


_MD = make_parser()


@lru_cache(maxsize=4096)
def parse_tokens(text: str):
    return tuple(_MD.parse(text))


def parse_tree(text: str) -> SyntaxTreeNode:
    return SyntaxTreeNode(list(parse_tokens(text)))


def _shorten(text: str, start: int, end: int, width: int = 24) -> str:
    """The text around [start, end), cut to about `width` characters each side."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    snippet = text[left:right]
    return ("…" if left > 0 else "") + snippet + ("…" if right < len(text) else "")


# A run of plain text in an inline container: the literal characters and,
# for the checks, the same string with escaped characters blanked out.
@dataclass
class Run:
    literal: str
    checked: str


def _is_escape(node: SyntaxTreeNode) -> bool:
    """A text_special token that stands for a literal character (`\\$`, `&amp;`)."""
    return node.type == "text_special" and node.content != node.markup


def runs_and_nodes(children: list[SyntaxTreeNode]) -> list[Run | SyntaxTreeNode]:
    """Merge adjacent text and text_special children into `Run`s."""
    out: list[Run | SyntaxTreeNode] = []
    for child in children:
        if child.type in ("text", "text_special"):
            literal = child.content
            checked = "\0" * len(literal) if _is_escape(child) else literal
            if out and isinstance(out[-1], Run):
                out[-1].literal += literal
                out[-1].checked += checked
            else:
                out.append(Run(literal, checked))
        else:
            out.append(child)
    return out


_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def _run_problem(run: Run) -> MarkupError | None:
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
    for token in parse_tokens(text):
        if token.type in _MATH_TYPES:
            formulas.append(Formula(token.content.strip(), _MATH_TYPES[token.type]))
            continue
        if token.type != "inline" or not token.children:
            continue
        run: Run | None = None
        for child in [*token.children, None]:
            if child is not None and child.type in ("text", "text_special"):
                literal = child.content
                checked = "\0" * len(literal) if _is_escape(child) else literal
                if run is None:
                    run = Run(literal, checked)
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
                problem = image_error(child)
    return Scan(tuple(formulas), problem)


def image_error(node: SyntaxTreeNode) -> MarkupError:
    source = str(node.attrs.get("src", ""))
    return MarkupError(
        f"image '{source}' in question text — images are not supported; describe the "
        "figure in words or math",
        snippet=source,
        reason="image",
    )


def check_text(text: str) -> SyntaxTreeNode:
    """Parse `text` and raise its first problem outside math, if any."""
    problem = scan(text).problem
    if problem is not None:  # scan is cached: raise a fresh copy, not the shared instance
        raise MarkupError(str(problem), snippet=problem.snippet, reason=problem.reason)
    return parse_tree(text)
