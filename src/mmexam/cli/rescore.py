"""`mmexam rescore GRADES_DIR`: whose score an `accept:` in the bank changes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, app


@app.command()
def rescore(
    grades: Annotated[
        Path, typer.Argument(help="The output folder of `mmexam grade` (holds graded/).")
    ],
    bank: Annotated[
        Path | None, typer.Option(help="Bank folder; default: the course's.", file_okay=False)
    ] = None,
    graders: Annotated[
        Path | None,
        typer.Option(help="Folder of code tasks the bank names (default: the course's)."),
    ] = None,
    course: CourseOption = None,
) -> None:
    """List the students whose score changes under the bank's keys now (e.g. after `accept:`).

    Writes nothing: run `mmexam grade` again to write the new grades.

    Example: mmexam rescore grades/
    """
    from mmexam.bank import load_bank
    from mmexam.course import resolve_course
    from mmexam.errors import GradeError
    from mmexam.fmt import fmt_points
    from mmexam.grade.rescore import graded_results, rescore

    found = resolve_course(course)
    results = graded_results(grades)
    if not results:
        raise GradeError(
            f"{grades}: no graded results in {grades / 'graded'} — give the folder `mmexam grade --out` wrote"
        )
    loaded = load_bank(bank or found.bank, graders=graders or found.graders, math=False)
    changes = rescore(results, loaded)
    for change in changes:
        items = ", ".join(
            f"{i.number} ({i.question}) {fmt_points(i.before)} → {fmt_points(i.after)}"
            for i in change.items
        )
        typer.echo(
            f"{change.student}: {fmt_points(change.total_before)} → "
            f"{fmt_points(change.total_after)}"
            + (
                f" (bonus {fmt_points(change.bonus_before)} → {fmt_points(change.bonus_after)})"
                if change.bonus_after != change.bonus_before
                else ""
            )
            + f": {items}"
        )
    typer.echo(
        f"{len(changes)} of {len(results)} students' scores change"
        + (" — run `mmexam grade` again to write them" if changes else "")
    )
