"""The class roster: a CSV with `id` and `name` columns, one student per row.

Each student id names a folder (build/students/<id>/) and a submission, so it
must be a short, safe token. Every bad row is an error naming its line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from mmexam.errors import BuildError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class RosterEntry:
    id: str
    name: str
    line: int


def parse_roster(text: str, source: str = "roster.csv") -> list[RosterEntry]:
    """Parse roster CSV text; raise `BuildError` at the first bad line (`source:LINE: ...`)."""
    rows = list(csv.reader(io.StringIO(text)))
    lines = _line_numbers(text)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BuildError(f"{source}:1: the roster is empty — the first line must be 'id,name'")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [column for column in ("id", "name") if column not in header]
    if missing:
        raise BuildError(
            f"{source}:1: the header has no {' and no '.join(repr(m) for m in missing)} column "
            f"(found {', '.join(repr(h) for h in header)}) — the first line must name 'id' and 'name'"
        )
    id_col, name_col = header.index("id"), header.index("name")
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    for row, line in zip(rows[1:], lines[1:]):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise BuildError(
                f"{source}:{line}: expected {len(header)} columns ({', '.join(header)}), "
                f"got {len(row)} — quote a name that contains a comma"
            )
        student_id, name = row[id_col].strip(), row[name_col].strip()
        if not student_id:
            raise BuildError(f"{source}:{line}: the student id is empty")
        if not SAFE_ID.match(student_id):
            raise BuildError(
                f"{source}:{line}: student id {student_id!r} is not a safe folder name — "
                "use letters, digits, '.', '_' and '-' (at most 64)"
            )
        if not name:
            raise BuildError(f"{source}:{line}: student {student_id} has no name")
        if student_id in seen:
            raise BuildError(
                f"{source}:{line}: student id {student_id} is already on line {seen[student_id]}"
            )
        seen[student_id] = line
        entries.append(RosterEntry(student_id, name, line))
    if not entries:
        raise BuildError(f"{source}: the roster has a header but no students")
    return entries


def read_roster(path: Path) -> list[RosterEntry]:
    """Read a roster file; a missing or undecodable file is a `BuildError` too."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BuildError(f"{path}: cannot read the roster ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BuildError(f"{path}:{line}: the roster is not UTF-8 — save it as UTF-8 CSV") from None
    try:
        return parse_roster(text, str(path))
    except csv.Error as error:
        raise BuildError(f"{path}: the roster is not valid CSV ({error})") from None


def _line_numbers(text: str) -> list[int]:
    """The 1-based line on which each CSV record starts (records may span lines)."""
    starts = []
    reader = csv.reader(io.StringIO(text))
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
