"""The TA's review loop: one CSV sheet per question that needs a person.

Every short answer and open (bonus) answer goes to `manual/<question>.csv`
(`<question>` is the bank id, plus `.a`, `.b`, ... for a problem's part), one
row per student: their answer, the rubric-keyword suggestion and an empty
`points` column. Rows are grouped: answers that are the same, or nearly the
same, share a `group` number and sit together. A TA fills `points` (and may
add a `comment`, shown in the student's feedback) and runs `mmexam grade`
again: filled points replace the suggestion; empty rows stay *pending*.

Answers that a spreadsheet would run as a formula (starting with =, +, -,
@) are written with a leading apostrophe, so opening a sheet is safe.

Points typed on one row also apply to the rows of its group whose answer is
identical once case, spacing and punctuation are ignored, so a repeated
answer is graded once. Near-identical answers share the group to be read
together but are graded row by row. An answer written on paper (its `answer`
cell says which scanned crops to look at) is never identical to another: it
is a group of its own, graded on its row.

A re-run rewrites each sheet (new students appear, groups are refreshed) and
keeps every filled `points` and `comment`, also for students no longer
graded in this run: nothing a TA typed is lost.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.csvcells import Cell, csv_text, read_cell
from mmexam.errors import GradeError
from mmexam.files import atomic_write
from mmexam.fmt import fmt_points
from mmexam.grade.results import ItemResult, StudentResult

COLUMNS = [
    "group",
    "student",
    "number",
    "answer",
    "suggested",
    "matched",
    "max_points",
    "points",
    "comment",
]
SIMILARITY = 0.75
"""Jaccard similarity of character trigrams above which two answers share a group."""


@dataclass(frozen=True)
class Review:
    """What a TA wrote on one row."""

    points: float | None
    comment: str | None
    answer: str
    line: int


@dataclass
class Sheet:
    """One review sheet: rows by student id."""

    key: str
    path: Path
    rows: dict[str, Review] = field(default_factory=dict)


def normalise_answer(text: str) -> str:
    """Lower case, punctuation dropped, spacing collapsed: what 'identical' means here."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def sheet_answer(item: ItemResult) -> str:
    """The `answer` cell: the student's text, or the crops of an answer written on paper."""
    if item.scanned:
        return "(on paper: " + ", ".join(item.crops) + ")"
    return item.answer or ""


def sheet_path(manual: Path, key: str) -> Path:
    return manual / f"{key}.csv"


# ---------------------------------------------------------------- reading


def read_sheets(manual: Path, max_points: dict[str, float] | None = None) -> dict[str, Sheet]:
    """Read every manual/*.csv. A malformed points cell is a `GradeError` naming file:line."""
    sheets: dict[str, Sheet] = {}
    if not manual.is_dir():
        return sheets
    for path in sorted(manual.glob("*.csv")):
        key = path.stem
        sheets[key] = read_sheet(path, key, (max_points or {}).get(key))
    return sheets


def read_sheet(path: Path, key: str, max_points: float | None = None) -> Sheet:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise GradeError(
            f"{path}: not UTF-8 (byte offset {error.start}) — save the sheet as UTF-8 CSV"
        ) from None
    except OSError as error:
        raise GradeError(f"{path}: cannot be read ({error.strerror})") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "student" not in header or "points" not in header:
        raise GradeError(
            f"{path}:1: a review sheet needs the columns 'student' and 'points' "
            f"(found: {', '.join(header) or 'none'}) — restore the header row"
        )
    reader.fieldnames = header
    sheet = Sheet(key, path)
    last = reader.line_num
    for row in reader:
        line, last = last + 1, reader.line_num  # the row's first line (answers span lines)
        student = (row.get("student") or "").strip()
        if not student:
            continue
        raw = (row.get("points") or "").strip()
        points = None
        if raw:
            try:
                points = float(raw.replace(",", "."))
            except ValueError:
                raise GradeError(
                    f"{path}:{line}: points {raw!r} for {student} is not a number — "
                    "write e.g. 3 or 2.5, or leave it empty"
                ) from None
            limit = max_points
            if limit is None:
                try:
                    limit = float((row.get("max_points") or "").strip())
                except ValueError:
                    limit = None
            if points < 0 or (limit is not None and points > limit + 1e-9):
                bound = (
                    f"between 0 and {fmt_points(limit)}" if limit is not None else "not negative"
                )
                raise GradeError(f"{path}:{line}: points {raw} for {student} must be {bound}")
        comment = read_cell((row.get("comment") or "").strip()) or None
        if student in sheet.rows and sheet.rows[student].points is not None and points is None:
            continue
        sheet.rows[student] = Review(points, comment, read_cell(row.get("answer") or ""), line)
    return sheet


# ---------------------------------------------------------------- grouping


def _trigrams(normalised: str) -> frozenset[str]:
    padded = f" {normalised} "
    return frozenset(padded[i : i + 3] for i in range(max(1, len(padded) - 2)))


