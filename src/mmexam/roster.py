"""The class roster: mmexam's own `id,name` CSV, or a roster an LMS exported.

Build and grade share this module (a roster names the papers and the rows of
grades.csv), and serve reads the same file for extra time. Every student id
names a folder (build/students/<id>/) and a submission, so it must be a short,
safe token. Every bad row is an error naming its line.

The layouts recognised by their header, each with the column that holds the
student id, the name, and the LMS's own id kept for matching its downloads
and for its gradebook import:

| layout | id | name | LMS id kept |
| --- | --- | --- | --- |
| mmexam | `id` | `name` | — |
| Canvas gradebook export | `SIS User ID` (else `SIS Login ID`, else `ID`) | `Student` | `ID` (Canvas user id) |
| Moodle grading worksheet | `ID number` (else `Email address`) | `Full name` | `Identifier` ("Participant N") |
| Moodle participants/grades export | `ID number` (else `Email address`) | `First name` + `Last name` | — |
| Blackboard Grade Center export | `Student ID` (else `Username`) | `First Name` + `Last Name` | `Username` |
| Gradescope roster or grades | `SID` (else `Email`) | `Name` / `Full Name` / first + last | — |

`--id-column` and `--name-column` override the choice; a column that is not
in the header is an error listing the header. Canvas's "Points Possible" row
and its "Test Student" are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mmexam.errors import BuildError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

LMS_COLUMNS = {
    "canvas": ("Student", "ID", "SIS User ID", "SIS Login ID", "Section"),
    "moodle-worksheet": ("Identifier", "Full name", "Email address"),
    "moodle": ("First name", "Last name", "ID number", "Email address"),
    "blackboard": ("Last Name", "First Name", "Username", "Student ID"),
    "gradescope": ("First Name", "Last Name", "Name", "Full Name", "SID", "Email"),
}
"""The columns of each layout kept with every student (for the LMS's gradebook import)."""


class RosterEntry(BaseModel):
    """One student of the roster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Student id: names the paper, the submission, the grades row.")
    name: str = Field(description="The student's name as the roster writes it.")
    line: int = Field(description="Line of the roster file the student is on.")
    lms_id: str | None = Field(
        default=None,
        description="The LMS's own id of the student (Canvas user id, Moodle participant "
        "number, Blackboard username), used to match its downloads.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="The LMS columns of the roster row, kept for that LMS's gradebook import.",
    )


class Roster(BaseModel):
    """A roster file, read: which layout, which columns, and every student."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="The roster file as given.")
    sha256: str = Field(description="sha256 of the file's bytes.")
    layout: str = Field(description="mmexam, canvas, moodle-worksheet, moodle, blackboard, ...")
    id_column: str = Field(description="The column the student ids came from.")
    name_column: str = Field(description="The column(s) the names came from.")
    entries: list[RosterEntry] = Field(description="The students, in roster order.")
    skipped: list[str] = Field(
        default_factory=list, description="Rows left out on purpose, with why."
    )


@dataclass(frozen=True)
class _Layout:
    name: str
    id_columns: tuple[str, ...]
    name_columns: tuple[str, ...]  # one column, or first + last
    lms_id: str | None = None
    alternatives: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


LAYOUTS = (
    # (the columns that identify the layout, the layout)
    (("student", "sis user id"), _Layout("canvas", ("sis user id", "sis login id", "id"),
                                         ("student",), "id")),
    (("identifier", "full name"), _Layout("moodle-worksheet", ("id number", "email address"),
                                          ("full name",), "identifier")),
    (("first name", "last name", "id number"), _Layout("moodle", ("id number", "email address"),
                                                       ("first name", "last name"))),
    (("last name", "first name", "username"), _Layout("blackboard", ("student id", "username"),
                                                      ("first name", "last name"), "username")),
    (("sid",), _Layout("gradescope", ("sid", "email"), ("name",),
                       alternatives=(("full name",), ("first name", "last name")))),
)  # fmt: skip


def parse_roster(
    text: str,
    source: str = "roster.csv",
    *,
    id_column: str | None = None,
    name_column: str | None = None,
) -> list[RosterEntry]:
    """Parse roster CSV text; raise `BuildError` at the first bad line (`source:LINE: ...`)."""
    return parse_roster_file(text, source, id_column=id_column, name_column=name_column).entries


def parse_roster_file(
    text: str,
    source: str = "roster.csv",
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    sha256: str = "",
) -> Roster:
    """Parse a roster of any recognised layout into a `Roster`."""
    delimiter = _delimiter(text)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    lines = _line_numbers(text, delimiter)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BuildError(f"{source}:1: the roster is empty — the first line must be 'id,name'")
    raw_header = [cell.strip() for cell in rows[0]]
    header = [h.lower() for h in raw_header]
    layout = _layout(header, source, id_column, name_column)
    id_col = _pick(header, layout.id_columns, rows[1:])
    name_cols = [header.index(c) for c in layout.name_columns]
    lms_col = header.index(layout.lms_id) if layout.lms_id in header else None
    keep = [i for i, h in enumerate(raw_header) if h in LMS_COLUMNS.get(layout.name, ())]
    entries: list[RosterEntry] = []
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for row, line in zip(rows[1:], lines[1:]):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise BuildError(
                f"{source}:{line}: expected {len(header)} columns ({', '.join(header)}), "
                f"got {len(row)} — quote a name that contains a comma"
            )
        why = _skip(layout.name, row, name_cols, id_col)
        if why:
            skipped.append(f"{source}:{line}: {why}")
            continue
        student_id = row[id_col].strip()
        name = " ".join(row[c].strip() for c in name_cols if row[c].strip())
        _check_row(source, line, student_id, name, seen)
        seen[student_id] = line
        lms_id = _lms_id(layout.name, row[lms_col]) if lms_col is not None else None
        columns = {raw_header[i]: row[i].strip() for i in keep}
        entries.append(RosterEntry(id=student_id, name=name, line=line, lms_id=lms_id,
                                   columns=columns))  # fmt: skip
    if not entries:
        raise BuildError(f"{source}: the roster has a header but no students")
    return Roster(
        source=source,
        sha256=sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest(),
        layout=layout.name,
        id_column=raw_header[id_col],
        name_column=" + ".join(raw_header[c] for c in name_cols),
        entries=entries,
        skipped=skipped,
    )


def _delimiter(text: str) -> str:
    """Comma, or the tab or semicolon an LMS or a spreadsheet wrote instead."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _layout(
    header: list[str], source: str, id_column: str | None, name_column: str | None
) -> _Layout:
    """The layout the header shows, with the --id-column / --name-column overrides."""
    found = _Layout("mmexam", ("id",), ("name",))
    for marks, layout in LAYOUTS:
        if all(m in header for m in marks):
            found = layout
            break
    for names in (found.name_columns, *found.alternatives):
        if all(n in header for n in names):
            found = replace(found, name_columns=names)
            break
    if id_column is not None:
        found = replace(found, id_columns=(_column(header, id_column, source, "--id-column"),))
    if name_column is not None:
        column = _column(header, name_column, source, "--name-column")
        found = replace(found, name_columns=(column,))
    missing = []
    if not any(c in header for c in found.id_columns):
        missing.append("id")
    if not all(c in header for c in found.name_columns):
        missing.append("name")
    if missing:
        raise BuildError(
            f"{source}:1: the header has no {' and no '.join(repr(m) for m in missing)} column "
            f"(found {', '.join(repr(h) for h in header)}) — the first line must name 'id' and "
            "'name', or pass --id-column and --name-column"
        )
    return found


def _column(header: list[str], wanted: str, source: str, option: str) -> str:
    if wanted.strip().lower() not in header:
        raise BuildError(
            f"{source}:1: {option} {wanted!r} is not a column of the roster "
            f"(found {', '.join(repr(h) for h in header)})"
        )
    return wanted.strip().lower()


def _pick(header: list[str], choices: tuple[str, ...], rows: list[list[str]]) -> int:
    """The first of `choices` in the header that holds any value (an LMS leaves SIS ids empty
    where the institution has none)."""
    present = [header.index(c) for c in choices if c in header]
    for index in present:
        if any(index < len(r) and r[index].strip() for r in rows):
            return index
    return present[0]


def _skip(layout: str, row: list[str], name_cols: list[int], id_col: int) -> str | None:
    """Why a row of an LMS export is not a student, or None."""
    if layout != "canvas":
        return None
    name = row[name_cols[0]].strip()
    if name.lower() in ("points possible", "student, test", "test student"):
        return f"{name!r} is Canvas's own row, not a student; skipped"
    if not row[id_col].strip() and name.lower().startswith("test"):
        return f"{name!r} has no id (Canvas's test student); skipped"
    return None


def _lms_id(layout: str, value: str) -> str | None:
    """The LMS's id as its downloads write it: 'Participant 123' -> '123'."""
    value = value.strip()
    if layout == "moodle-worksheet":
        digits = re.sub(r"\D", "", value)
        return digits or None
    return value or None


def _check_row(source: str, line: int, student_id: str, name: str, seen: dict[str, int]) -> None:
    if not student_id:
        raise BuildError(f"{source}:{line}: the student id is empty")
    if not SAFE_ID.match(student_id):
        raise BuildError(
            f"{source}:{line}: student id {student_id!r} is not a safe folder name — "
            "use letters, digits, '.', '_' and '-' (at most 64), or choose another "
            "column with --id-column"
        )
    if not name:
        raise BuildError(f"{source}:{line}: student {student_id} has no name")
    if student_id in seen:
        raise BuildError(
            f"{source}:{line}: student id {student_id} is already on line {seen[student_id]}"
        )


def load_roster(
    path: Path, *, id_column: str | None = None, name_column: str | None = None
) -> Roster:
    """Read a roster file of any recognised layout; a missing or undecodable file is a
    `BuildError` too. UTF-8 (with or without BOM) and the UTF-16 Blackboard writes."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BuildError(f"{path}: cannot read the roster ({error.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            raise BuildError(
                f"{path}:{line}: the roster is not UTF-8 — save it as UTF-8 CSV"
            ) from None
    try:
        return parse_roster_file(
            text,
            str(path),
            id_column=id_column,
            name_column=name_column,
            sha256=hashlib.sha256(data).hexdigest(),
        )
    except csv.Error as error:
        raise BuildError(f"{path}: the roster is not valid CSV ({error})") from None


def read_roster(
    path: Path, *, id_column: str | None = None, name_column: str | None = None
) -> list[RosterEntry]:
    """The students of a roster file (see `load_roster`)."""
    return load_roster(path, id_column=id_column, name_column=name_column).entries


def _line_numbers(text: str, delimiter: str = ",") -> list[int]:
    """The 1-based line on which each CSV record starts (records may span lines)."""
    starts = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    line = 1
    while True:
        start = line
        try:
            next(reader)
        except StopIteration:
            break
        starts.append(start)
        line = reader.line_num + 1
    return starts
