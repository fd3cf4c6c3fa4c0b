"""Markdown + LaTeX -> Typst, HTML (MathML) and terminal text."""

import io
import pickle
import re
import xml.etree.ElementTree as ET

import pytest
import typst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from mmexam.errors import MmexamError
from mmexam.markup import (
    Formula,
    MarkupError,
    check_typst_math,
    clear_formula_cache,
    formula_cache_snapshot,
    latex,
    math_to_mathml,
    math_to_typst,
    preload_formula_cache,
    scan,
    tex_to_unicode,
    to_html,
    to_plain,
    to_typst,
)

LEAKS = ("$", "\\frac", "**")


def pdf_text(markup: str) -> str:
    pdf = typst.compile(markup.encode())
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def html_tree(html: str) -> ET.Element:
    """The fragment must be well-formed XML (MathML is XML)."""
    return ET.fromstring(f"<div>{html}</div>")


def visible_text(element: ET.Element) -> str:
    return "".join(element.itertext())


# ---------------------------------------------------------------- Typst


@pytest.mark.parametrize(
    ("tex", "typst_math"),
    [
        (r"\mathcal{L}", "cal(L)"),
        (r"\frac{a}{b}", "a/b"),
        (r"\sum_{i=1}^n x_i", "sum_(i = 1)^n x_i"),
        (r"\underbrace{a+b}_{n}", "underbrace(a + b, n)"),
        (r"\mathbf{z}", "upright(bold(z))"),
        (r"\|x\|", "bar.v.double x bar.v.double"),
        (r"\text{softmax}(x)", '"softmax" (x)'),
        ("x_A", "x_A"),
        (r"\tanh(x)", 'op("tanh")(x)'),
        (r"\max_i x_i", 'op("max", limits: #true)_i x_i'),
        (r"\operatorname*{arg\,max}_x f", 'op("arg max", limits: #true)_x f'),
        (r"\big( x \big)", "(x)"),
        (r"\lVert x \rVert", "bar.v.double x bar.v.double"),
        (r"\textbf{W}", 'upright(bold("W"))'),
        (r"\mathbb{E}_{q(z|x)}[\log p(x|z)]", "EE_(q(z | x)) [log p(x | z)]"),
    ],
)
def test_math_to_typst(tex, typst_math):
    assert math_to_typst(tex) == typst_math


def test_every_tricky_formula_compiles_in_typst():
    formulas = [
        r"\mathcal{L}",
        r"\frac{a}{b}",
        r"\sum_{i=1}^n x_i",
        r"\underbrace{a+b}_{n}",
        r"\mathbf{z}",
        r"\|x\|",
        r"\text{softmax}(x)",
        r"\tanh(x) + \exp(x)",
        r"\max_i \min_j x_{ij}",
        r"\operatorname*{arg\,max}_x f",
        r"\begin{cases} a & x > 0 \\ b & \text{otherwise} \end{cases}",
        r"\sqrt{1-\bar\alpha_t}\,\epsilon",
        r"z = \mu + \sigma \odot \epsilon, \; \epsilon \sim \mathcal{N}(0, I)",
        r"[x_A, 1] \otimes [x_B, 1] \in \mathbb{R}^{(d_A+1)(d_B+1)}",
    ]
    assert check_typst_math([math_to_typst(f) for f in formulas]) == {}


def test_paragraph_with_inline_math_bold_italics_and_code():
    text = "Let $x_A \\in \\mathbb{R}^{d_A}$, **bold**, *it* and `$code$`."
    assert to_typst(text) == (
        'Let $x_A in RR^(d_A)$, #strong[bold];, #emph[it]; and #raw("$code$");.'
    )


def test_typst_special_characters_are_escaped_and_print_literally():
    text = r"Costs \$5: # @ <b> [x] a//b 2 * 3 = x_A ~ `tick` \\ and -- +1 /\* c \*/"
    markup = to_typst(text)
    printed = pdf_text(markup)
    assert "Costs $5: # @ <b> [x] a//b 2 * 3 = x_A ~ tick \\ and -- +1 /* c */" in printed


def test_lists_display_math_and_table_compile():
    text = (
        "Intro with $\\frac{a}{b}$.\n\n"
        "- first $x_A$\n- second **b**\n\n"
        "3. three\n4. four\n\n"
        "$$\\mathcal{L} = \\sum_{i=1}^n \\|x_i\\|^2$$\n\n"
        "| a | b |\n|:-:|--:|\n| $x$ | `y` |\n\n"
        "```python\nprint('a\\\\b \"q\"')\n```\n\n> quoted\n\n---\n\n# Heading"
    )
    markup = to_typst(text)
    assert "#list(tight: true, [first $x_A$], [second #strong[b];]);" in markup
    assert "#enum(tight: true, start: 3, [three], [four]);" in markup
    assert "$ cal(L) = sum_(i = 1)^n bar.v.double x_i bar.v.double^2 $" in markup
    printed = pdf_text(markup)
    for leak in LEAKS:
        assert leak not in printed
    assert "print('a\\\\b \"q\"')" in printed
    assert "Heading" in printed and "quoted" in printed


