"""The printed paper read back: code boxes that run to the foot of their page, ruled, and
"(continued)" lines where a problem runs on to a new page (real PDFs, rasterised)."""

from __future__ import annotations

import itertools
import json
import shutil

import pypdfium2 as pdfium
import pytest
from small_bank import SMALL_BANK

from mmexam.build import build_exam
from mmexam.build.compose import Library
from mmexam.build.exam import library_source
from mmexam.build.layout import CONTINUED, FILL_STEP, GEOMETRY, PITCH, Fragments
from mmexam.build.render import compile_pdf, templates
from mmexam.paths import TEMPLATES

BODY_BOTTOM = GEOMETRY.margin_top + GEOMETRY.body_height
SCALE = 2.0  # pixels per point when rasterised


@pytest.fixture(scope="module")
def tall_code_build(tmp_path_factory):
    """The small bank with a code box that cannot start below the stub: 20 cm at least."""
    root = tmp_path_factory.mktemp("tall-code")
    bank = root / "small"
    shutil.copytree(SMALL_BANK, bank)
    questions = bank / "questions.yaml"
    text = questions.read_text()
    assert "answer_space: {style: box, height_cm: 6}" in text
    questions.write_text(text.replace("height_cm: 6}", "height_cm: 20}"))
    build_exam(bank, root / "out", seed=1, formats=("pdf",), key=False)
    return root / "out"


def code_regions(out):
    layout = json.loads((out / "layout.json").read_text())
    return [
        (page["page"], region)
        for page in layout["papers"][0]["pages"]
        for region in page["regions"]
        if region["kind"] == "code"
    ]


def page_texts(pdf_path) -> list[str]:
    pdf = pdfium.PdfDocument(pdf_path)
    texts = [page.get_textpage().get_text_range() for page in pdf]
    pdf.close()
    return texts


def rows_with_rules(pdf_path, page: int, region: dict) -> list[int]:
    """Pixel rows inside a region (its border excluded) where a light rule crosses its
    middle third: runs of grey, not white, not black."""
    pdf = pdfium.PdfDocument(pdf_path)
    image = pdf[page - 1].render(scale=SCALE, grayscale=True).to_pil()
    pdf.close()
    x0 = int((region["x"] + region["w"] / 3) * SCALE)
    x1 = int((region["x"] + 2 * region["w"] / 3) * SCALE)
    top = int((region["y"] + 20) * SCALE)  # below the hint line
    bottom = int((region["y"] + region["h"] - 3) * SCALE)
    rows = []
    for y in range(top, bottom):
        values = [image.getpixel((x, y)) for x in range(x0, x1, 4)]
        if sum(v < 235 for v in values) > 0.9 * len(values):
            rows.append(y)
    runs = [y for n, y in enumerate(rows) if n == 0 or rows[n - 1] != y - 1]
    return runs


@pytest.mark.parametrize("build", ["small_build", "tall_code_build"])
def test_the_code_box_runs_to_the_foot_of_its_page_and_is_ruled(build, request):
    out = request.getfixturevalue(build)
    out = out[1].out if isinstance(out, tuple) else out
    regions = code_regions(out)
    assert regions, "no code region in layout.json"
    for page, region in regions:
        bottom = region["y"] + region["h"]
        assert BODY_BOTTOM - FILL_STEP - 0.01 <= bottom <= BODY_BOTTOM + 0.01, (page, region)
        assert region["h"] >= 6 / 2.54 * 72 - 0.01, "shorter than the bank's least height"
        rules = rows_with_rules(out / "exam.pdf", page, region)
        expected = int((region["h"] - 4) / PITCH)
        assert expected - 1 <= len(rules) <= expected, (len(rules), expected)
        gaps = {round((b - a) / SCALE) for a, b in itertools.pairwise(rules)}
        assert gaps <= {round(PITCH) - 1, round(PITCH), round(PITCH) + 1}, gaps


def test_a_box_with_too_little_room_starts_the_next_page_and_fills_it(tall_code_build):
    ((page, region),) = code_regions(tall_code_build)
    texts = page_texts(tall_code_build / "exam.pdf")
    assert "Implement tensor fusion" in texts[page - 2], "the question starts a page before"
    assert region["h"] >= 20 / 2.54 * 72 - 0.01
    assert region["y"] < GEOMETRY.margin_top + 40, "the box starts at the top of its page"


def test_a_problem_that_runs_on_says_so_at_the_top_of_the_new_page(tall_code_build, small_build):
    ((page, _),) = code_regions(tall_code_build)
    texts = page_texts(tall_code_build / "exam.pdf")
    continued = [n for n, text in enumerate(texts, start=1) if "(continued)" in text]
    assert continued == [page], continued
    assert "Problem 3 (continued)" in " ".join(texts[page - 1].split())
    assert not any("(continued)" in text for text in page_texts(small_build[1].out / "exam.pdf"))


def test_the_continued_line_fits_the_room_kept_for_it():
    fragments = Fragments()
    fragments.add("continued", "full", "Problem 12.3 (gjÅ)")
    source = library_source(templates(TEMPLATES), fragments)
    library = Library(compile_pdf(source, "continued"), "continued")
    assert library.size(1)[1] <= CONTINUED
