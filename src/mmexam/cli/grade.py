"""`mmexam grade SUBMISSIONS` and `mmexam grade merge`: the TA's grading commands.

Thin: parse the options, call `mmexam.grade.engine`, show a progress bar
while it works and a summary table when it is done.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mmexam.cli.app import (
    CourseOption,
    DefaultCommandGroup,
    IdColumnOption,
    NameColumnOption,
    NoSandboxOption,
    app,
)


class GradeGroup(DefaultCommandGroup):
    """`mmexam grade ARGS` means `mmexam grade run ARGS` unless ARGS starts with a subcommand."""

    default_command = "run"


grade = typer.Typer(
    cls=GradeGroup,
    help="Grade submissions: `mmexam grade SUBMISSIONS` (short for `mmexam grade run "
    "SUBMISSIONS`), or join shard runs with `mmexam grade merge SHARD_DIRS`.",
    no_args_is_help=True,
)
app.add_typer(grade, name="grade")

OutOption = Annotated[
    Path, typer.Option("--out", metavar="DIR", help="Folder for grades.csv, feedback, report.")
]
ManualOption = Annotated[
    Path,
    typer.Option("--manual", metavar="DIR", help="Folder of review sheets (one CSV per question)."),
]
ReviewDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--review-database",
        metavar="URL",
        help="Where `mmexam review --database` kept the TAs' decisions (a postgresql:// URL "
        "or SQLite file; default: OUT/review.sqlite).",
    ),
]
VariantsOption = Annotated[
    Path,
    typer.Option("--variants", metavar="FILE", help="The variants.json written by `mmexam build`."),
]


@grade.command("run")
def run(
    submissions: Annotated[
        Path | None,
        typer.Argument(
            help="Folder with one folder or .zip per student, named by id; or an LMS's "
            "download as it comes (Canvas submissions.zip, Moodle's zip, Gradescope's export)."
        ),
    ] = None,
    variants: VariantsOption = Path("build/variants.json"),
    bank: Annotated[
        Path | None,
        typer.Option(
            "--bank",
            metavar="DIR",
            help="Bank folder (default: the one variants.json records, else the course's).",
        ),
    ] = None,
    roster: Annotated[
        Path | None,
        typer.Option(
            "--roster",
            metavar="FILE",
            help="Roster CSV: mmexam's id,name or an LMS export (Canvas, Moodle, Blackboard, "
            "Gradescope); grades.csv gets a row for every student on it.",
        ),
    ] = None,
    id_column: IdColumnOption = None,
    name_column: NameColumnOption = None,
    out: OutOption = Path("grades"),
    manual: ManualOption = Path("manual"),
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=0, metavar="N", help="Code-grading workers (0: one per core)."
        ),
    ] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Regrade everyone, ignoring saved results.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Grade only shard K of N (K/N); join with `grade merge`.",
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="NUMBER",
            help="Regrade one printed number (1.4, 3.b) or question id; "
            "every other score stays as it was.",
        ),
    ] = None,
    no_sandbox: NoSandboxOption = False,
    device: Annotated[
        Literal["cpu", "cuda"],
        typer.Option(
            "--device",
            help="Run the students' code on 'cpu' or 'cuda' (a GPU): the checks that need "
            "CUDA run only with cuda.",
        ),
    ] = "cpu",
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            metavar="URL",
            help="Grade the online exam's answers (`mmexam serve`'s database), exported first "
            "to SUBMISSIONS (default: OUT/online-submissions).",
        ),
    ] = None,
    review_database: ReviewDatabaseOption = None,
    course: CourseOption = None,
) -> None:
    """Grade a folder of submissions into grades/ and manual/ review sheets.

    Example: mmexam grade examples/submissions
    """
    from mmexam.course import resolve_course
    from mmexam.errors import UsageError
    from mmexam.grade.engine import GradeOptions, grade_submissions
    from mmexam.grade.inputs import parse_shard

    parsed_shard = parse_shard(shard) if shard else None
    if device == "cuda":
        require_cuda()
    found = resolve_course(course)
    if database is not None:
        from mmexam.serve.export import export_database

        submissions = submissions or out / "online-submissions"
        exported = export_database(database, variants.parent, submissions, bank, found)
        typer.echo(
            f"exported {len(exported.written)} online submissions to {submissions}", err=True
        )
    elif submissions is None:
        raise UsageError(
            "give the submissions folder (mmexam grade submissions/), or --database URL "
            "to grade the answers of `mmexam serve`"
        )

    options = GradeOptions(
        submissions=submissions,
        variants=variants,
        bank=bank,
        out=out,
        manual=manual,
        jobs=jobs,
        force=force,
        shard=parsed_shard,
        only=only,
        require_sandbox=not no_sandbox,
        device=device,
        roster=roster,
        id_column=id_column,
        name_column=name_column,
        graders=found.graders,
        course_bank=found.bank,
        review_database=review_url(review_database, out),
    )
    console = Console(stderr=True)
    with _progress(console) as tell:
        summary = grade_submissions(options, tell)
    show_summary(Console(), summary, options.shard)


def review_url(database: str | None, out: Path) -> str | None:
    """The SQLAlchemy URL of the review's database (None: the default, OUT/review.sqlite)."""
    if database is None:
        return None
    from mmexam.grade.review_state import REVIEW_DB
    from mmexam.serve.db import database_url

    return database_url(database, out / REVIEW_DB)