def test_formatting_followed_by_a_dot_does_not_continue_the_typst_expression():
    assert pdf_text(to_typst("**b**.Next and `x`(y)")).startswith("b.Next and x(y)")


def test_escaped_number_at_paragraph_start_is_not_a_typst_enum():
    markup = to_typst("2024\\. The year")
    assert markup == "2024\\. The year"
    assert pdf_text(markup).startswith("2024. The year")


# ---------------------------------------------------------------- HTML


def test_html_uses_mathml_and_no_javascript():
    html = to_html("Let $x_A \\in \\mathbb{R}^{d_A}$ and $$\\frac{a}{b}$$ with **bold**.")
    tree = html_tree(html)
    maths = tree.findall(".//{http://www.w3.org/1998/Math/MathML}math")
    assert [m.get("display") for m in maths] == ["inline", "block"]
    assert "<script" not in html
    assert "<strong>bold</strong>" in html
    for leak in LEAKS:
        assert leak not in visible_text(tree)


def test_html_escapes_raw_html_and_keeps_dollar_in_code():
    html = to_html("<script>alert(1)</script> `a $x$ b` \\$5 & <i>")
    tree = html_tree(html)
    assert tree.find(".//script") is None
    assert "&lt;script&gt;" in html
    assert tree.find(".//code").text == "a $x$ b"
    assert "$5 & <i>" in visible_text(tree)


def test_html_lists_and_subscripts():
    html = to_html("- $x_A$\n- $\\underbrace{a+b}_{n}$\n\n1. $\\mathbf{z}$")
    tree = html_tree(html)
    assert len(tree.findall("./ul/li")) == 2
    assert len(tree.findall("./ol/li")) == 1
    assert "<msub><mi>x</mi><mi>A</mi></msub>" in html


def test_html_comparison_signs_in_math_are_escaped():
    html = to_html("$a < b > c$")
    assert "&lt;" in html or "&#x0003C;" in html
    html_tree(html)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "reason", "snippet"),
    [
        ("costs $5 a day", "unmatched $", "costs $5 a day"),
        ("see $x$5", "unmatched $", "see $x$5"),
        ("the ratio \\frac{a}{b} here", "LaTeX outside math", "the ratio \\frac{a}{b} here"),
        ("a **bold claim", "unclosed **", "a **bold claim"),
        ("$\\frac{a$", "Unmatched '{'", "\\frac{a"),
        ("$a}$", "Unmatched '}'", "a}"),
        ("$\\left( x$", "1 \\left but 0 \\right", "\\left( x"),
        ("$\\foo{x}$", "Unknown token: \\foo", "\\foo{x}"),
        ("![plot](plot.png)", "image", "plot.png"),
    ],
)
def test_errors_carry_snippet_and_reason(text, reason, snippet):
    for render in (to_typst, to_html):
        with pytest.raises(MarkupError) as caught:
            render(text)
        assert caught.value.reason == reason
        assert caught.value.snippet == snippet
        assert isinstance(caught.value, MmexamError)


def test_error_messages_say_how_to_fix():
    with pytest.raises(MarkupError, match=r"write '\\\$' for a dollar sign"):
        to_typst("costs $5")
    with pytest.raises(MarkupError, match=r"unknown LaTeX command \\foo in math '\$\\foo\$'"):
        to_typst("$\\foo$")
    with pytest.raises(MarkupError, match=r"put the formula between '\$\.\.\.\$'"):
        to_html("a \\mathcal{L} b")


def test_long_snippets_are_shortened_around_the_problem():
    text = "word " * 40 + "$5 " + "word " * 40
    with pytest.raises(MarkupError) as caught:
        to_typst(text)
    assert caught.value.snippet.startswith("…") and caught.value.snippet.endswith("…")
    assert "$5" in caught.value.snippet
    assert len(caught.value.snippet) < 60


def test_escaped_dollar_and_code_spans_are_fine():
    assert to_typst("\\$5 and `$x` and $y$") == '\\$5 and #raw("$x"); and $y$'


def test_check_typst_math_finds_each_bad_formula():
    errors = check_typst_math(["x", "xrightarrow a", "a + b", "big(", "foo", "cal(L)"])
    assert errors == {
        "xrightarrow a": "unknown variable: xrightarrow",
        "big(": "unclosed delimiter",
        "foo": "unknown variable: foo",
    }


# ---------------------------------------------------------------- scan


