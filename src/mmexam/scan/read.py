"""One scanned page in, what is on it out: whose page it is, every box's darkness and
decision, pictures of its written answers and of its doubtful boxes.

Runs in worker processes (`mmexam.scan.run`): what it returns is small and
picklable (numbers and PNG bytes, never the page's pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmexam.paperlayout import ExamLayout, PaperLayout, Rect
from mmexam.scan.align import align
from mmexam.scan.boxes import Thresholds, darkness, decide, paper_white
from mmexam.scan.crops import ZOOM_DPI, crop, png
from mmexam.scan.identify import Found, read_code
from mmexam.scan.model import BoxReading
from mmexam.scan.pages import Page

BLANK_INK = 0.003  # a page with less ink than this share of its pixels is a blank back
THUMB_DPI = 24
ZOOM_MARGIN = 9.0  # points around a box in its zoom


@dataclass
class PageRead:
    """A page that was identified and measured."""

    source: str
    paper: str  # the paper's id in layout.json
    anonymous: bool
    page: int
    marks_found: int
    trusted: bool
    note: str
    boxes: list[BoxReading]
    zooms: dict[int, bytes]  # box index in `boxes` -> PNG
    crops: list[tuple[str, bytes]]  # (printed number, PNG) per written-answer region


@dataclass
class PageFailed:
    """A page that could not be used, and why (one line of the report)."""

    source: str
    message: str
    blank: bool = False  # a blank back: listed, never a problem
    thumbnail: bytes = field(default=b"", repr=False)


def _thumbnail(image: np.ndarray, dpi: float | None) -> bytes:
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((int(8.3 * THUMB_DPI), int(11.7 * THUMB_DPI)))
    return png(picture)


def identify(
    page: Page, layout: ExamLayout, papers: dict[tuple[str, bool], PaperLayout], white: float
) -> tuple[Found, PaperLayout] | PageFailed:
    """Whose page this is, from its code; or why it cannot be used."""
    image = page.image
    found = read_code(image)
    if found is None:
        if float(np.mean(image < 0.5 * white)) < BLANK_INK:
            return PageFailed(page.source, "a blank page (the back of a sheet?): skipped", True)
        return PageFailed(
            page.source,
            "no page code found: not a page of this exam, or its code is torn or smudged — "
            "rescan it, or type its answers by hand",
            thumbnail=_thumbnail(image, page.dpi),
        )
    code = found.code
    if code is None:
        return PageFailed(
            page.source,
            f"its QR code ({found.text[:60]!r}) is not an mmexam page code: not a page of this exam",
            thumbnail=_thumbnail(image, page.dpi),
        )
    if code.exam != layout.exam:
        return PageFailed(
            page.source,
            f"a page of another exam (its code names exam {code.exam}; this build is {layout.exam}) "
            "— scan it with that exam's --build folder",
            thumbnail=_thumbnail(image, page.dpi),
        )
    paper = papers.get((code.id, code.anonymous))
    who = f"version {code.id}" if code.anonymous else f"student {code.id}"
    if paper is None or not 1 <= code.page <= len(paper.pages):
        what = f"{who} is not in this build" if paper is None else f"{who} has no page {code.page}"
        return PageFailed(page.source, f"its code names page {code.page} of {who}, but {what}")
    return found, paper


def read_page(
    page: Page, layout: ExamLayout, papers: dict[tuple[str, bool], PaperLayout], limits: Thresholds
) -> PageRead | PageFailed:
    """Identify, align and measure one page."""
    image = page.image
    white = paper_white(image)
    known = identify(page, layout, papers, white)
    if isinstance(known, PageFailed):
        return known
    found, paper = known
    number = found.code.page if found.code else 0
    printed = paper.pages[number - 1]
    fit = align(image, found.corners, layout, white)
    boxes: list[Rect] = list(printed.boxes)
    values = darkness(image, fit.matrix, boxes, white, limits.ink)
    readings, zooms = [], {}
    for n, (box, value) in enumerate(zip(printed.boxes, values)):
        measured = None if np.isnan(value) else round(float(value), 4)
        decision = decide(float(value), limits) if fit.trusted else "ambiguous"
        readings.append(
            BoxReading(
                number=box.number,
                index=box.index,
                column=box.column,
                page=number,
                darkness=measured,
                decision=decision,
            )
        )
        if decision == "ambiguous":
            zooms[n] = png(crop(image, fit.matrix, box, ZOOM_MARGIN, ZOOM_DPI))
    crops = [(r.number, png(crop(image, fit.matrix, r))) for r in printed.regions]
    return PageRead(
        page.source,
        paper.id,
        paper.anonymous,
        number,
        fit.marks_found,
        fit.trusted,
        fit.note,
        readings,
        zooms,
        crops,
    )
