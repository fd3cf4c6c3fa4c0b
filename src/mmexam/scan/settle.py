"""Settling: from papers as read (and a person's answers in resolve.csv) to the files
grading reads, the doubts still open, and the report. Shared by `mmexam scan`
and `mmexam scan resolve`.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

from mmexam.csvcells import safe_cell
from mmexam.files import atomic_write
from mmexam.fmt import LETTERS
from mmexam.scan.answers import Doubt, answers_yaml, assemble, student_id
from mmexam.scan.model import PaperScan, Problem

RESOLVE = "resolve.csv"
COLUMNS = ("folder", "what", "number", "option", "page", "darkness", "machine", "picture", "answer")


def name_folders(out: Path, scans: list[PaperScan], problems: list[Problem]) -> None:
    """Anonymous papers take the id ticked on their cover as their folder, once it is read
    and no other paper claims it."""
    taken = {s.folder for s in scans}
    for scan in scans:
        if not scan.anonymous or scan.student is not None:
            continue
        read, _ = student_id(scan)
        if read is None:
            continue
        claims = [s for s in scans if s.student == read]
        if read in taken or claims:
            problems.append(
                Problem(
                    scan.folder,
                    f"its cover's student id {read} is ticked on another paper "
                    "too: settle the id grid's boxes in resolve.csv",
                )
            )
            continue
        if (out / scan.folder).exists():
            shutil.rmtree(out / read, ignore_errors=True)
            (out / scan.folder).rename(out / read)
        taken.discard(scan.folder)
        scan.folder, scan.student = read, read
        taken.add(read)


def finish(out: Path, scans: list[PaperScan], problems: list[Problem], result: Any) -> None:
    """Write every paper's scan.json and (when settled) answers.yaml, resolve.csv and the
    report; fill `result`'s counts."""
    from mmexam.scan.report import write_report

    name_folders(out, scans, problems)
    doubts: list[Doubt] = []
    result.papers, result.written, result.waiting = scans, [], []
    for scan in sorted(scans, key=lambda s: s.folder):
        folder = out / scan.folder
        folder.mkdir(parents=True, exist_ok=True)
        answers, mine = assemble(scan)
        if scan.anonymous and scan.student is None:
            _, id_doubts = student_id(scan)
            mine = id_doubts + mine
            if not id_doubts:  # read, but claimed twice, or no digit ticked
                mine.insert(0, Doubt(scan.folder, "id", "id", -1, 1, None, "unread", "", True))
        atomic_write(folder / "scan.json", scan.model_dump_json(indent=1) + "\n")
        target = folder / "answers.yaml"
        if any(d.blocking for d in mine):
            target.unlink(missing_ok=True)  # never leave answers a person has not settled
            result.waiting.append(scan.folder)
        else:
            atomic_write(target, answers_yaml(scan, answers))
            result.written.append(scan.folder)
        doubts += mine
    result.problems = problems
    result.doubts = sum(1 for d in doubts if d.blocking)
    atomic_write(out / RESOLVE, resolve_csv(doubts))
    write_report(out, scans, problems, doubts, result)


def resolve_csv(doubts: list[Doubt]) -> str:
    """One row per doubt; a person writes the `answer` column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for d in doubts:
        option = "" if d.index < 0 else (str(d.index) if d.what == "id" else LETTERS[d.index])
        if d.what == "id" and d.index >= 0:
            option = f"column {d.column + 1} digit {d.index}"
        darkness = "" if d.darkness is None else f"{d.darkness:.3f}"
        row = (d.folder, d.what, d.number, option, d.page, darkness, d.decision, d.picture, "")
        writer.writerow([safe_cell(str(cell)) for cell in row])
    return buffer.getvalue()