def test_scan_lists_formulas_and_the_first_problem():
    found = scan("A $x_A$ and $$\\frac{a}{b}$$ then \\$ and `$c$`")
    assert found.formulas == (Formula("x_A", False), Formula("\\frac{a}{b}", True))
    assert found.problem is None
    assert scan("$x$ and $y").problem.reason == "unmatched $"


# ---------------------------------------------------------------- plain


def test_plain_is_readable_in_a_terminal():
    text = (
        "Let $x_A \\in \\mathbb{R}^{d_A}$ and **bold** *it* `code`.\n\n"
        "- $\\frac{a}{b}$\n- $\\mathcal{L} = \\sum_{i=1}^n \\|x_i\\|^2$\n\n"
        "$$z = \\mu + \\sigma \\odot \\epsilon$$"
    )
    assert to_plain(text) == (
        "Let x_A ∈ ℝ^(d_A) and bold it `code`.\n\n- a/b\n- ℒ = Σ_(i=1)ⁿ ‖x_i‖²\n\n    z = μ + σ ⊙ ϵ"
    )


@pytest.mark.parametrize(
    ("tex", "plain"),
    [
        (r"\sqrt{1-\bar\alpha_t}", "√(1-ᾱ_t)"),
        (r"x^{-1}", "x⁻¹"),
        (r"\mathbf{z}", "z"),
        (r"\text{softmax}(x)", "softmax(x)"),
        (r"\underbrace{a+b}_{n}", "a+b_n"),
        (r"\max_x f(x)", "max_x f(x)"),
        (r"\foo{x} + 1", "\\foo{x} + 1"),
    ],
)
def test_tex_to_unicode(tex, plain):
    assert tex_to_unicode(tex) == plain


def test_plain_never_raises_on_broken_text():
    assert to_plain("costs $5 a day, **open and \\frac{a}{b}") == (
        "costs $5 a day, **open and \\frac{a}{b}"
    )
    assert to_plain("$\\frac{a$") == "a/"


# ---------------------------------------------------------------- formula cache


@pytest.mark.parametrize(
    "tex",
    [
        r"d_A d_B = 40 \times 768",
        r"x_2 = 0.5 + 0.6 \cdot (-1) = -0.1",
        r"\mathbf{W} \in \mathbb{R}^{512 \times 3}",
        r"x^{2}_{10} + \sqrt[3]{8}",
        r"x^12 + \frac12",  # TeX groups these digits: converted as written
        r"\text{step 3 of 10}",
    ],
)
def test_a_formula_converted_through_its_shape_is_the_formula_converted_directly(tex):
    direct = latex._convert_typst(tex)
    assert math_to_typst(tex) == direct
    # A second formula of the same shape reuses the conversion and keeps its own numbers.
    other = re.sub(r"\d+", lambda m: str(int(m.group()) + 7), tex)
    assert math_to_typst(other) == latex._convert_typst(other)


def test_a_formula_cache_snapshot_preloads_another_cache_without_the_failures(monkeypatch):
    clear_formula_cache()
    assert math_to_typst(r"\alpha + \beta") == "alpha + beta"
    assert "math" in math_to_mathml(r"\alpha")
    with pytest.raises(MarkupError):
        math_to_typst(r"\frac{1}{")
    snapshot = pickle.loads(pickle.dumps(formula_cache_snapshot()))
    assert snapshot.typst == {r"\alpha + \beta": "alpha + beta"}
    assert list(snapshot.mathml) == [(r"\alpha", False)]

    clear_formula_cache()
    preload_formula_cache(snapshot)
    monkeypatch.setattr(latex, "_convert_typst", lambda tex: pytest.fail(f"converted {tex}"))
    assert math_to_typst(r"\alpha + \beta") == "alpha + beta"


# ---------------------------------------------------------------- properties

_ALPHABET = st.sampled_from(
    list("ab xyz019\n\t")
    + [
        "$",
        "$$",
        "\\",
        "*",
        "_",
        "`",
        "#",
        "[",
        "]",
        "<",
        ">",
        "@",
        "- ",
        "1. ",
        "\\frac{",
        "}",
        "{",
        "^",
        "\\alpha",
        "|",
        "~",
        "/",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_any_text_renders_or_raises_markup_error(text):
    try:
        markup = to_typst(text)
    except MarkupError:
        markup = None
    if markup is not None:
        # Whatever to_typst accepts must compile.
        typst.compile(markup.encode(), format="svg")
    try:
        html = to_html(text)
    except MarkupError:
        html = None
    if html is not None:
        html_tree(html)
    to_plain(text)


def test_no_backslash_command_leaks_into_typst_from_accepted_math():
    markup = to_typst("$\\alpha + \\beta \\cdot \\frac{1}{2} \\leq \\infty$")
    assert not re.search(r"\\[A-Za-z]", markup)
