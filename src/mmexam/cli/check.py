"""`mmexam check TASK FILE`: grade one code file with the checks engine.

Thin: read the file, call `mmexam.checks.run_checks` (the same engine
`mmexam grade` and the practice mode use), print a table or JSON.

Exit status: 0 whenever the file was graded — also when checks fail, since a
failing check is a grade, not an error; 1 for bad input (an unknown task, a
file that cannot be read, a sandbox that is required but missing), with one
line on stderr.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmexam.cli.app import CourseOption, NoSandboxOption, app
from mmexam.errors import GradeError

if TYPE_CHECKING:
    from mmexam.checks import TaskResult
    from mmexam.sandbox import Sandbox


@app.command()
def check(
    task: Annotated[
        str, typer.Argument(help="Code task: fusion, contrastive, mllm or generation.")
    ],
    file: Annotated[Path, typer.Argument(help="The student's Python file for that task.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of a table.")
    ] = False,
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Add the hidden (grading-only) checks.")
    ] = False,
    device: Annotated[
        str, typer.Option("--device", help="Run the student's code on 'cpu' or 'cuda'.")
    ] = "cpu",
    no_sandbox: NoSandboxOption = False,
    course: CourseOption = None,
) -> None:
    """Run a code task's checks on one file and show each check's points and feedback.

    Public checks only, unless --hidden. Exit status 0 when the file was graded
    (even if checks fail), 1 for bad input.

    Example: mmexam check fusion submissions/s001/fusion.py --json
    """
    from mmexam.checks.tasks import list_tasks
    from mmexam.course import resolve_course
    from mmexam.paths import GRADERS, trusted_modules

    found = resolve_course(course)
    graders = found.graders
    known = list_tasks(graders)
    if task not in known:
        where = "" if graders.resolve() == GRADERS.resolve() else f" in {graders}"
        raise GradeError(
            f"unknown code task '{task}'{where} — known tasks: {', '.join(known) or 'none'}"
        )
    source = read_source(file)

    from mmexam.checks import run_checks

    def grade(sandbox) -> TaskResult:
        return run_checks(
            task, source, hidden=hidden, sandbox=sandbox, filename=file.name, graders=graders
        )

    here = file.resolve().parent
    hide = (here, here.parent)  # the student's folder and the submissions beside it
    run_and_show(
        grade,
        as_json=as_json,
        no_sandbox=no_sandbox,
        device=device,
        modules=trusted_modules(graders),
        hide=hide,
    )


def run_and_show(
    grade: Callable[[Sandbox], TaskResult],
    *,
    as_json: bool,
    no_sandbox: bool,
    device: str = "cpu",
    modules: Sequence[Path] | None = None,
    hide: Sequence[Path] = (),
) -> None:
    """Open a sandbox (its warnings go to stderr), grade in it, close it, print the result.

    Shared by `mmexam check` and `mmexam practice check`, so both print the same.
    Bubblewrap is required unless `no_sandbox` (--no-sandbox), which the result says.
    `modules`: the trusted module files the sandbox may build (default: the graders');
    `hide`: folders the sandbox hides wherever they lie (the file's own, its neighbours').
    """
    from mmexam.paths import trusted_modules
    from mmexam.sandbox import Sandbox

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sandbox = Sandbox(
            require_sandbox=not no_sandbox,
            device=device,
            modules=trusted_modules() if modules is None else modules,
            hide=hide,
        )
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    try:
        result = grade(sandbox)
    finally:
        sandbox.close()
    if as_json:
        typer.echo(json.dumps(as_document(result), indent=2, ensure_ascii=False))
    else:
        show(result)


def read_source(file: Path) -> str:
    """A student's file as text; a missing, unreadable or non-UTF-8 file is one GradeError."""
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GradeError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise GradeError(f"{file}: is a folder — give the student's .py file") from None
    except UnicodeDecodeError as error:
        raise GradeError(
            f"{file}: not UTF-8 text (byte {error.start}) — save the file as UTF-8"
        ) from None
    except OSError as error:
        raise GradeError(f"{file}: cannot be read ({error.strerror})") from None


def as_document(result: TaskResult) -> dict:
    """The --json document: task, score, max_score and one entry per check."""
    return {
        "task": result.task,
        "score": result.score,
        "max_score": result.max_score,
        "load_error": result.load_error,
        "sandbox": result.sandbox,
        "checks": [
            {
                "name": c.name,
                "score": c.score,
                "max_score": c.max_score,
                "passed": c.passed,
                "message": c.message,
                "function": c.function,
                "kind": c.kind,
                "visibility": c.visibility,
                "skipped": c.skipped,
            }
            for c in result.checks
        ],
    }


def show(result: TaskResult) -> None:
    """A table of checks with their points, then the feedback of every failed check."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    table = Table(title=f"mmexam check {result.task}", title_justify="left")
    table.add_column("check")
    table.add_column("kind")
    table.add_column("points", justify="right")
    table.add_column("result")
    for c in result.checks:
        if c.skipped:
            verdict = Text("skipped", style="dim")
        elif c.passed:
            verdict = Text("passed", style="green")
        else:
            verdict = Text("FAILED", style="bold red")
        name = c.name + (" (hidden)" if c.visibility == "hidden" else "")
        table.add_row(
            Text(name), Text(c.kind), Text(f"{_pts(c.score)}/{_pts(c.max_score)}"), verdict
        )
    console.print(table)
    if result.sandbox != "bwrap":
        console.print(
            Text(f"ran WITHOUT a sandbox ({result.sandbox}): --no-sandbox", style="bold red")
        )
    if result.load_error:
        console.print(Text(f"could not load the file: {result.load_error}", style="red"))
    failed = [c for c in result.checks if not c.passed]
    for c in failed:
        console.print()
        console.print(Text(f"{c.name}:", style="bold"))
        console.print(Text(c.message), soft_wrap=True)
    console.print()
    console.print(
        Text(
            f"score: {_pts(result.score)} / {_pts(result.max_score)}  "
            f"({sum(c.passed and not c.skipped for c in result.checks)} passed, "
            f"{len(failed)} failed)",
            style="bold",
        )
    )


def _pts(x: float) -> str:
    return f"{x:g}"
