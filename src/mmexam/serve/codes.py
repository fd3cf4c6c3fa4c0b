"""`mmexam serve codes`: one access code per student, as a CSV and printable slips.

Codes are drawn with `secrets` (see `mmexam.serve.security`), stored only as
salted scrypt hashes, and handed out once: the CSV (mode 0600) and the PDF of
slips (Typst, in-process, as `mmexam build` makes its PDFs) hold the codes
issued in this run. A student who already has a code keeps it unless it is
reissued (`regenerate`); a reissued code replaces the old one, which stops
working at once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.files import atomic_write
from mmexam.paths import TEMPLATES
from mmexam.serve.db import Database
from mmexam.serve.papers import OnlineExam, ServeError
from mmexam.serve.security import hash_code, new_code


@dataclass(frozen=True)
class IssuedCode:
    student: str
    name: str
    code: str


@dataclass
class CodesResult:
    """What `issue_codes` did."""

    issued: list[IssuedCode] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # students who already had a code
    csv: Path | None = None
    pdf: Path | None = None


def issue_codes(
    db: Database,
    exam: OnlineExam,
    *,
    only: list[str] | None = None,
    regenerate: bool = False,
) -> CodesResult:
    """New codes for the students without one (or all named / all, with `regenerate`)."""
    db.ensure_students([(s.id, s.name) for s in exam.manifest.students])
    unknown = [sid for sid in only or [] if sid not in exam.students]
    if unknown:
        raise ServeError(
            f"no student {unknown[0]!r} in {exam.build / 'variants.json'} — "
            "use the ids of the roster the exam was built from"
        )
    rows = {row["id"]: row for row in db.all_students()}
    result = CodesResult()
    hashes: dict[str, str] = {}
    for student in exam.manifest.students:
        if only and student.id not in only:
            continue
        if rows.get(student.id, {}).get("code_hash") and not regenerate:
            result.kept.append(student.id)
            continue
        code = new_code()
        hashes[student.id] = hash_code(code)
        result.issued.append(IssuedCode(student.id, student.name or "", code))
    if hashes:
        db.set_code_hashes(hashes, time.time())
    return result


def codes_csv(codes: list[IssuedCode]) -> str:
    """id,name,code: every cell guarded against spreadsheet formulas (mmexam.csvcells)."""
    from mmexam.csvcells import csv_text

    return csv_text([["id", "name", "code"], *([c.student, c.name, c.code] for c in codes)])


def slips_pdf(codes: list[IssuedCode], title: str, course: str, url: str) -> bytes:
    """A4 pages of cut-out slips: name, id, code and where to log in, ten to a page."""
    from mmexam.build.render import compile_pdf, templates

    source = (
        templates(TEMPLATES)
        .typst.get_template("serve/codes.typ.j2")
        .render({"codes": codes, "title": title, "course": course, "url": url})
    )
    return compile_pdf(source, "the access-code slips")


def write_codes(result: CodesResult, out: Path, title: str, course: str, url: str) -> None:
    """codes.csv and codes.pdf under `out`, readable by the owner only."""
    if not result.issued:
        return
    result.csv, result.pdf = out / "codes.csv", out / "codes.pdf"
    try:
        atomic_write(result.csv, codes_csv(result.issued))
        atomic_write(result.pdf, slips_pdf(result.issued, title, course, url))
        for path in (result.csv, result.pdf):
            os.chmod(path, 0o600)
    except OSError as error:
        raise ServeError(f"{out}: cannot write the codes ({error.strerror or error})") from None
