"""`mmexam serve export`: the database's answers as the submissions `mmexam grade` reads.

One folder per student who logged in: answers.yaml keyed by printed number
and one `<task>.py` per code file they saved, each student's last saved values
(or the values they had at a given moment: the revision log keeps them all).
A student who never logged in gets no folder and is listed; grading lists them
as absent. Each folder is written in a temporary folder and renamed into place,
so a reader sees a whole submission or the previous one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.course import Course
from mmexam.files import atomic_write
from mmexam.serve.db import Database
from mmexam.serve.papers import OnlineExam, ServeError, receipt, submission_files

EXPORT_INFO = ".mmexam-export.json"


@dataclass
class ExportResult:
    """What `export_submissions` wrote."""

    out: Path
    written: list[str] = field(default_factory=list)
    never_logged_in: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # = the receipt, when unchanged


def export_submissions(
    db: Database, exam: OnlineExam, out: Path, at: float | None = None
) -> ExportResult:
    """Write every logged-in student's answers under `out/<id>/`."""
    result = ExportResult(out)
    rows = {row["id"]: row for row in db.all_students()}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for student in exam.manifest.students:
            row = rows.get(student.id)
            values = {k: r.value for k, r in db.latest(student.id, at).items()}
            if (row is None or row["first_login_at"] is None) and not values:
                result.never_logged_in.append(student.id)
                continue
            files = submission_files(student, exam.fields(student.id), values)
            _replace_folder(out / student.id, files)
            result.written.append(student.id)
            result.digests[student.id] = receipt(student.id, files)
        info = {
            "exported_from": "mmexam serve",
            "at": at,
            "written": result.written,
            "never_logged_in": result.never_logged_in,
            "receipts": {sid: (rows.get(sid) or {}).get("receipt") for sid in result.written},
        }
        atomic_write(out / EXPORT_INFO, json.dumps(info, indent=1, sort_keys=True) + "\n")
    except OSError as error:
        raise ServeError(f"{out}: cannot write the export ({error.strerror or error})") from None
    return result


def _replace_folder(target: Path, files: dict[str, bytes]) -> None:
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    for name, data in files.items():
        with open(fresh / name, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.replace(target, old)
        os.replace(fresh, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(fresh, target)


def export_database(
    database: str | None,
    build: Path,
    out: Path,
    bank: Path | None = None,
    course: Course | None = None,
) -> ExportResult:
    """Open the exam of `build` and its database, and export its answers to `out`."""
    from mmexam.serve.server import open_exam

    exam, db = open_exam(build, database, bank, course)
    try:
        return export_submissions(db, exam, out)
    finally:
        db.close()
