"""The Typer application that every command module registers on."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mmexam.errors import MmexamError

NoSandboxOption = Annotated[
    bool,
    typer.Option(
        "--no-sandbox",
        help="Run student code WITHOUT bubblewrap (rlimits only: it can read your files and "
        "use the network). Without this flag a machine lacking bubblewrap refuses to run it; "
        "with it, every output says so.",
    ),
]
CourseOption = Annotated[
    Path | None,
    typer.Option(
        "--course",
        help="A course folder from `mmexam init` (default: the one holding the working "
        "directory, else the shipped sample).",
        file_okay=False,
    ),
]


class MmexamGroup(TyperGroup):
    """Turn an `MmexamError` into one line on stderr and exit status 1."""

    # Typed loosely: the base class's Context lives in typer's private click copy.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MmexamError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=MmexamGroup,
    help="Author, render and autograde the Multimodal AI midterm.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    app(prog_name="mmexam")
    sys.exit(0)
