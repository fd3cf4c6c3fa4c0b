"""What a scan found, as saved in scans/<id>/scan.json: read once, settled many times.

`mmexam scan` measures every box once and saves it here; `mmexam scan resolve`
applies a person's decisions to these records and writes answers.yaml again,
without the scans.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["ticked", "empty", "ambiguous", "cancelled"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoxReading(_Model):
    """One tick box as read."""

    number: str = Field(description='Printed question number; "id" for the student-id grid.')
    index: int = Field(description="Option position as printed (0 = a); on the grid, the digit.")
    column: int = Field(default=0, description="On the student-id grid, the column.")
    page: int = Field(description="The page it is printed on.")
    darkness: float | None = Field(description="Share of ink inside the box (None: off the scan).")
    decision: Decision = Field(description="As measured against the thresholds.")
    settled: Decision | None = Field(default=None, description="A person's decision, if any.")
    zoom: str | None = Field(default=None, description="Zoomed picture (ambiguous boxes).")

    @property
    def final(self) -> Decision:
        return self.settled or self.decision


class PageSeen(_Model):
    """One page of a paper as scanned."""

    page: int
    source: str = Field(description="File (and page) it came from.")
    marks_found: int = Field(description="Corner marks found (of 4).")
    trusted: bool = Field(description="Whether the page-to-scan fit can be trusted.")
    note: str = Field(default="", description="Why not, when it cannot.")


class ItemInfo(_Model):
    """A gradable item of the paper, as variants.json has it."""

    number: str
    kind: str
    options: int = 0


class PaperScan(_Model):
    """Everything scanned of one paper, and what a person settled."""

    folder: str = Field(description="Folder under scans/: the student id (or a stand-in).")
    student: str | None = Field(description="The student id, None while unknown.")
    variant: str
    anonymous: bool
    paper: str = Field(description="The paper's id in layout.json (student id or version).")
    pages: int = Field(description="How many pages the paper has.")
    seen: list[PageSeen] = Field(default_factory=list)
    boxes: list[BoxReading] = Field(default_factory=list)
    crops: dict[str, list[str]] = Field(
        default_factory=dict, description="Written-answer crops by printed number (paths)."
    )
    items: list[ItemInfo] = Field(default_factory=list)
    typed: dict[str, str] = Field(
        default_factory=dict, description="Numeric answers typed in by a person, by number."
    )
    accepted_missing: list[int] = Field(
        default_factory=list, description="Missing pages a person accepted as blank."
    )
    duplicates: list[str] = Field(default_factory=list, description="Pages scanned twice.")

    def missing(self) -> list[int]:
        have = {s.page for s in self.seen}
        return [n for n in range(1, self.pages + 1) if n not in have]


@dataclass(frozen=True)
class Problem:
    """A page (or file) that could not be used: one line of the report."""

    source: str
    message: str
    thumbnail: bytes = b""

    def to_json(self) -> dict[str, str]:
        return {
            "source": self.source,
            "message": self.message,
            "thumbnail": base64.b64encode(self.thumbnail).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Problem:
        return cls(data["source"], data["message"], base64.b64decode(data.get("thumbnail", "")))
