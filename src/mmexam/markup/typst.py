"""Typst markup for question text, for the PDF.

Math goes through `math_to_typst`; every character of plain text that means
something to Typst is escaped, and all formatting is emitted as function calls
(`#strong[...]`, `#raw("...")`), so no author text can change the document's
structure.
"""

from __future__ import annotations

import re

from markdown_it.tree import SyntaxTreeNode

from mmexam.markup.latex import math_to_typst
from mmexam.markup.parsing import MarkupError, Run, check_text, image_error, runs_and_nodes

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
    tree = check_text(text)
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
    for item in runs_and_nodes(children):
        if isinstance(item, Run):
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
            raise image_error(item)
        else:
            out.append(_typst_text(item.content))
    return "".join(out)
