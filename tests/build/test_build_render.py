"""Rendered sources and layouts: golden files, every fragment placed and on the page, and
errors that name the question, never a Typst trace."""

from __future__ import annotations

import dataclasses

import pytest
from small_bank import FROZEN_GRADERS, GOLDENS, SMALL_BANK

from mmexam.bank import load_bank
from mmexam.build.exam import Settings, lay_out, render_batch, render_sources
from mmexam.build.layout import GEOMETRY
from mmexam.build.render import compile_pdf, typst_str
from mmexam.build.variants import draw_paper
from mmexam.build.view import paper_view
from mmexam.errors import BuildError
from mmexam.paths import TEMPLATES


@pytest.fixture(scope="module")
def paper():
    return draw_paper(load_bank(SMALL_BANK), 1, "A", variant="A")


SETTINGS = Settings(1, ("pdf", "html"), True, TEMPLATES, FROZEN_GRADERS)


@pytest.fixture(scope="module")
def sources(paper):
    return render_sources(paper, SETTINGS)


@pytest.fixture(scope="module")
def batch(paper):
    return render_batch([paper], SETTINGS)


@pytest.fixture(scope="module")
def layout(batch):
    return lay_out(batch, SETTINGS, "version A")


def describe(batch, layout) -> str:
    """The pages of the exam and the key, one placed fragment a line."""
    lines = []
    for document, pages in layout.pages[0].items():
        for number, page in enumerate(pages, start=1):
            for placed in page:
                if placed.library == 1:  # typeset after pagination
                    item = layout.labels_fragments.items[placed.fragment - 1]
                    if item["kind"] == "page":
                        what = f"page label {item['body']}"
                    elif item["kind"] == "continued":
                        what = f"continued {item['body']}"
                    else:
                        what = f"{item['kind']} fill {item['body']['height']}"
                else:
                    item = batch.fragments.items[placed.fragment - 1]
                    what = f"{item['kind']} {item['qid']}".rstrip()
                scale = f" scaled {placed.scale:.3f}" if placed.scale != 1 else ""
                lines.append(
                    f"{document} p{number}: {what} at ({placed.x:.1f}, {placed.y:.1f}){scale}"
                )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("document", "target", "golden"),
    [
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


def test_the_layout_matches_the_golden(batch, layout, update_goldens):
    text = describe(batch, layout)
    path = GOLDENS / "small-layout.txt"
    if update_goldens:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run pytest with --update-goldens"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        "small-layout.txt changed: review the diff, then run with --update-goldens"
    )


def test_every_fragment_is_placed_and_inside_its_page(batch, layout):
    placed = {
        (p.library, p.fragment)
        for pages in layout.pages[0].values()
        for page in pages
        for p in page
    }
    typeset = {(0, n) for n in range(1, len(batch.fragments.items) + 1)}
    typeset |= {(1, n) for n in range(1, len(layout.labels_fragments.items) + 1)}
    assert placed == typeset, "a fragment is typeset but never placed"
    geo = GEOMETRY
    for pages in layout.pages[0].values():
        for page in pages:
            for p in page:
                width, height = (layout.library, layout.labels)[p.library].size(p.fragment)
                assert p.x >= geo.margin_x - 0.01 and p.y >= 0, p
                assert p.x + width * p.scale <= geo.page_width - geo.margin_x + 0.01, p
                assert p.y + height * p.scale <= geo.page_height, p
                if not p.centred and p.y >= geo.margin_top:  # the body, not the header
                    bottom = geo.page_height - geo.margin_bottom
                    assert p.y + height * p.scale <= bottom + 0.01 or p.y > bottom, p


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


def test_a_typst_error_names_the_question_and_the_line(sources):
    library = sources[("fragments", "typst")]
    lines = library.splitlines()
    start, _ = question_block(library, "short-late-fusion")
    lines.insert(start + 2, "#strong[an unclosed bracket")
    with pytest.raises(BuildError) as caught:
        compile_pdf("\n".join(lines), "question text for version A")
    message = str(caught.value)
    assert message.startswith("question text for version A: question short-late-fusion: ")
    assert "#strong[an unclosed bracket" in message
    assert "┌─" not in message and "\n" not in message


def test_a_typst_error_in_a_later_question_is_not_blamed_on_an_earlier_one(sources):
    library = sources[("fragments", "typst")]
    lines = library.splitlines()
    start, _ = question_block(library, "open-fusion-future")
    lines.insert(start + 2, "#let broken = (1, 2")
    with pytest.raises(BuildError, match="question open-fusion-future: "):
        compile_pdf("\n".join(lines), "key")


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
            paper_view(bad, target, FROZEN_GRADERS)
        message = str(caught.value)
        assert message.startswith(f"{placed.id}: cannot convert the text"), message
        assert "\\frac{1}{" in message


def test_a_code_question_on_a_missing_function_is_a_build_error(paper, tmp_path):
    (tmp_path / "fusion").mkdir()
    (tmp_path / "fusion" / "reference.py").write_text(
        "def other():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n"
    )
    with pytest.raises(BuildError, match="function 'tensor_fusion' is not in .* it has other"):
        paper_view(paper, "typst", tmp_path)


def test_typst_strings_escape_everything():
    assert typst_str('a "b" \\ #c $d$\n') == '"a \\"b\\" \\\\ #c $d$\\n"'
