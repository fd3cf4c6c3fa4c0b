"""What a scanner reads on each page: corner marks, the page code, and layout.json.

The PDFs are rendered back (pypdfium2) and looked at where layout.json says
things are: each page's code decodes to that page, every tick box has ink on
its outline and none inside, the corner marks are solid.
"""

from __future__ import annotations

import json

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp

from mmexam.exam import Manifest
from mmexam.paperlayout import ExamLayout, code_text, parse_code

DPI = 150
SCALE = DPI / 72


def rendered(path):
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [
            np.asarray(page.render(scale=SCALE, grayscale=True).to_pil().convert("L"))
            for page in pdf
        ]
    finally:
        pdf.close()


def cut(image, rect, inset=0.0):
    x0, y0 = (rect.x + inset) * SCALE, (rect.y + inset) * SCALE
    x1, y1 = (rect.x + rect.w - inset) * SCALE, (rect.y + rect.h - inset) * SCALE
    return image[round(y0) : round(y1), round(x0) : round(x1)]


@pytest.fixture(scope="module")
def layout(small_build):
    _, result = small_build
    path = result.out / "layout.json"
    assert path in result.files
    return ExamLayout.model_validate(json.loads(path.read_text()))


def test_layout_names_every_paper_and_choice(small_build, layout):
    _, result = small_build
    manifest = Manifest.model_validate_json(result.manifest.read_text())
    assert [p.id for p in layout.papers] == [s.id for s in manifest.students]
    for paper, student in zip(layout.papers, manifest.students):
        boxes = [b for page in paper.pages for b in page.boxes if b.number != "id"]
        for item in student.items:
            if item.kind in ("mcq", "multi_select"):
                shown = sorted(b.index for b in boxes if b.number == item.number)
                assert shown == list(range(len(item.options or []))), item.number
            if item.kind in ("short_answer", "open", "numeric"):
                regions = [r for page in paper.pages for r in page.regions]
                assert any(r.number == item.number for r in regions), item.number


def test_every_page_carries_its_code_and_marks(small_build, layout):
    paper = layout.papers[0]
    images = rendered(small_build[1].out / "exam.pdf")
    assert len(images) == len(paper.pages)
    for image, page in zip(images, paper.pages):
        assert page.code == code_text(layout.exam, paper.id, paper.anonymous, page.page)
        found = zxingcpp.read_barcodes(cut(image, layout.code, inset=-8))
        assert [r.text for r in found] == [page.code]
        code = parse_code(found[0].text)
        assert code is not None and code.page == page.page and code.exam == layout.exam
        for mark in layout.marks:
            assert cut(image, mark, inset=1.0).mean() < 40  # solid black
            assert cut(image, mark, inset=-6.0).mean() > 100  # with white around it


def test_boxes_sit_where_layout_json_says(small_build, layout):
    paper = layout.papers[0]
    images = rendered(small_build[1].out / "exam.pdf")
    boxes = [(images[page.page - 1], box) for page in paper.pages for box in page.boxes]
    assert boxes
    for image, box in boxes:
        assert cut(image, box, inset=1.6).min() > 200, box  # the inside is blank
        outline = cut(image, box, inset=-0.8)
        edge = np.concatenate([outline[:2].ravel(), outline[-2:].ravel()])
        assert edge.min() < 120, box  # the printed outline is there


def test_anonymous_versions_have_an_id_grid(tmp_path, small_build):
    from mmexam.build import build_exam

    bank, _ = small_build
    result = build_exam(bank, tmp_path / "out", seed=1, variants=2, formats=["pdf"], key=False)
    layout = ExamLayout.model_validate_json((tmp_path / "out" / "layout.json").read_text())
    assert [p.id for p in layout.papers] == ["A", "B"]
    assert all(p.anonymous for p in layout.papers)
    grid = [b for b in layout.papers[0].pages[0].boxes if b.number == "id"]
    assert sorted((b.column, b.index) for b in grid) == [
        (c, d) for c in range(layout.id_digits) for d in range(10)
    ]
    image = rendered(result.out / "versions" / "A" / "exam.pdf")[0]
    for box in grid:
        assert cut(image, box, inset=1.6).min() > 200