def group_answers(answers: dict[str, str]) -> list[list[str]]:
    """Student ids grouped so identical and near-identical answers sit together.

    Identical (normalised) answers always share a group; a distinct answer
    joins the first group whose representative shares at least `SIMILARITY`
    of its character trigrams (Jaccard), so a changed word or typo still
    groups. Groups come largest first; the order is
    deterministic for the same answers.
    """
    by_text: dict[str, list[str]] = defaultdict(list)
    for student in sorted(answers):
        by_text[normalise_answer(answers[student])].append(student)
    distinct = sorted(by_text, key=lambda t: (-len(by_text[t]), t))
    groups: list[tuple[frozenset[str], list[str]]] = []
    for text in distinct:
        words = _trigrams(text)
        home = None
        for rep, members in groups:
            small, large = sorted((len(words), len(rep)))
            if large == 0 or small < SIMILARITY * large:
                continue
            if len(words & rep) / len(words | rep) >= SIMILARITY:
                home = members
                break
        if home is None:
            groups.append((words, [text]))
        else:
            home.append(text)
    ordered = []
    for _, texts in groups:
        ids = [
            student
            for text in sorted(texts, key=lambda t: (-len(by_text[t]), t))
            for student in by_text[text]
        ]
        ordered.append(ids)
    ordered.sort(key=lambda ids: -len(ids))
    return ordered


# ---------------------------------------------------------------- overlay


def review_items(results: list[StudentResult]) -> dict[str, list[tuple[StudentResult, ItemResult]]]:
    """Items that need a person, by review sheet key."""
    found: dict[str, list[tuple[StudentResult, ItemResult]]] = defaultdict(list)
    for result in results:
        for item in result.items:
            if item.status in ("review", "manual"):
                found[item.review_key].append((result, item))
    return dict(found)


def apply_reviews(
    results: list[StudentResult], sheets: dict[str, Sheet]
) -> tuple[list[StudentResult], list[str]]:
    """Lay the TAs' points over the automatic results; unreviewed items stay pending."""
    notes: list[str] = []
    resolved: dict[tuple[str, str], Review] = {}
    for key, pairs in review_items(results).items():
        sheet = sheets.get(key)
        if sheet is None:
            continue
        answers = {r.id: item.answer or "" for r, item in pairs}
        by_norm: dict[str | tuple[str], list[str]] = defaultdict(list)
        for r, item in pairs:  # an answer on paper is identical to no other
            by_norm[(r.id,) if item.scanned else normalise_answer(answers[r.id])].append(r.id)
        for norm, students in by_norm.items():
            filled = {
                s: sheet.rows[s]
                for s in students
                if s in sheet.rows and sheet.rows[s].points is not None
            }
            values = {r.points for r in filled.values()}
            for student in students:
                own = sheet.rows.get(student)
                if own is not None and own.points is not None:
                    resolved[(student, key)] = own
                elif len(values) == 1:
                    source = filled[min(filled)]
                    resolved[(student, key)] = Review(
                        source.points,
                        own.comment if own else source.comment,
                        answers[student],
                        source.line,
                    )
                elif len(values) > 1:
                    notes.append(
                        f"{sheet.path}: {student} left empty, and the identical answers of "
                        f"{', '.join(sorted(filled))} got different points; still pending"
                    )
            for student in students:
                own = sheet.rows.get(student)
                if (
                    own is not None
                    and own.points is not None
                    and isinstance(norm, str)
                    and own.answer.strip()
                    and normalise_answer(own.answer) != norm
                ):
                    notes.append(
                        f"{sheet.path}:{own.line}: {student}'s answer changed since "
                        "it was reviewed; the reviewed points still apply — check it"
                    )
    merged = []
    for result in results:
        items = []
        for item in result.items:
            review = resolved.get((result.id, item.review_key))
            if item.status in ("review", "manual") and review is not None:
                item = item.model_copy(
                    update={"points": review.points, "status": "manual", "comment": review.comment}
                )
            items.append(item)
        merged.append(result.model_copy(update={"items": items}))
    return merged, notes


# ---------------------------------------------------------------- writing


def render_sheet(
    key: str, pairs: list[tuple[StudentResult, ItemResult]], previous: Sheet | None
) -> str:
    """The CSV text of one sheet, grouped, keeping what the TA already filled."""
    answers = {r.id: sheet_answer(item) for r, item in pairs}
    items = {r.id: item for r, item in pairs}
    texts = {sid: text for sid, text in answers.items() if not items[sid].scanned}
    on_paper = [[sid] for sid in sorted(answers) if items[sid].scanned]
    rows: list[list[Cell]] = [list(COLUMNS)]
    for group, students in enumerate(group_answers(texts) + on_paper, start=1):
        for student in students:
            item = items[student]
            old = previous.rows.get(student) if previous else None
            rows.append(
                [
                    group,
                    student,
                    item.number,
                    answers[student],
                    "" if item.suggested is None else fmt_points(item.suggested),
                    "; ".join(item.matched),
                    fmt_points(item.max_points),
                    "" if old is None or old.points is None else fmt_points(old.points),
                    (old.comment or "") if old else "",
                ]
            )
    if previous:
        for student in sorted(previous.rows):
            old = previous.rows[student]
            if student in answers or (old.points is None and not old.comment):
                continue
            rows.append(
                [
                    "",
                    student,
                    "",
                    old.answer,
                    "",
                    "",
                    "",
                    "" if old.points is None else fmt_points(old.points),
                    old.comment or "",
                ]
            )
    return csv_text(rows)


def write_sheets(
    manual: Path, results: list[StudentResult], sheets: dict[str, Sheet]
) -> list[Path]:
    """Write (or refresh) one sheet per question that needs review."""
    written = []
    for key, pairs in sorted(review_items(results).items()):
        path = sheet_path(manual, key)
        text = render_sheet(key, sorted(pairs, key=lambda p: p[0].id), sheets.get(key))
        if not path.exists() or path.read_text(encoding="utf-8-sig") != text:
            atomic_write(path, text)
        written.append(path)
    return written
