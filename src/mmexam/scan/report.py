"""scan-report.html: every doubt with its picture, every page that could not be used,
every paper with missing or twice-scanned pages. One self-contained page (pictures
of boxes and answers are linked from the scan folders beside it)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from mmexam.files import atomic_write
from mmexam.scan.answers import Doubt
from mmexam.scan.model import PaperScan, Problem

REPORT = "scan-report.html"
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3em .6em;vertical-align:middle;text-align:left}
th{background:#f4f4f4}.ok{color:#1b6e36}.wait{color:#a33}.muted{color:#777}img{max-width:40em;image-rendering:auto}
code{background:#f4f4f4;padding:0 .2em}
"""


def _doubt_row(d: Doubt) -> str:
    picture = f'<img src="{escape(d.folder)}/{escape(d.picture)}" alt="">' if d.picture else ""
    dark = "" if d.darkness is None else f"{d.darkness:.3f}"
    return (
        f"<tr><td>{escape(d.folder)}</td><td>{escape(d.label)}</td><td>{d.page or ''}</td>"
        f"<td>{dark}</td><td>{escape(d.decision)}</td><td>{picture}</td></tr>"
    )


def _section(title: str, intro: str, rows: list[str], head: str) -> str:
    if not rows:
        return f"<h2>{escape(title)}</h2><p class=muted>None.</p>"
    return (
        f"<h2>{escape(title)} ({len(rows)})</h2><p>{intro}</p><table>{head}{''.join(rows)}</table>"
    )


def render(
    scans: list[PaperScan], problems: list[Problem], doubts: list[Doubt], result: Any
) -> str:
    boxes = [d for d in doubts if d.what in ("box", "id")]
    numbers = [d for d in doubts if d.what == "numeric"]
    missing = [d for d in doubts if d.what == "page"]
    head = "<tr><th>paper</th><th>what</th><th>page</th><th>darkness</th><th>read as</th><th>picture</th></tr>"
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Scan report</title><style>{STYLE}</style>",
        "<h1>Scan report</h1>",
        (
            f"<p>{result.pages} pages read: {len(scans)} papers, {result.blanks} blank pages, "
            f"{len(problems)} pages not used. <b>{len(result.written)}</b> answers.yaml written; "
            f"<b class=wait>{len(result.waiting)}</b> papers wait for a person "
            f"({result.doubts} doubts). Settle them in <code>resolve.csv</code> (column "
            "<code>answer</code>), then run <code>mmexam scan resolve</code>.</p>"
        ),
        _section(
            "Boxes to check",
            "Neither clearly ticked nor clearly empty (or filled in, "
            "or read differently on two scans of the same page). Write ticked, empty or "
            "cancelled.",
            [_doubt_row(d) for d in boxes],
            head,
        ),
        _section(
            "Pages not scanned",
            "Rescan them, or write <code>blank</code> to grade without them.",
            [_doubt_row(d) for d in missing],
            head,
        ),
        _section(
            "Pages that could not be used",
            "Nothing from these pages was read.",
            [_problem_row(p) for p in problems],
            "<tr><th>where</th><th>why</th><th>the page</th></tr>",
        ),
        _section(
            "Pages scanned twice",
            "The first scan is kept; boxes read differently are listed above.",
            [
                f"<tr><td>{escape(s.folder)}</td><td>{escape(d)}</td></tr>"
                for s in scans
                for d in s.duplicates
            ],
            "<tr><th>paper</th><th>pages</th></tr>",
        ),
        _section(
            "Numbers written on paper",
            "Type each number in the <code>answer</code> "
            "column; until then grading shows it as not a number.",
            [_doubt_row(d) for d in numbers],
            head,
        ),
        _papers(scans, result),
        "</html>",
    ]
    return "\n".join(parts)


def _problem_row(p: Problem) -> str:
    thumb = ""
    if p.thumbnail:
        data = base64.b64encode(p.thumbnail).decode()
        thumb = f'<img src="data:image/png;base64,{data}" alt="" style="max-width:8em">'
    return f"<tr><td>{escape(p.source)}</td><td>{escape(p.message)}</td><td>{thumb}</td></tr>"


def _papers(scans: list[PaperScan], result: Any) -> str:
    rows = []
    for scan in sorted(scans, key=lambda s: s.folder):
        state = (
            "<span class=ok>answers.yaml</span>"
            if scan.folder in result.written
            else "<span class=wait>waiting</span>"
        )
        notes = "; ".join(f"page {s.page}: {s.note}" for s in scan.seen if s.note)
        missing = ", ".join(map(str, scan.missing())) or ""
        rows.append(
            f"<tr><td>{escape(scan.folder)}</td><td>{escape(scan.variant)}</td>"
            f"<td>{len(scan.seen)} / {scan.pages}</td><td>{missing}</td><td>{state}</td>"
            f"<td>{escape(notes)}</td></tr>"
        )
    head = (
        "<tr><th>paper</th><th>variant</th><th>pages</th><th>missing</th>"
        "<th>answers</th><th>notes</th></tr>"
    )
    return _section("Papers", "", rows, head)


def write_report(out: Path, scans, problems, doubts, result) -> Path:
    path = out / REPORT
    atomic_write(path, render(scans, problems, doubts, result))
    return path
