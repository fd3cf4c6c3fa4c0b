"""Rendered sources: golden files, and errors that name the question, never a Typst trace."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from pypdf import PdfReader
from small_bank import FROZEN_GRADERS, GOLDENS, SMALL_BANK

from mmexam.bank import load_bank
from mmexam.build.exam import Settings, render_sources
from mmexam.build.render import compile_pdf, typst_str
from mmexam.build.variants import draw_paper
from mmexam.build.view import Fragments, paper_view
from mmexam.errors import BuildError
from mmexam.paths import TEMPLATES


@pytest.fixture(scope="module")
def paper():
    return draw_paper(load_bank(SMALL_BANK), 1, "A", variant="A")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fragments")


@pytest.fixture(scope="module")
def sources(paper, workdir):
    settings = Settings(1, ("pdf", "html"), True, TEMPLATES, FROZEN_GRADERS, workdir)
    return render_sources(paper, settings)


@pytest.mark.parametrize(
    ("document", "target", "golden"),
    [
        ("exam", "typst", "small-exam.typ"),
        ("key", "typst", "small-key.typ"),
        ("exam", "html", "small-exam.html"),
        ("key", "html", "small-key.html"),
        ("fragments", "typst", "small-fragments.typ"),
    ],
)
def test_sources_match_the_goldens(sources, update_goldens, document, target, golden):
    source = sources[(document, target)]
    path = GOLDENS / golden
    if update_goldens:
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run pytest with --update-goldens"
    expected = path.read_text(encoding="utf-8")
    assert source == expected, f"{golden} changed: review the diff, then run with --update-goldens"


def test_no_raw_markdown_or_latex_in_the_sources(sources):
    for (document, target), source in sources.items():
        visible = source.split("</style>")[-1] if target == "html" else source
        assert "\\frac" not in visible and "**" not in visible, (document, target)
        if target == "html":
            assert "$" not in visible
            assert "<script" not in source.lower()
            assert "http://" not in visible.replace("http://www.w3.org/1998/Math/MathML", "")


def question_block(source: str, qid: str) -> tuple[int, int]:
    lines = source.splitlines()
    return lines.index(f"// @begin {qid}"), lines.index(f"// @end {qid}")


def test_a_typst_error_names_the_question_and_the_line(sources, workdir):
    library = sources[("fragments", "typst")]
    lines = library.splitlines()
    start, _ = question_block(library, "short-late-fusion")
    lines.insert(start + 2, "#strong[an unclosed bracket")
    with pytest.raises(BuildError) as caught:
        compile_pdf("\n".join(lines), "question text for version A", workdir)
    message = str(caught.value)
    assert message.startswith("question text for version A: question short-late-fusion: ")
    assert "#strong[an unclosed bracket" in message
    assert "┌─" not in message and "\n" not in message


def test_a_typst_error_in_a_later_question_is_not_blamed_on_an_earlier_one(sources, workdir):
    library = sources[("fragments", "typst")]
    lines = library.splitlines()
    start, _ = question_block(library, "open-fusion-future")
    lines.insert(start + 2, "#let broken = (1, 2")
    with pytest.raises(BuildError, match="question open-fusion-future: "):
        compile_pdf("\n".join(lines), "key", workdir)


def test_the_sources_compile_and_place_every_fragment(sources, workdir):
    library = compile_pdf(sources[("fragments", "typst")], "fragments", workdir)
    (workdir / "fragments-0.pdf").write_bytes(library)
    pages = len(PdfReader(io.BytesIO(library)).pages)
    for document in ("exam", "key"):
        source = sources[(document, "typst")]
        pdf = compile_pdf(source, document, workdir)
        assert pdf.startswith(b"%PDF-")
        used = {int(n) for n in re.findall(r"frag\((\d+)\)", source)}
        assert used and max(used) <= pages
    exam, key = (sources[(d, "typst")] for d in ("exam", "key"))
    placed = {int(n) for s in (exam, key) for n in re.findall(r"frag\((\d+)\)", s)}
    assert placed == set(range(1, pages + 1)), "a fragment is typeset but never placed"


def test_an_unconvertible_formula_names_the_question_and_the_snippet(paper):
    placed = paper.parts[1].questions[0]
    broken = dataclasses.replace(
        placed,
        question=placed.question.model_copy(update={"text": r"Explain $\frac{1}{$ here."}),
    )
    part = dataclasses.replace(paper.parts[1], questions=[broken])
    bad = dataclasses.replace(paper, parts=[paper.parts[0], part, *paper.parts[2:]])
    for target in ("typst", "html"):
        with pytest.raises(BuildError) as caught:
            paper_view(bad, target, FROZEN_GRADERS, Fragments("f.pdf"))
        message = str(caught.value)
        assert message.startswith(f"{placed.id}: cannot convert the text"), message
        assert "\\frac{1}{" in message


def test_a_code_question_on_a_missing_function_is_a_build_error(paper, tmp_path):
    (tmp_path / "fusion").mkdir()
    (tmp_path / "fusion" / "starter.py").write_text("def other():\n    pass\n")
    with pytest.raises(BuildError, match="function 'tensor_fusion' is not in .* it has other"):
        paper_view(paper, "typst", tmp_path, Fragments("f.pdf"))


def test_typst_strings_escape_everything():
    assert typst_str('a "b" \\ #c $d$\n') == '"a \\"b\\" \\\\ #c $d$\\n"'


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
    from mmexam import markup

    direct = markup._convert_typst(tex)
    assert markup.math_to_typst(tex) == direct
    # A second formula of the same shape reuses the conversion and keeps its own numbers.
    other = re.sub(r"\d+", lambda m: str(int(m.group()) + 7), tex)
    assert markup.math_to_typst(other) == markup._convert_typst(other)
