"""Opening an exam to serve: the build, the database, the clock settings, the staff password.

`open_exam` is what every `mmexam serve` verb starts with; `prepare` adds what
the server needs (start and length, extra time from the roster, the staff
password) and `run` hands the app to uvicorn.

Start and length are kept in the database, so several server processes on
one PostgreSQL database agree: a server started with --start / --minutes sets
them, one started without them uses what is stored (or now, and the exam's
duration from the blueprint).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mmexam.course import SAMPLE, Course
from mmexam.sandbox.isolation import isolation_status, probe_bwrap
from mmexam.serve.codes import IssuedCode, issue_codes
from mmexam.serve.db import Database, database_url
from mmexam.serve.papers import OnlineExam, ServeError
from mmexam.serve.security import hash_password
from mmexam.serve.site import ServeConfig

DATABASE_FILE = "serve.sqlite"
STAFF_ENV = "MMEXAM_STAFF_PASSWORD"


def open_exam(
    build: Path, database: str | None, bank: Path | None = None, course: Course | None = None
) -> tuple[OnlineExam, Database]:
    """The exam of a build folder and its database (SQLite in the build folder by default)."""
    course = course or SAMPLE
    exam = OnlineExam(build, bank, graders=course.graders, default_bank=course.bank)
    db = Database(database_url(database, build / DATABASE_FILE))
    db.ensure_students([(s.id, s.name) for s in exam.manifest.students])
    return exam, db


def parse_start(text: str) -> float:
    """'2026-12-10 14:00' (local time), or ISO 8601 with an offset -> epoch seconds."""
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ServeError(
            f"--start {text!r}: not a date and time — write it as '2026-12-10 14:00' "
            "(local time) or '2026-12-10T14:00+01:00'"
        ) from None
    return when.timestamp() if when.tzinfo else when.astimezone().timestamp()


def roster_minutes(path: Path, known: set[str]) -> dict[str, float]:
    """The roster's `extra_minutes` column (accommodations), by student id.

    The roster is read as the build reads it (`mmexam.roster`, any layout it knows);
    a student's extra time is the extra_minutes cell of their row."""
    from mmexam.roster import load_roster

    roster = load_roster(path)
    by_line = {entry.line: entry.id for entry in roster.entries}
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if "extra_minutes" not in header:
        return {}
    column = header.index("extra_minutes")
    minutes: dict[str, float] = {}
    line = 2
    for row in reader:
        start, line = line, reader.line_num + 1
        sid = by_line.get(start)
        raw = row[column].strip() if sid is not None and column < len(row) else ""
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 24 * 60:
            raise ServeError(
                f"{path}:{start}: extra_minutes {raw!r} for {sid} is not a number of "
                "minutes between 0 and 1440"
            )
        if sid in known:
            minutes[str(sid)] = value
    return minutes


@dataclass
class Prepared:
    """A server ready to start, and what to tell the person who started it."""

    config: ServeConfig
    staff_password: str | None = None  # shown once when it was generated
    demo_codes: list[IssuedCode] = field(default_factory=list)


def prepare(
    build: Path,
    *,
    database: str | None = None,
    bank: Path | None = None,
    start: str | None = None,
    minutes: float | None = None,
    roster: Path | None = None,
    staff_password: str | None = None,
    check_workers: int = 2,
    demo: bool = False,
    course: Course | None = None,
    require_sandbox: bool = True,
) -> Prepared:
    """Everything `mmexam serve` needs before it listens."""
    sandbox_warnings = check_sandbox(require_sandbox)
    exam, db = open_exam(build, database, bank, course)
    exam.check_all()  # a paper that no longer matches variants.json stops us here
    now = time.time()
    if start is not None:
        db.set_meta("start", repr(parse_start(start)))
    stored_start = float(db.set_meta("start", repr(now), only_if_missing=True))
    if minutes is not None:
        if not 0 < minutes <= 24 * 60:
            raise ServeError(f"--minutes {minutes:g}: give the exam's length, 1 to 1440 minutes")
        db.set_meta("minutes", repr(float(minutes)))
    default = float(exam.bank.blueprint.duration_minutes or 60)
    stored_minutes = float(db.set_meta("minutes", repr(default), only_if_missing=True))
    if roster is not None:
        db.set_roster_minutes(roster_minutes(roster, set(exam.students)))
    prepared_password: str | None = None
    password = staff_password or os.environ.get(STAFF_ENV)
    if password:
        db.set_meta("staff_password", hash_password(password))
    elif db.get_meta("staff_password") is None:
        prepared_password = secrets.token_urlsafe(12)
        db.set_meta("staff_password", hash_password(prepared_password))
    stored_hash = db.get_meta("staff_password")
    assert stored_hash is not None
    codes = issue_codes(db, exam, regenerate=True).issued if demo else []
    config = ServeConfig(
        exam=exam,
        db=db,
        start=stored_start,
        minutes=stored_minutes,
        staff_password_hash=stored_hash,
        check_workers=check_workers,
        require_sandbox=require_sandbox,
        warnings=sandbox_warnings,
    )
    return Prepared(config, prepared_password, codes)


def check_sandbox(require_sandbox: bool) -> list[str]:
    """The isolation warning to show, if any. The "Run public checks" button runs
    students' code, so a machine without bubblewrap refuses to serve unless
    `require_sandbox` is False (--no-sandbox); then the warning goes to the console
    and the staff page."""
    isolation, warning = isolation_status()
    if require_sandbox and isolation != "bwrap":
        raise ServeError(
            f"the sandbox for the public checks is unavailable ({probe_bwrap()}): install "
            "bubblewrap (apt install bubblewrap), or pass --no-sandbox to run students' "
            "checks without it"
        )
    return [warning] if warning else []


def run(prepared: Prepared, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn, one process)."""
    import uvicorn

    from mmexam.serve.app import create_app

    uvicorn.run(
        create_app(prepared.config),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=True,
        # longer than a browser's pause between saves, so an idle connection is not
        # closed by the server just as the next save is sent on it
        timeout_keep_alive=75,
        timeout_graceful_shutdown=5,
    )
