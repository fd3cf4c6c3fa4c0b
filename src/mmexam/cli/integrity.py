"""`mmexam integrity GRADES`: pairs of students whose answers agree more than chance allows.

Thin: read the graded class (`mmexam.integrity.sheets`), rank the pairs
(`mmexam.integrity.check_integrity`), write integrity.html and .json, print
the list.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mmexam.cli.app import CourseOption, app

if TYPE_CHECKING:
    from mmexam.integrity.models import IntegrityReport


class TextMeasure(str, Enum):
    auto = "auto"
    embedding = "embedding"
    lexical = "lexical"


@app.command()
def integrity(
    grades: Annotated[
        Path, typer.Argument(help="The --out folder of `mmexam grade` (holds graded/).")
    ] = Path("grades"),
    variants: Annotated[
        Path, typer.Option("--variants", help="The variants.json the exam was built with.")
    ] = Path("build/variants.json"),
    submissions: Annotated[
        Path | None,
        typer.Option("--submissions", help="The graded submissions folder: compares the code."),
    ] = None,
    seats: Annotated[
        Path | None,
        typer.Option("--seats", help="Seating chart CSV (id,row,seat[,room]): weights neighbours."),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="List at most this many pairs.")] = 20,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha",
            min=1e-12,
            max=0.5,
            help="List pairs with q below this (false discovery rate).",
        ),
    ] = 0.05,
    text: Annotated[
        TextMeasure,
        typer.Option("--text", help="Written answers: embedding model, lexical, or auto."),
    ] = TextMeasure.auto,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for integrity.html/.json (default: GRADES)."),
    ] = None,
    course: CourseOption = None,
) -> None:
    """Rank pairs of students whose answers agree more than independent work explains.

    Similarity is a reason to look, never a verdict: the report shows the evidence side by side.

    Example: mmexam integrity grades --submissions examples/submissions
    """
    from mmexam.course import resolve_course
    from mmexam.integrity import Settings, check_integrity
    from mmexam.integrity.report import write_report
    from mmexam.integrity.sheets import read_seats, read_sheets, task_sources

    sheets, tasks, notes = read_sheets(grades, variants, submissions)
    starters, references = task_sources(tasks, resolve_course(course).graders)
    settings = Settings(
        top=top, alpha=alpha, text_backend=text.value, starters=starters, references=references
    )
    chart = read_seats(seats) if seats else None
    report = check_integrity(sheets, settings, chart, notes)
    paths = write_report(report, out or grades)
    show_report(Console(), report, paths)


def show_report(console: Console, report: IntegrityReport, paths: dict[str, Path]) -> None:
    """The listed pairs as a table, then the notes and where the files are."""
    from mmexam.integrity.report import fmt_p

    if report.pairs:
        table = Table(title=f"{report.students} students, {report.pairs_tested} pairs compared")
        for name in ("#", "pair", "q", "family-wise p", "evidence"):
            table.add_column(name)
        for pair in report.pairs:
            table.add_row(
                str(pair.rank),
                f"{pair.a} & {pair.b}",
                fmt_p(pair.q),
                fmt_p(pair.p_adjusted),
                "\n".join(pair.reasons) or "—",
            )
        console.print(table)
    else:
        console.print(
            f"{report.students} students, {report.pairs_tested} pairs compared: no pair agrees "
            f"more than chance allows (q < {report.alpha:g})"
        )
    console.print("similarity is a reason to look, never a verdict — read the evidence first")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    for label, path in paths.items():
        console.print(f"{label}: {path}", highlight=False)
