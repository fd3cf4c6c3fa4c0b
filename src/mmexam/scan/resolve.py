"""`mmexam scan resolve`: a person's answers in resolve.csv applied to what was scanned.

Each row of resolve.csv is a doubt; its `answer` column settles it:
    box, id (one box)   ticked | empty | cancelled   (also x / yes, - / no)
    id (the whole id)   the student id
    numeric             the number as written (empty: left blank)
    page                blank — the page is lost: its questions count as unanswered
Rows left empty stay open. Every paper whose doubts are all settled gets its
answers.yaml; resolve.csv and the report are written again with what is left.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mmexam.errors import MmexamError
from mmexam.fmt import LETTERS
from mmexam.scan.model import PaperScan, Problem
from mmexam.scan.settle import RESOLVE, finish

DECISIONS = {
    "ticked": "ticked",
    "x": "ticked",
    "yes": "ticked",
    "tick": "ticked",
    "empty": "empty",
    "-": "empty",
    "no": "empty",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}


class ResolveError(MmexamError):
    """resolve.csv or a scan folder cannot be used."""


def _load(out: Path) -> dict[str, PaperScan]:
    scans = {}
    for path in sorted(out.glob("*/scan.json")):
        try:
            scan = PaperScan.model_validate_json(path.read_bytes())
        except ValueError as error:
            raise ResolveError(f"{path}: damaged ({error}) — run `mmexam scan` again") from None
        scans[scan.folder] = scan
    if not scans:
        raise ResolveError(f"{out}: no scanned papers (*/scan.json) — run `mmexam scan` first")
    return scans


def _apply(scan: PaperScan, row: dict[str, str], answer: str, where: str) -> None:
    what, number = row["what"], row["number"]
    if what in ("box", "id") and row["option"]:
        decision = DECISIONS.get(answer.lower())
        if decision is None:
            raise ResolveError(
                f"{where}: {answer!r} is not a decision — write ticked, empty or cancelled"
            )
        option = row["option"]
        if what == "id":  # "column 3 digit 7"
            words = option.split()
            key = ("id", int(words[1]) - 1, int(words[3]))
        else:
            key = (number, 0, LETTERS.index(option))
        page = int(row["page"])
        hits = [b for b in scan.boxes if (b.number, b.column, b.index) == key and b.page == page]
        if not hits:
            raise ResolveError(
                f"{where}: {scan.folder} has no box {option} at {number} on page {page}"
            )
        for box in hits:
            box.settled = decision  # type: ignore[assignment]
    elif what == "id":
        scan.student = answer
    elif what == "numeric":
        scan.typed[number] = "" if answer.lower() in ("blank", "empty", "-") else answer
    elif what == "page":
        if answer.lower() not in ("blank", "missing", "lost"):
            raise ResolveError(
                f"{where}: write 'blank' to grade without page {number}, or rescan it"
            )
        scan.accepted_missing.append(int(number))
    else:
        raise ResolveError(f"{where}: unknown kind of doubt {what!r}")


def resolve(out: Path, result) -> None:
    """Apply resolve.csv under `out`, then write every paper's files again."""
    scans = _load(out)
    path = out / RESOLVE
    if not path.is_file():
        raise ResolveError(f"{path}: not found — run `mmexam scan` first")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for line, row in enumerate(rows, start=2):
        answer = (row.get("answer") or "").strip()
        if not answer:
            continue
        scan = scans.get(row.get("folder", ""))
        if scan is None:
            raise ResolveError(f"{path}:{line}: no scanned paper {row.get('folder')!r} under {out}")
        _apply(scan, row, answer, f"{path}:{line}")
    for scan in scans.values():
        if scan.anonymous and scan.student is not None and scan.folder != scan.student:
            target = out / scan.student
            if target.exists():
                raise ResolveError(
                    f"{path}: id {scan.student} is already the folder of another paper"
                )
            (out / scan.folder).rename(target)
            scan.folder = scan.student
    problems_path = out / "problems.json"
    problems = []
    if problems_path.is_file():
        problems = [Problem.from_json(p) for p in json.loads(problems_path.read_text())]
    finish(out, list(scans.values()), problems, result)
