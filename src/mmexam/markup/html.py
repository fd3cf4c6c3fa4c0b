"""HTML fragments for question text: MathML for math, which browsers render natively (no
JavaScript, no network). Raw HTML in the text is escaped, never passed through.
"""

from __future__ import annotations

from html import escape as html_escape

from markdown_it import MarkdownIt

from mmexam.markup.latex import math_to_mathml
from mmexam.markup.parsing import MarkupError, check_text, make_parser, parse_tokens


def _html_renderer() -> MarkdownIt:
    md = make_parser()

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
    check_text(text)
    return _HTML.renderer.render(list(parse_tokens(text)), _HTML.options, {}).strip()
