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
the Typst results checked in one compile (`check_typst_math`). The formula
cache is per process; `formula_cache_snapshot()` and
`preload_formula_cache(...)` hand its conversions to worker processes.

One module per stage: `parsing` (the parser, the leak checks, `scan`),
`latex` (LaTeX rewrites, conversion, the formula cache), `typst`, `html`,
`plain`.
"""

from mmexam.markup.html import to_html
from mmexam.markup.latex import (
    CONVERTER_VERSION,
    FormulaSnapshot,
    check_typst_math,
    clear_formula_cache,
    formula_cache_snapshot,
    math_to_mathml,
    math_to_typst,
    preload_formula_cache,
)
from mmexam.markup.parsing import Formula, MarkupError, Scan, scan
from mmexam.markup.plain import LATEX_COMMANDS, tex_to_unicode, to_plain
from mmexam.markup.typst import to_typst

__all__ = [
    "CONVERTER_VERSION",
    "LATEX_COMMANDS",
    "Formula",
    "FormulaSnapshot",
    "MarkupError",
    "Scan",
    "check_typst_math",
    "clear_formula_cache",
    "formula_cache_snapshot",
    "math_to_mathml",
    "math_to_typst",
    "preload_formula_cache",
    "scan",
    "tex_to_unicode",
    "to_html",
    "to_plain",
    "to_typst",
]
