"""`mmexam validate`: check a question bank and report every problem with file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, app


@app.command()
def validate(
    bank: Annotated[
        Path | None,
        typer.Argument(help="Bank folder (exam.yaml + question files); default: the course's."),
    ] = None,
    graders: Annotated[
        Path | None,
        typer.Option(help="Folder of code tasks that code questions name (default: the course's)."),
    ] = None,
    course: CourseOption = None,
    math: Annotated[
        bool, typer.Option("--math/--no-math", help="Convert and typeset every formula.")
    ] = True,
) -> None:
    """Check a question bank and report every problem with file:line.

    Prints one line per problem (file:line:col: id: what — how to fix) and a
    summary; exits 1 if there is any. A clean bank prints its counts.

    Example: mmexam validate question_bank/
    """
    from mmexam.bank import check_bank
    from mmexam.bank.stats import bank_stats
    from mmexam.course import resolve_course

    if bank is None or graders is None:
        found = resolve_course(course)
        bank, graders = bank or found.bank, graders or found.graders
    report = check_bank(bank, graders=graders, math=math, overlaps=True)
    for problem in report.problems:
        typer.echo(str(problem))
    for warning in report.warnings:
        typer.echo(str(warning))
    typer.echo(report.summary())
    if report.problems or report.bank is None:
        raise typer.Exit(1)
    stats = bank_stats(report.bank)
    for part in stats.parts:
        each = part.points / part.pick
        kinds = ", ".join(f"{n} {k}" for k, n in part.kinds.items())
        bonus = " (bonus)" if part.bonus else ""
        noun = "question" if part.questions == 1 else "questions"
        typer.echo(
            f"  {part.id:<12} {part.questions:>4} {noun} ({kinds}); draws "
            f"{part.pick} x {each:g} = {part.points:g} points{bonus}"
        )
    typer.echo(f"  parameterised: {stats.parameterised}, in practice mode: {stats.practice}")
