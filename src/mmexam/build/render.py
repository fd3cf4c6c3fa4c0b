"""Templates in, sources out; Typst sources in, PDFs out.

Each Jinja2 template is loaded and compiled once per process
(`Templates.get`); per paper only `render` runs. PDFs are compiled in-process
by the `typst` package with one `typst.Compiler` per process (fonts are
loaded once). Only the fonts embedded in Typst are used (and, for names in
other scripts, those of the `fonts` extra: build/fonts.py) and the PDF
timestamp and document date are fixed, so the same source gives the same
bytes on every machine.

A Typst error is mapped back to the question whose text caused it: the
fragment library (templates/fragments.typ.j2) marks each fragment with
`// @begin <id>` / `// @end <id>`, and on failure each fragment is compiled
alone to find the culprit. The user sees the question id and the offending
text, never a Typst trace.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from mmexam.errors import BuildError

TEMPLATE_NAMES = {
    ("exam", "html"): "exam.html.j2",
    ("key", "html"): "key.html.j2",
    ("fragments", "typst"): "fragments.typ.j2",
}

BEGIN = re.compile(r"^// @begin (\S+)$")
END = re.compile(r"^// @end (\S+)$")
PREAMBLE_END = "// @preamble-end"
# Lines of a template's own frame around a question's text, never the culprit.
WRAPPER = re.compile(r"^(#[a-z-]*fragment\(.*|\]\)?|\))$")


def typst_str(value: Any) -> str:
    """A Typst string literal: safe for any text (names, titles, code)."""
    text = str(value)
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{text}"'


def css_str(value: Any) -> Markup:
    """A CSS string literal for a <style> element (quotes, backslashes and '<' escaped)."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    text = text.replace("\n", " ")
    return Markup(f'"{text}"')


class Templates:
    """The templates of one templates folder, each compiled once."""

    def __init__(self, folder: Path) -> None:
        loader = jinja2.FileSystemLoader(str(folder))
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
            "auto_reload": False,
        }
        self.typst = jinja2.Environment(autoescape=False, **common)
        self.typst.filters["typst_str"] = typst_str
        self.html = jinja2.Environment(autoescape=True, **common)
        self.html.filters["safe_html"] = Markup
        self.html.filters["css_str"] = css_str
        self._compiled: dict[tuple[str, str], jinja2.Template] = {}

    def get(self, document: str, target: str) -> jinja2.Template:
        key = (document, target)
        if key not in self._compiled:
            env = self.typst if target == "typst" else self.html
            try:
                self._compiled[key] = env.get_template(TEMPLATE_NAMES[key])
            except jinja2.TemplateError as error:
                raise BuildError(f"template {TEMPLATE_NAMES[key]}: {error}") from None
        return self._compiled[key]

    def render(self, document: str, target: str, view: dict[str, Any]) -> str:
        try:
            return self.get(document, target).render(view)
        except jinja2.TemplateError as error:
            raise BuildError(f"template {TEMPLATE_NAMES[(document, target)]}: {error}") from None


@lru_cache(maxsize=4)
def templates(folder: Path) -> Templates:
    return Templates(folder)


# ---------------------------------------------------------------- Typst

_compilers: dict[tuple[str, ...], Any] = {}


def compiler(fonts: tuple[str, ...] = ()):
    """This process's Typst compiler (created on first use, after any fork); with `fonts`,
    one that also loads the fonts in those folders (names in other scripts, build/fonts.py)."""
    if fonts not in _compilers:
        import typst

        if fonts:
            paths = [Path(folder) for folder in fonts]
            _compilers[fonts] = typst.Compiler(font_paths=paths, ignore_system_fonts=True)
        else:
            _compilers[fonts] = typst.Compiler(ignore_system_fonts=True)
    return _compilers[fonts]


def compile_pdf(source: str, what: str, fonts: tuple[str, ...] = ()) -> bytes:
    """Compile a Typst source to PDF bytes; a failure is a `BuildError` naming the question.

    The timestamp is fixed, so the bytes depend on the source alone. `fonts`: folders of
    fonts to load besides the embedded ones.
    """
    import typst

    try:
        return compiler(fonts).compile(
            input=source.encode("utf-8"),
            format="pdf",
            timestamp=0,
            pdf_tags=False,
        )
    except typst.TypstError as error:
        raise BuildError(explain_typst_error(source, error, what)) from None


def _first_location(error: Any) -> int | None:
    match = re.search(r"\.typ:(\d+):\d+", getattr(error, "diagnostic", "") or "")
    return int(match.group(1)) if match else None


def _message(error: Any) -> str:
    return (getattr(error, "message", None) or str(error)).strip().splitlines()[0]


def _fragments(lines: list[str]) -> tuple[int, list[tuple[str, int, int]]]:
    """The line index where the preamble ends, and each question's (id, start, end)."""
    preamble = next((i for i, line in enumerate(lines) if line.strip() == PREAMBLE_END), 0)
    spans, stack = [], []
    for i, line in enumerate(lines):
        stripped = line.strip()
        begin = BEGIN.match(stripped)
        if begin:
            stack.append((begin.group(1), i))
        elif END.match(stripped) and stack:
            qid, start = stack.pop()
            spans.append((qid, start, i))
    return preamble, spans


def _snippet(lines: list[str], line: int | None) -> str:
    if line is None or not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].strip()
    return text if len(text) <= 100 else text[:97] + "..."


def explain_typst_error(source: str, error: Any, what: str) -> str:
    """Say which question broke the Typst compile, and where, in one line."""
    import typst

    lines = source.splitlines()
    preamble, spans = _fragments(lines)
    head = "\n".join(lines[: preamble + 1])
    # Compile each question alone (with the template's definitions) to find the culprit.
    for qid, start, end in spans:
        fragment = head + "\n" + "\n".join(lines[start : end + 1]) + "\n"
        try:
            compiler().compile(input=fragment.encode("utf-8"), format="pdf")
        except typst.TypstError as inner:
            local = _first_location(inner)
            offset = local - (preamble + 1) - 1 + start if local and local > preamble + 1 else None
            snippet = _snippet(lines, offset + 1) if offset is not None else ""
            if not snippet or WRAPPER.match(snippet):  # the error points at the template's frame
                body = [
                    ln.strip() for ln in lines[start + 1 : end] if not WRAPPER.match(ln.strip())
                ]
                snippet = _snippet([" ".join(body)], 1)
            shown = f" in {snippet!r}" if snippet else ""
            return (
                f"{what}: question {qid}: Typst cannot typeset its text{shown}: {_message(inner)}"
            )
    line = _first_location(error)
    culprit = next((q for q, start, end in spans if line and start < line - 1 < end), None)
    shown = f" in {_snippet(lines, line)!r}" if line else ""
    where = f"question {culprit}" if culprit else f"the Typst template, line {line}"
    return f"{what}: {where}: Typst failed{shown}: {_message(error)}"
