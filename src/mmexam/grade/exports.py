"""`mmexam grade export --to LMS`: grades.csv in each LMS's gradebook import format.

The export reads what the TA signs off: `grades.csv` (after review), and the
roster the run recorded in `run.json` (with the LMS's own ids and columns).
Each row of the export is one row of grades.csv; the score is the total plus
the bonus, the assignment's points are the exam's total points, and a student
with no submission (or no paper) gets an empty cell, never a 0. Every layout
follows the columns of that system's documented import:

- **canvas**: `Student, ID, SIS User ID, SIS Login ID, Section, <assignment>`,
  then a "Points Possible" row, as Canvas's own gradebook export writes it;
  Canvas matches a row by `ID` (its user id, from a Canvas roster), else by
  `SIS User ID` / `SIS Login ID` ("How do I import grades in the Gradebook?",
  Canvas Instructor Guide). A column without an "(id)" creates the assignment.
- **moodle**: with a Moodle grading worksheet as the roster, the worksheet
  itself (`Identifier, Full name, Email address, Status, Grade, Maximum Grade,
  Grade can be changed, Last modified (submission), Last modified (grade),
  Feedback comments`), for the assignment's "Upload grading worksheet"
  (docs.moodle.org, Assignment settings, offline grading worksheet); with any
  other roster, a gradebook import CSV (`ID number, Full name, Email address,
  <assignment>`) for "Import grades: CSV file", mapping `ID number` to the
  user's ID number (docs.moodle.org, Grade import).
- **blackboard**: `Last Name, First Name, Username, Student ID,
  <assignment> [Total Pts: N Score]` for Grade Center "Upload", which matches
  by `Username` and creates a column whose header has no `|id`
  (Blackboard Learn help, "Upload grades from external sources").
- **gradescope**: Gradescope imports no scores from a CSV into an
  assignment (scores go in through its autograder: `--to
  gradescope-autograder`, or each student's results.json); this writes the
  columns of Gradescope's own "Download Grades" (`First Name, Last Name, SID,
  Email, Total Score, Max Points, Status`) for comparing and archiving.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.csvcells import Cell, csv_text, read_cell
from mmexam.errors import GradeError
from mmexam.grade.results import RunInfo
from mmexam.roster import RosterEntry

TARGETS = ("canvas", "moodle", "blackboard", "gradescope")


@dataclass(frozen=True)
class GradeRow:
    """One row of grades.csv, as the exports need it."""

    id: str
    name: str
    score: float | None  # total + bonus; None: nothing to grade (status says why)
    pending: int
    status: str


@dataclass
class ExportResult:
    """What `export_grades` wrote."""

    path: Path
    target: str
    rows: int
    notes: list[str] = field(default_factory=list)


def read_grades(grades_dir: Path) -> tuple[RunInfo, list[GradeRow]]:
    """run.json and grades.csv of a whole grading run; a GradeError saying how to get them."""
    info_path, csv_path = grades_dir / "run.json", grades_dir / "grades.csv"
    try:
        info = RunInfo.model_validate_json(info_path.read_text(encoding="utf-8"))
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, ValueError):
        raise GradeError(
            f"{grades_dir}: no run.json and grades.csv of a whole run — run `mmexam grade "
            "SUBMISSIONS --out DIR` (or `mmexam grade merge`) first and pass its --out folder"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    total = next((c for c in reader.fieldnames or [] if c.startswith("total")), None)
    if total is None or "id" not in (reader.fieldnames or []):
        raise GradeError(f"{csv_path}:1: not a grades.csv written by mmexam (no id or total)")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            score = _score(row[total], row.get("bonus", ""))
        except ValueError:
            raise GradeError(
                f"{csv_path}:{line}: {row[total]!r} is not a number — fix the cell or grade again"
            ) from None
        pending = int(row.get("pending") or 0)
        name = read_cell(row.get("name") or "")
        rows.append(GradeRow(read_cell(row["id"]), name, score, pending, row.get("status", "")))
    return info, rows


def _score(total: str, bonus: str) -> float | None:
    if not total.strip():
        return None
    return float(total) + (float(bonus) if bonus.strip() else 0.0)


def export_grades(
    grades_dir: Path, target: str, out: Path | None = None, assignment: str | None = None
) -> tuple[ExportResult, str]:
    """The export's file path and its text, for `target` (see the module docstring)."""
    if target not in TARGETS:
        raise GradeError(f"--to {target}: choose one of {', '.join(TARGETS)}")
    info, rows = read_grades(grades_dir)
    roster = {e.id: e for e in info.roster.entries} if info.roster else {}
    title = assignment or info.title
    writer = WRITERS[target]
    layout = info.roster.layout if info.roster else ""
    table, notes = writer(rows, roster, title, info.total_points, layout)
    pending = [r.id for r in rows if r.pending]
    if pending:
        notes.append(
            f"{len(pending)} student(s) still have answers pending review ({', '.join(pending[:5])}"
            f"{', …' if len(pending) > 5 else ''}); their score counts graded points only"
        )
    path = out or grades_dir / f"{target}.csv"
    return ExportResult(path, target, len(rows), notes), csv_text(table)


