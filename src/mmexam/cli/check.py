"""`mmexam check TASK FILE`: grade one code file with the checks engine.

Thin: read the file, call `mmexam.checks.run_checks` (the same engine
`mmexam grade` and the practice mode use), print a table or JSON.

Exit status: 0 when every check passed, 1 when any check failed (or the
checks could not run: a sandbox that is required but missing), 2 for a usage
error (an unknown task or function, a file that cannot be read), with one line
on stderr — so scripts and CI can tell them apart, with or without --json.
"""

from __future__ import annotations

import contextlib
import json
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmexam.cli.app import CourseOption, NoSandboxOption, app
from mmexam.errors import GradeError, MmexamError, UsageError

if TYPE_CHECKING:
    from mmexam.checks import CheckResult, TaskResult
    from mmexam.sandbox import Sandbox

FunctionOption = Annotated[
    str | None,
    typer.Option(
        "--function",
        help="Run only the checks of this function, e.g. tensor_fusion.",
        show_default=False,
    ),
]


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
    function: FunctionOption = None,
) -> None:
    """Run a code task's checks on one file and show each check's points and feedback.

    Public checks only, unless --hidden. Exit status 0 when every check passed,
    1 when any failed, 2 for a usage error (unknown task or function, unreadable file).

    Example: mmexam check fusion submissions/s001/fusion.py --function tensor_fusion
    """
    from mmexam.checks.planner import function_names
    from mmexam.checks.tasks import list_tasks
    from mmexam.course import resolve_course
    from mmexam.paths import GRADERS, trusted_modules

    found = resolve_course(course)
    graders = found.graders
    with usage_errors():
        known = list_tasks(graders)
        if task not in known:
            where = "" if graders.resolve() == GRADERS.resolve() else f" in {graders}"
            raise GradeError(
                f"unknown code task '{task}'{where} — known tasks: {', '.join(known) or 'none'}"
            )
        if function is not None:
            check_function(task, function, function_names(task, graders=graders))
        source = read_source(file)

    from mmexam.checks import run_checks

    def grade(sandbox) -> TaskResult:
        return run_checks(
            task,
            source,
            hidden=hidden,
            sandbox=sandbox,
            filename=file.name,
            graders=graders,
            function=function,
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
        folder=here,
    )


FEEDBACK_FOLDER = "mmexam-feedback"
"""Beside the student's file: where the inputs of a failed check too large to print go."""


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Bad arguments (an unknown task or function, a file that cannot be read) are usage
    errors, exit status 2, since 1 means checks failed (the app prints the one line)."""
    try:
        yield
    except UsageError:
        raise
    except MmexamError as error:
        raise UsageError(str(error)) from None


def check_function(task: str, function: str, known: Sequence[str]) -> None:
    """A `GradeError` unless `function` is one of the task's checked functions."""
    if function not in known:
        raise GradeError(
            f"unknown function '{function}' for {task} — its functions: "
            f"{', '.join(known) or 'none'}"
        )


def run_and_show(
    grade: Callable[[Sandbox], TaskResult],
    *,
    as_json: bool,
    no_sandbox: bool,
    device: str = "cpu",
    modules: Sequence[Path] | None = None,
    hide: Sequence[Path] = (),
    folder: Path | None = None,
) -> None:
    """Open a sandbox (its warnings go to stderr), grade in it, close it, print the result,
    and exit: status 0 when every check passed, 1 when any failed.

    Shared by `mmexam check` and `mmexam practice check`, so both print the same.
    Bubblewrap is required unless `no_sandbox` (--no-sandbox), which the result says.
    `modules`: the trusted module files the sandbox may build (default: the graders');
    `hide`: folders the sandbox hides wherever they lie (the file's own, its neighbours');
    `folder`: the student's folder, where inputs too large to print are saved for the
    snippets (in mmexam-feedback/).
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
        show(result, folder=folder)
    raise typer.Exit(0 if all(c.passed for c in result.checks) else 1)


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


def show(result: TaskResult, *, folder: Path | None = None) -> None:
    """A table of checks with their points, then one block per broken function and the
    feedback of every other failed check (`mmexam.checks.present`). With `folder`, the
    inputs of a failed check too large to print inline are saved in its mmexam-feedback/
    for the snippet to load."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mmexam.checks.present import failure_text, group_failures

    grouped = group_failures(result)
    console = Console(highlight=False)
    table = Table(title=f"mmexam check {result.task}", title_justify="left")
    table.add_column("check")
    table.add_column("kind")
    table.add_column("points", justify="right")
    table.add_column("result")
    styles = {"passed": "green", "skipped": "dim"}
    for c in result.checks:
        word = grouped.verdict(c)
        verdict = Text(word, style=styles.get(word, "bold red"))
        name = c.name + (" (hidden)" if c.visibility == "hidden" else "")
        table.add_row(
            Text(name), Text(c.kind), Text(f"{_pts(c.score)}/{_pts(c.max_score)}"), verdict
        )
    console.print(table)
    if result.sandbox != "bwrap":
        console.print(
            Text(f"ran WITHOUT a sandbox ({result.sandbox}): --no-sandbox", style="bold red")
        )
    if result.load_error and not grouped.broken:
        console.print(Text(f"could not load the file: {result.load_error}", style="red"))
    for block in grouped.broken:
        console.print()
        console.print(Text(block.text(), style="bold"), soft_wrap=True)
    for c in grouped.failed:
        console.print()
        console.print(Text(f"{c.name}:", style="bold"))
        text = failure_text(c, result.filename, inputs_file=_saver(folder))
        console.print(Text(text), soft_wrap=True)
    failed = [c for c in result.checks if not c.passed]
    console.print()
    console.print(
        Text(
            f"score: {_pts(result.score)} / {_pts(result.max_score)}  "
            f"({sum(c.passed and not c.skipped for c in result.checks)} passed, "
            f"{len(failed)} failed)",
            style="bold",
        )
    )


def _saver(folder: Path | None) -> Callable[[CheckResult], str | None] | None:
    """Where a check's inputs too large to print are saved (relative to `folder`), once
    saved; None without a folder (the snippet then writes them inline)."""
    if folder is None:
        return None

    def save(check: CheckResult) -> str | None:
        from mmexam.checks.repro import INLINE_ELEMENTS, input_elements, save_inputs

        repro = check.repro
        if repro is None or repro.args is None or input_elements(repro) <= INLINE_ELEMENTS:
            return None
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", check.name) + ".pt"
        try:
            save_inputs(repro, folder / FEEDBACK_FOLDER / name)
        except OSError:
            return None  # a read-only folder: the snippet writes them inline
        return f"{FEEDBACK_FOLDER}/{name}"

    return save


def _pts(x: float) -> str:
    return f"{x:g}"