def require_cuda() -> None:
    """A usage error (exit 2) before any grading when `--device cuda` has no GPU here."""
    import torch

    from mmexam.errors import UsageError

    if not torch.cuda.is_available():
        raise UsageError("--device cuda: this machine has no CUDA device — grade with --device cpu")


@grade.command("merge")
def merge(
    shards: Annotated[
        list[Path], typer.Argument(help="The --out folders of the `--shard K/N` runs.")
    ],
    out: OutOption = Path("grades"),
    manual: ManualOption = Path("manual"),
    review_database: ReviewDatabaseOption = None,
) -> None:
    """Join `mmexam grade --shard K/N` runs and write the outputs for every student.

    Example: mmexam grade merge grades-1 grades-2 --out grades
    """
    from mmexam.grade.merge import merge_shards

    summary = merge_shards(list(shards), out, manual, review_url(review_database, out))
    show_summary(Console(), summary, None)


class _progress:
    """A rich progress bar fed by the core's progress events."""

    def __init__(self, console: Console):
        self.bar = Progress(
            TextColumn("grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[student]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None

    def __enter__(self):
        self.bar.__enter__()
        return self.tell

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def tell(self, event) -> None:
        if event.event == "start":
            self.task = self.bar.add_task("grade", total=event.total, student="")
        elif event.event == "student" and self.task is not None:
            self.bar.update(self.task, advance=1, student=event.student or "")


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.1f}"


def show_summary(console: Console, summary, shard: tuple[int, int] | None) -> None:
    """The summary table: per part and total, then counts, outputs and notes."""
    console.print(_points_table(summary))
    _show_counts_and_notes(console, summary, shard)


def _points_table(summary) -> Table:
    """Mean, median, min and max per part and in total over the class (off-roster
    submissions left out), each from the students with nothing pending there: a
    pending answer is counted in the "pending" column, never as 0."""
    from mmexam.grade.results import split_off_roster

    info = summary.info
    results, _ = split_off_roster(info, summary.results)
    table = Table(title=f"{info.course} — {info.title}: {len(results)} submissions")
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("part", "left"),
        ("of", "right"),
        ("mean", "right"),
        ("median", "right"),
        ("min", "right"),
        ("max", "right"),
        ("pending", "right"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)
    graded = [r for r in results if r.items]

    def row(label: str, values: list[float], possible: float, pending: int) -> None:
        waiting = str(pending) if pending else ""
        if values:
            table.add_row(
                label,
                f"{possible:g}",
                _fmt(statistics.fmean(values)),
                _fmt(statistics.median(values)),
                _fmt(min(values)),
                _fmt(max(values)),
                waiting,
            )
        else:
            table.add_row(label, f"{possible:g}", "—", "—", "—", "—", waiting)

    for k, part in enumerate(info.parts, start=1):
        waiting = {r.id for r in graded for i in r.items if i.part == part.id and i.pending}
        values = [r.part_points(part.id) for r in graded if r.id not in waiting]
        title = f"{k}. {part.title}" + (" (bonus)" if part.bonus else "")
        row(title, values, part.points, len(waiting))
    table.add_section()
    final = [r.total for r in graded if not r.provisional]
    row("total", final, info.total_points, sum(1 for r in graded if r.provisional))
    return table


def _show_counts_and_notes(console: Console, summary, shard: tuple[int, int] | None) -> None:
    from mmexam.grade.results import split_off_roster

    info = summary.info
    results, _ = split_off_roster(info, summary.results)
    pending = sum(r.pending for r in results)
    problems = sum(1 for r in results if r.problems)
    console.print(
        f"graded {summary.graded}, reused {summary.reused} saved result(s); "
        f"{pending} answer(s) pending review (points not counted yet: fill "
        f"manual/*.csv and run again); {problems} submission(s) with problems"
    )
    intake = summary.intake
    if intake:
        console.print(f"intake: {len(intake)} decision(s) on how submissions were read:")
        for line in intake:
            console.print(f"  {line}", highlight=False, markup=False)
    if info.absent:
        console.print(f"no submission: {', '.join(info.absent)}", highlight=False)
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if shard is not None:
        console.print(
            f"shard {shard[0]}/{shard[1]} done: join the shards with "
            "`mmexam grade merge <their --out folders> --out grades`"
        )
        return
    for label, path in summary.outputs.items():
        console.print(f"{label}: {path}", highlight=False)


EXPORT_TARGETS = ("canvas", "moodle", "blackboard", "gradescope", "gradescope-autograder")


@grade.command("export")
def export(
    to: Annotated[
        str,
        typer.Option(
            "--to", help="canvas, moodle, blackboard, gradescope, or gradescope-autograder."
        ),
    ],
    grades_dir: Annotated[
        Path, typer.Argument(help="The --out folder of `mmexam grade` (grades.csv, run.json).")
    ] = Path("grades"),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: GRADES_DIR/<to>.csv or .zip)."),
    ] = None,
    assignment: Annotated[
        str | None,
        typer.Option("--assignment", help="The LMS column's name (default: the exam's title)."),
    ] = None,
    variants: Annotated[
        Path,
        typer.Option("--variants", help="variants.json, for the autograder's code tasks."),
    ] = Path("build/variants.json"),
    course: CourseOption = None,
) -> None:
    """Write grades.csv in an LMS's gradebook import format, or a Gradescope autograder bundle.

    Example: mmexam grade export --to canvas grades/
    """
    from mmexam.errors import UsageError

    if to not in EXPORT_TARGETS:
        raise UsageError(f"--to {to}: choose one of {', '.join(EXPORT_TARGETS)}")
    if to == "gradescope-autograder":
        _export_autograder(out or grades_dir / "autograder.zip", variants, course)
        return
    from mmexam.grade.exports import export_grades
    from mmexam.grade.outputs import write_if_changed

    result, text = export_grades(grades_dir, to, out, assignment)
    write_if_changed(result.path, text)
    typer.echo(f"wrote {result.path}: {result.rows} student(s) for {to}")
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)


