"""`mmexam build`: render the exam, its answer key, the variants and the starter code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, IdColumnOption, NameColumnOption, app


@app.command()
def build(
    bank: Annotated[
        Path | None,
        typer.Argument(help="Folder of bank YAML files (with exam.yaml); default: the course's."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder to write into.")
    ] = Path("build"),
    seed: Annotated[
        int,
        typer.Option(
            metavar="N", help="Exam seed: the same seed gives the same papers, byte for byte."
        ),
    ] = 0,
    roster: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Roster CSV: mmexam's id,name or an LMS export (Canvas, Moodle, Blackboard, "
            "Gradescope): one paper per student in students/<id>/.",
        ),
    ] = None,
    id_column: IdColumnOption = None,
    name_column: NameColumnOption = None,
    variants: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=702,
            metavar="N",
            help="N anonymous versions A, B, C... in versions/<code>/.",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", metavar="pdf,html", help="Comma-separated: pdf, html.")
    ] = "pdf,html",
    key: Annotated[
        bool, typer.Option("--key/--no-key", help="Also write the answer key of every paper.")
    ] = True,
    jobs: Annotated[
        int | None,
        typer.Option(metavar="N", help="Worker processes for many papers (default: one per core)."),
    ] = None,
    course: CourseOption = None,
) -> None:
    """Build the exam PDF and HTML, the answer keys, variants.json and starter/.

    Without --roster or --variants, one version (A) is written as exam.pdf,
    exam.html, key.pdf and key.html in the output folder.

    Example: mmexam build --roster examples/roster.csv --seed 2024
    """
    from mmexam.build import build_exam
    from mmexam.course import resolve_course

    found = resolve_course(course)
    result = build_exam(
        bank or found.bank,
        out,
        seed=seed,
        roster=roster,
        roster_columns=(id_column, name_column),
        variants=variants,
        formats=format,
        key=key,
        jobs=jobs,
        graders=found.graders,
    )
    kind = "student" if roster else "version"
    papers = f"{result.papers} {kind}{'s' if result.papers != 1 else ''}"
    per = result.seconds / max(result.papers, 1) * 1000
    typer.echo(
        f"built {papers} ({format}{', with keys' if key else ''}) into {out}/ "
        f"in {result.seconds:.2f} s ({per:.0f} ms per paper, {result.jobs} "
        f"process{'es' if result.jobs != 1 else ''})"
    )
    typer.echo(f"  {result.manifest}: the variants grading maps answers through")
    tasks = ", ".join(result.starter_tasks) or "no code tasks"
    typer.echo(f"  {out / 'starter'}/: starter code for students ({tasks})")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
