"""layout.json: where everything a machine reads sits on each printed page.

`mmexam build` writes it from the same placements that draw the papers
(mmexam/build/sheet.py); `mmexam scan` reads it to find, on a scanned page,
the corner marks, the page's code, every tick box and every written-answer
region. Coordinates are PDF points (1/72 inch) from the page's top-left
corner, x to the right, y down: the frame of the placements in
mmexam/build/layout.py.

The code on every page is a QR code whose text is `code_text(...)`:
``mmx1:<exam>:<s|v>:<id>:<page>`` — the exam's id, a student (s) or an
anonymous version (v), and the 1-based page number.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

CODE_PREFIX = "mmx1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rect(_Model):
    """A rectangle on the page, in points from the top-left corner."""

    x: float = Field(description="Left edge.")
    y: float = Field(description="Top edge.")
    w: float = Field(description="Width.")
    h: float = Field(description="Height.")

    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


class Box(Rect):
    """A tick box: a printed option's box, or a digit of the student-id grid."""

    number: str = Field(description='The printed question number ("1.3", "3.a"); "id" on the grid.')
    index: int = Field(
        description="The option's position as printed (0 = a); on the grid, the digit."
    )
    column: int = Field(default=0, description="On the student-id grid, the digit's column.")


class Region(Rect):
    """Where a written answer goes: lines, a box, a numeric field or code."""

    number: str = Field(description="The printed question number.")
    kind: str = Field(description="The item's kind: short_answer, open, numeric, code.")


class PageLayout(_Model):
    """One printed page of one paper."""

    page: int = Field(description="1-based page number.")
    code: str = Field(description="The text of the page's QR code.")
    boxes: list[Box] = Field(default_factory=list, description="Tick boxes on this page.")
    regions: list[Region] = Field(default_factory=list, description="Written-answer regions.")


class PaperLayout(_Model):
    """One student's (or anonymous version's) exam paper."""

    id: str = Field(description="Student id, or the version letter.")
    variant: str = Field(description="The variant code printed in the footer.")
    anonymous: bool = Field(description="An anonymous version: the student ticks their id.")
    pages: list[PageLayout] = Field(description="Every page, in order.")


class ExamLayout(_Model):
    """The whole layout.json file."""

    exam: str = Field(description="The exam's id, printed in every page's code.")
    page_width: float = Field(description="Page width in points (A4: 595.276).")
    page_height: float = Field(description="Page height in points (A4: 841.89).")
    marks: list[Rect] = Field(
        description="The four corner marks: top-left, top-right, "
        "bottom-left, bottom-right (filled squares)."
    )
    code: Rect = Field(description="Where each page's QR code is printed.")
    id_digits: int = Field(description="Columns of the student-id grid on anonymous covers.")
    papers: list[PaperLayout] = Field(description="Every exam paper built.")


def code_text(exam: str, who: str, anonymous: bool, page: int) -> str:
    """The text of a page's code."""
    return f"{CODE_PREFIX}:{exam}:{'v' if anonymous else 's'}:{who}:{page}"


class PageCode(_Model):
    """A page's code, read back."""

    exam: str
    id: str
    anonymous: bool
    page: int


def parse_code(text: str) -> PageCode | None:
    """A code's fields, or None when the text is not an mmexam page code."""
    head = text.split(":", 3)
    if len(head) != 4 or head[0] != CODE_PREFIX or head[2] not in ("s", "v"):
        return None
    who, _, page = head[3].rpartition(":")
    if not who or not page.isdigit():
        return None
    return PageCode(exam=head[1], id=who, anonymous=head[2] == "v", page=int(page))