def _export_autograder(out: Path, variants: Path, course: Path | None) -> None:
    from mmexam.bank import load_bank
    from mmexam.checks.tasks import list_tasks
    from mmexam.course import resolve_course
    from mmexam.grade.autograder import write_bundle

    found = resolve_course(course)
    bank = load_bank(found.bank, graders=found.graders, math=False)
    if variants.is_file():
        from mmexam.grade.inputs import load_manifest

        manifest, _ = load_manifest(variants)
        found_tasks = {
            _code_task(bank.questions.get(i.question), i.subpart)
            for s in manifest.students
            for i in s.items
            if i.kind == "code"
        }
        tasks = sorted(t for t in found_tasks if t is not None)
    else:
        tasks = list_tasks(found.graders)
    result = write_bundle(out, tasks, found.graders, bank.blueprint.title)
    typer.echo(
        f"wrote {result.path}: a Gradescope autograder for {', '.join(result.tasks)} "
        f"({result.points:g} points of checks; set the assignment's total to it)"
    )


def _code_task(question: object, subpart: int | None) -> str | None:
    """The code task of a code item (None when the bank no longer has it as code)."""
    from mmexam.bank.models import Code, CodePart, Problem

    body = question.parts[subpart or 0] if isinstance(question, Problem) else question
    return body.task if isinstance(body, Code | CodePart) else None
