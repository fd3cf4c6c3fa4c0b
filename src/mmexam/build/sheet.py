"""What a scanner needs on each page: corner marks, a page code, and layout.json.

Every page of an exam paper gets four filled corner marks and a QR code
naming the exam, the student (or anonymous version) and the page
(`mmexam.paperlayout.code_text`). Both are drawn straight into the page's
content stream as filled rectangles (segno makes the QR matrix): typesetting
one QR fragment per student and page would grow each batch's Typst library
by pages × students pieces for no gain.

layout.json comes from the placements that draw the pages (`layout.paginate`)
and from Typst itself: each tick box carries a `metadata` probe (the
`checkbox` of templates/fragments.typ.j2), and one `typst query` of the
fragments that hold boxes says where each box sits in its fragment. A box on
the page is its fragment's placement plus that offset; a written-answer
region is its fragment's placement and size (a code box, typeset after
pagination, from the second library). Nothing is laid out twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import segno

from mmexam.build.layout import GEOMETRY, ID_DIGITS, Fragments, Placement
from mmexam.errors import BuildError
from mmexam.paperlayout import Box, ExamLayout, PageLayout, PaperLayout, Rect, Region, code_text

MM = 72 / 25.4
MARK = 3.5 * MM  # a corner mark's side
MARK_INSET = 7.0 * MM  # from the page's edges to a mark's outer side
CODE_SIDE = 13.0 * MM  # the QR code's side, quiet zone excluded
# The code sits in the left margin, its foot level with the foot of the text area.
CODE_X = 6.5 * MM
CODE_BOTTOM = GEOMETRY.page_height - GEOMETRY.margin_bottom


def marks() -> list[Rect]:
    """The four corner marks: top-left, top-right, bottom-left, bottom-right."""
    w, h, m, s = GEOMETRY.page_width, GEOMETRY.page_height, MARK_INSET, MARK
    return [
        Rect(x=m, y=m, w=s, h=s),
        Rect(x=w - m - s, y=m, w=s, h=s),
        Rect(x=m, y=h - m - s, w=s, h=s),
        Rect(x=w - m - s, y=h - m - s, w=s, h=s),
    ]


def code_rect() -> Rect:
    return Rect(x=CODE_X, y=CODE_BOTTOM - CODE_SIDE, w=CODE_SIDE, h=CODE_SIDE)


def _rects(rects: Sequence[tuple[float, float, float, float]]) -> bytes:
    """PDF operators filling rectangles given from the top-left (x, y, w, h), in black."""
    height = GEOMETRY.page_height
    ops = [b"%.3f %.3f %.3f %.3f re" % (x, height - y - h, w, h) for x, y, w, h in rects]
    return b"q 0 g\n" + b"\n".join(ops) + b"\nf Q"


def overlay(text: str) -> bytes:
    """A page's corner marks and QR code, as PDF content operators."""
    rects = [(r.x, r.y, r.w, r.h) for r in marks()]
    qr = segno.make(text, error="l", micro=False, boost_error=False)
    matrix = qr.matrix
    module = CODE_SIDE / len(matrix)
    box = code_rect()
    for row, line in enumerate(matrix):
        col = 0
        while col < len(line):  # one rectangle per run of dark modules
            if line[col]:
                start = col
                while col < len(line) and line[col]:
                    col += 1
                y = box.y + row * module
                rects.append((box.x + start * module, y, (col - start) * module, module))
            else:
                col += 1
    return _rects(rects)


# ---------------------------------------------------------------- layout.json


Probes = dict[int, list[dict[str, Any]]]


def probe_boxes(render: Callable[[list[dict[str, Any]]], str], fragments: Fragments) -> Probes:
    """Where each tick box sits in its fragment (letters, the id grid), by library page.

    `render` makes a library's Typst source from fragment items; the fragments
    that hold boxes are typeset alone and asked where their probes are.
    """
    import typst

    wanted = [
        (page, item)
        for page, item in enumerate(fragments.items, start=1)
        if item["kind"] in ("letter", "idgrid") and not item["body"].get("marked")
    ]
    if not wanted:
        return {}
    source = render([item for _, item in wanted])
    try:
        found = json.loads(
            typst.query(source.encode("utf-8"), "<mmx-box>", ignore_system_fonts=True)
        )
    except (typst.TypstError, ValueError) as error:  # pragma: no cover - the template is ours
        raise BuildError(f"layout.json: cannot locate the tick boxes ({error})") from None
    probes: Probes = defaultdict(list)
    for entry in found:
        value = entry["value"]
        probes[wanted[value["page"] - 1][0]].append(value)
    return dict(probes)


Size = Callable[[int, int], tuple[float, float]]  # (library, fragment) -> (width, height)


def page_layout(
    page: int, code: str, placements: Sequence[Placement], probes: Probes, size: Size
) -> PageLayout:
    """One page's tick boxes and written-answer regions, from its placements."""
    boxes, regions = [], []
    for placed in placements:
        tag = placed.tag
        if tag is None:
            continue
        if tag.what in ("box", "idgrid"):
            for probe in probes.get(placed.fragment, []):
                side = probe["w"] * placed.scale
                x = placed.x + probe["x"] * placed.scale
                y = placed.y + probe["y"] * placed.scale
                if tag.what == "box":
                    boxes.append(
                        Box(x=x, y=y, w=side, h=side, number=tag.number, index=tag.position)
                    )
                else:
                    digit, column = probe["digit"], probe["column"]
                    boxes.append(
                        Box(x=x, y=y, w=side, h=side, number="id", index=digit, column=column)
                    )
        elif tag.what == "region":
            width, height = size(placed.library, placed.fragment)
            regions.append(
                Region(
                    x=placed.x,
                    y=placed.y,
                    w=width * placed.scale,
                    h=height * placed.scale,
                    number=tag.number,
                    kind=tag.kind,
                )
            )
    return PageLayout(page=page, code=code, boxes=boxes, regions=regions)


def paper_layout(
    exam: str,
    who: str,
    variant: str,
    anonymous: bool,
    pages: Sequence[Sequence[Placement]],
    probes: Probes,
    size: Size,
) -> PaperLayout:
    return PaperLayout(
        id=who,
        variant=variant,
        anonymous=anonymous,
        pages=[
            page_layout(n, code_text(exam, who, anonymous, n), placed, probes, size)
            for n, placed in enumerate(pages, start=1)
        ],
    )


def exam_layout(exam: str, papers: list[PaperLayout]) -> ExamLayout:
    return ExamLayout(
        exam=exam,
        page_width=GEOMETRY.page_width,
        page_height=GEOMETRY.page_height,
        marks=marks(),
        code=code_rect(),
        id_digits=ID_DIGITS,
        papers=papers,
    )


def layout_json(layout: ExamLayout) -> bytes:
    """layout.json: compact (a class of hundreds has hundreds of thousands of numbers)."""
    data = _rounded(layout.model_dump(mode="json"))
    return (json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n").encode()


def _rounded(value: Any) -> Any:
    """Coordinates to a thousandth of a point (a 36th of a micrometre is noise)."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
