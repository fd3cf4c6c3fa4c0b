"""`mmexam preview ID`: one question, rendered with its key, for its author."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, app


@app.command()
def preview(
    question: Annotated[str, typer.Argument(help="The question's id, e.g. mcq-unclip-prior.")],
    seed: Annotated[
        int, typer.Option(help="Exam seed: which parameter values and option order to show.")
    ] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Folder to write to (default: preview/<ID>).")
    ] = None,
    bank: Annotated[
        Path | None, typer.Option(help="Bank folder; default: the course's.", file_okay=False)
    ] = None,
    course: CourseOption = None,
) -> None:
    """Render one question as students see it and with its key (HTML and PDF).

    Example: mmexam preview fusion-gated-contrastive --seed 3
    """
    from mmexam.bank import load_bank
    from mmexam.build.preview import preview_question
    from mmexam.course import resolve_course
    from mmexam.paths import TEMPLATES

    found = resolve_course(course)
    loaded = load_bank(bank or found.bank, graders=found.graders)
    result = preview_question(
        loaded,
        question,
        out or Path("preview") / question,
        seed=seed,
        templates=TEMPLATES,
        graders=found.graders,
    )
    values = ", ".join(f"{k} = {v}" for k, v in result.params.items())
    typer.echo(f"{question} (seed {seed}{'; ' + values if values else ''}):")
    for path in result.files:
        typer.echo(f"  {path}")
