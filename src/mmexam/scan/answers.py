"""From box decisions to an answers.yaml, and the doubts a person must settle first.

Pure: a `PaperScan` in, answers and doubts out. A ticked box that was then
filled in (cancelled) does not count; one ambiguous box, an unreadable id
digit, a page read on a doubtful fit or a missing page makes its question a
doubt. A paper with a doubt gets no answers.yaml until a person settles it
(`mmexam scan resolve`), so grading never scores a guess. Handwriting is never
read by the machine: a written answer (short answer, open question, problem
part, code) is in answers.yaml as the pictures of it, `2.1: {on_paper:
[crops/2.1.png]}`, which grading sends to a TA; a number stays such a picture
until a person types it (grading shows it as not typed in yet, with no points).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from mmexam.fmt import LETTERS
from mmexam.grade.submissions import ON_PAPER
from mmexam.scan.model import PaperScan

WRITTEN = ("short_answer", "open", "numeric", "code")


@dataclass(frozen=True)
class Doubt:
    """A question to a person: one row of resolve.csv and of the report."""

    folder: str
    what: str  # "box", "id", "page", "numeric", "duplicate"
    number: str  # printed number ("id" for the grid), or the page number for "page"
    index: int  # option position / digit; column for "id"; -1 when none
    page: int
    darkness: float | None
    decision: str  # what the machine measured
    picture: str  # a zoom or crop, relative to scans/
    blocking: bool  # whether answers.yaml waits for it
    column: int = 0

    @property
    def label(self) -> str:
        if self.what == "box":
            return f"{self.number} ({LETTERS[self.index]})"
        if self.what == "id":
            return f"student id, column {self.column + 1}, digit {self.index}"
        if self.what == "page":
            return f"page {self.page} not scanned"
        return self.number


def _on_paper(scan: PaperScan, number: str) -> dict[str, list[str]]:
    """An answer written on paper, as grading reads it: its crops, in page order."""
    return {ON_PAPER: list(scan.crops[number])}


def student_id(scan: PaperScan) -> tuple[str | None, list[Doubt]]:
    """The id ticked on an anonymous cover: one digit per column, from the left."""
    grid = [b for b in scan.boxes if b.number == "id"]
    if not grid:
        return None, []
    columns: dict[int, list] = {}
    for box in grid:
        columns.setdefault(box.column, []).append(box)
    digits, doubts, ended = [], [], False
    for column in sorted(columns):
        boxes = columns[column]
        unsure = [b for b in boxes if b.final == "ambiguous"]
        ticked = [b for b in boxes if b.final == "ticked"]
        for b in unsure:
            doubts.append(_box_doubt(scan, b, "id"))
        if unsure:
            continue
        if len(ticked) > 1:
            for b in ticked:
                doubts.append(_box_doubt(scan, b, "id"))
        elif len(ticked) == 1:
            if ended:  # a digit after an empty column: which is right is a person's call
                doubts.append(_box_doubt(scan, ticked[0], "id"))
            digits.append(str(ticked[0].index))
        else:
            ended = True
    if doubts or not digits:
        return None, doubts
    return "".join(digits), []


def _box_doubt(scan: PaperScan, box, what: str = "box") -> Doubt:
    return Doubt(
        folder=scan.folder,
        what=what,
        number=box.number,
        index=box.index,
        page=box.page,
        darkness=box.darkness,
        decision=box.decision,
        picture=box.zoom or "",
        blocking=True,
        column=box.column,
    )


def assemble(scan: PaperScan) -> tuple[dict[str, object], list[Doubt]]:
    """A paper's answers (as answers.yaml holds them) and its doubts."""
    doubts: list[Doubt] = []
    missing = [n for n in scan.missing() if n not in scan.accepted_missing]
    for page in missing:
        doubts.append(Doubt(scan.folder, "page", str(page), -1, page, None, "missing", "", True))
    answers: dict[str, object] = {}
    if scan.anonymous:
        answers["variant"] = scan.variant
    by_number: dict[str, list] = {}
    for box in scan.boxes:
        if box.number != "id":
            by_number.setdefault(box.number, []).append(box)
    for item in scan.items:
        if item.kind in ("mcq", "multi_select"):
            boxes = sorted(by_number.get(item.number, []), key=lambda b: b.index)
            unsure = [b for b in boxes if b.final == "ambiguous"]
            doubts += [_box_doubt(scan, b) for b in unsure]
            ticked = [LETTERS[b.index] for b in boxes if b.final == "ticked"]
            if unsure or not boxes or not ticked:
                continue
            answers[item.number] = ticked[0] if item.kind == "mcq" and len(ticked) == 1 else ticked
        elif item.kind in WRITTEN:
            if item.number in scan.typed:
                answers[item.number] = scan.typed[item.number]
                continue
            if item.number not in scan.crops:
                continue  # on a page not scanned: that page's doubt covers it
            answers[item.number] = _on_paper(scan, item.number)
            if item.kind == "numeric":
                crop = scan.crops[item.number][-1]  # the answer field, placed last
                doubts.append(
                    Doubt(scan.folder, "numeric", item.number, -1, 0, None, "", crop, False)
                )
    return answers, doubts


def answers_yaml(scan: PaperScan, answers: dict[str, object]) -> str:
    """answers.yaml as `mmexam grade` reads it: printed numbers, letters of this paper."""
    who = scan.student or scan.folder
    head = f"# {who}: read from scanned pages by `mmexam scan` (see scan.json)\n"
    body = yaml.safe_dump(answers, sort_keys=False, allow_unicode=True, width=100)
    return head + body
