"""`mmexam bank ...`: inspect the question bank (`mmexam bank stats`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, app

bank_app = typer.Typer(help="Inspect the question bank.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")


@bank_app.command()
def stats(
    bank: Annotated[
        Path | None,
        typer.Argument(help="Bank folder (exam.yaml + question files); default: the course's."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of tables.")
    ] = False,
    course: CourseOption = None,
) -> None:
    """Count the bank's questions per part, kind, topic and difficulty.

    Example: mmexam bank stats --json
    """
    from mmexam.bank import load_bank
    from mmexam.bank.stats import bank_stats
    from mmexam.course import resolve_course

    found = resolve_course(course)
    figures = bank_stats(load_bank(bank or found.bank, graders=found.graders, math=False))
    if json_output:
        typer.echo(figures.model_dump_json(indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    parts = Table(
        title=f"{figures.questions} questions, {figures.parameterised} parameterised, "
        f"{figures.practice} in practice mode"
    )
    parts.add_column("part")
    parts.add_column("questions", justify="right")
    parts.add_column("draws", justify="right")
    parts.add_column("points", justify="right")
    parts.add_column("kinds")
    for part in figures.parts:
        shown = ", ".join(f"{n} {k}" for k, n in part.kinds.items())
        if part.part_kinds:
            shown += " (" + ", ".join(f"{n} {k}" for k, n in part.part_kinds.items()) + ")"
        parts.add_row(
            part.id + (" (bonus)" if part.bonus else ""),
            str(part.questions),
            str(part.pick),
            f"{part.points:g}",
            shown,
        )
    console.print(parts)
    for title, counts in (
        ("kind", figures.kinds),
        ("problem part kind", figures.part_kinds),
        ("difficulty", figures.difficulty),
        ("topic", figures.topics),
    ):
        table = Table(title=f"per {title}")
        table.add_column(title)
        table.add_column("questions", justify="right")
        for name, count in counts.items():
            table.add_row(name, str(count))
        console.print(table)
