"""`mmexam init DIR`: write a course folder an instructor owns, from the shipped sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import app


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="The new course folder (must not exist or be empty).")
    ],
) -> None:
    """Write a course folder from the shipped sample: question_bank/, graders/, roster.csv.

    Commands run inside the folder, or given --course DIR, use its bank and graders.

    The shipped sample is public: its reference solutions ship in the package.
    Put a real exam's questions and code tasks in a course folder and keep it private.

    Example: mmexam init my-course && cd my-course && mmexam validate
    """
    from mmexam.course import init_course

    result = init_course(folder)
    typer.echo(
        f"Wrote {result.root}/: question_bank/, graders/, roster.csv ({len(result.files)} files)"
    )
    typer.echo(
        "Keep this folder private: the shipped sample it came from is public. "
        f"Inside it, `mmexam validate` and `mmexam build` use its bank; elsewhere add --course {result.root}."
    )