Writer = Callable[
    [list[GradeRow], dict[str, RosterEntry], str, float, str], tuple[list[list[Cell]], list[str]]
]


def _cell(score: float | None) -> Cell:
    return "" if score is None else round(score, 4)


def _split(entry: RosterEntry | None, name: str) -> tuple[str, str]:
    """(last, first) from the roster's columns, else from the name ('Last, First' or 'First Last')."""
    cols = entry.columns if entry else {}
    for last, first in (("Last Name", "First Name"), ("Last name", "First name")):
        if cols.get(last) or cols.get(first):
            return cols.get(last, ""), cols.get(first, "")
    if "," in name:
        last, _, first = name.partition(",")
        return last.strip(), first.strip()
    first, _, last = name.rpartition(" ")
    return (last, first) if first else (name, "")


def canvas(
    rows: list[GradeRow], roster: dict[str, RosterEntry], title: str, points: float, layout: str
) -> tuple[list[list[Cell]], list[str]]:
    table: list[list[Cell]] = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title]]
    table.append(["Points Possible", "", "", "", "", points])
    notes = []
    for row in rows:
        entry = roster.get(row.id)
        cols = entry.columns if entry else {}
        canvas_id = cols.get("ID", "") if layout == "canvas" else ""
        name = cols.get("Student") or row.name
        table.append([name, canvas_id, row.id, cols.get("SIS Login ID", ""),
                      cols.get("Section", ""), _cell(row.score)])  # fmt: skip
    if layout != "canvas":
        notes.append("the roster is not a Canvas export: rows carry no Canvas ID, so Canvas "
                     "matches them by SIS User ID (grade with --roster <Canvas export> to add it)")  # fmt: skip
    return table, notes


WORKSHEET = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
             "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
             "Feedback comments"]  # fmt: skip


def moodle(
    rows: list[GradeRow], roster: dict[str, RosterEntry], title: str, points: float, layout: str
) -> tuple[list[list[Cell]], list[str]]:
    if layout == "moodle-worksheet":
        table: list[list[Cell]] = [list(WORKSHEET)]
        for row in rows:
            entry = roster.get(row.id)
            cols = entry.columns if entry else {}
            table.append([cols.get("Identifier", ""), cols.get("Full name") or row.name,
                          cols.get("Email address", ""), row.status, _cell(row.score), points,
                          "Yes", "", "", ""])  # fmt: skip
        return table, []
    table = [["ID number", "Full name", "Email address", title]]
    for row in rows:
        entry = roster.get(row.id)
        cols = entry.columns if entry else {}
        email = cols.get("Email address") or cols.get("Email") or ""
        table.append([row.id, row.name, email, _cell(row.score)])
    note = (f"Moodle gradebook import: map 'ID number' to the user's ID number and '{title}' "
            f"to the grade item (out of {points:g}); grade with --roster <grading worksheet> "
            "to get the worksheet the assignment uploads instead")  # fmt: skip
    return table, [note]


def blackboard(
    rows: list[GradeRow], roster: dict[str, RosterEntry], title: str, points: float, layout: str
) -> tuple[list[list[Cell]], list[str]]:
    table: list[list[Cell]] = [
        [
            "Last Name",
            "First Name",
            "Username",
            "Student ID",
            f"{title} [Total Pts: {points:g} Score]",
        ]
    ]
    for row in rows:
        entry = roster.get(row.id)
        cols = entry.columns if entry else {}
        last, first = _split(entry, row.name)
        username = cols.get("Username") or row.id
        table.append([last, first, username, cols.get("Student ID") or row.id, _cell(row.score)])
    notes = []
    if layout != "blackboard":
        notes.append(
            "the roster is not a Blackboard export: Username is the student id — check it is "
            "the Blackboard username, or grade with --roster <Grade Center export>"
        )
    return table, notes


def gradescope(
    rows: list[GradeRow], roster: dict[str, RosterEntry], title: str, points: float, layout: str
) -> tuple[list[list[Cell]], list[str]]:
    table: list[list[Cell]] = [
        ["First Name", "Last Name", "SID", "Email", "Total Score", "Max Points", "Status"]
    ]
    for row in rows:
        entry = roster.get(row.id)
        cols = entry.columns if entry else {}
        last, first = _split(entry, row.name)
        status = "Graded" if row.score is not None else "Missing"
        table.append([first, last, row.id, cols.get("Email", ""), _cell(row.score), points, status])
    note = ("Gradescope has no CSV score import for assignments: this file has the columns of "
            "its 'Download Grades'; to put the code scores into Gradescope use "
            "`mmexam grade export --to gradescope-autograder`")  # fmt: skip
    return table, [note]


WRITERS: dict[str, Writer] = {
    "canvas": canvas,
    "moodle": moodle,
    "blackboard": blackboard,
    "gradescope": gradescope,
}
