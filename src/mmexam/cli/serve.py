"""`mmexam serve`: the online exam, its access codes, and the export to grading.

Thin: parse the options, call `mmexam.serve`, print what it returns.
`mmexam serve BUILD` is short for `mmexam serve run BUILD`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, DefaultCommandGroup, NoSandboxOption, app


class ServeGroup(DefaultCommandGroup):
    """`mmexam serve ARGS` means `mmexam serve run ARGS` unless ARGS starts with a subcommand."""

    default_command = "run"
    run_without_args = True


serve = typer.Typer(
    cls=ServeGroup,
    help="The online exam: `mmexam serve BUILD` (short for `mmexam serve run BUILD`), "
    "access codes with `mmexam serve codes`, answers to grading with `mmexam serve export`.",
)
app.add_typer(serve, name="serve")

BuildArg = Annotated[
    Path, typer.Argument(help="The folder `mmexam build --roster` wrote (with variants.json).")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLite file or postgresql://user@host/db (default: BUILD/serve.sqlite).",
    ),
]
BankOption = Annotated[
    Path | None, typer.Option("--bank", help="The bank the exam was built from (default: its own).")
]


@serve.command("run")
def run(
    build: BuildArg = Path("build"),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    database: DatabaseOption = None,
    bank: BankOption = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="When the exam starts, e.g. '2026-12-10 14:00' (local time)."),
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option("--minutes", help="The exam's length (default: the blueprint's)."),
    ] = None,
    roster: Annotated[
        Path | None,
        typer.Option("--roster", help="Roster CSV whose extra_minutes column gives extra time."),
    ] = None,
    staff_password: Annotated[
        str | None,
        typer.Option(
            "--staff-password",
            envvar="MMEXAM_STAFF_PASSWORD",
            help="Password of the staff pages (default: the stored one, or a new one printed).",
        ),
    ] = None,
    check_workers: Annotated[
        int, typer.Option("--check-workers", min=1, help="Public-check runs at the same time.")
    ] = 2,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Issue new codes for everyone and print them (trying it out)."),
    ] = False,
    course: CourseOption = None,
    no_sandbox: NoSandboxOption = False,
) -> None:
    """Serve the students' papers in the browser, autosaved, with the server's clock.

    Example: mmexam serve build --start "2026-12-10 14:00" --minutes 60
    """
    from mmexam.course import resolve_course
    from mmexam.serve.server import prepare
    from mmexam.serve.server import run as serve_forever

    prepared = prepare(
        build,
        database=database,
        bank=bank,
        start=start,
        minutes=minutes,
        roster=roster,
        staff_password=staff_password,
        check_workers=check_workers,
        demo=demo,
        course=resolve_course(course),
        require_sandbox=not no_sandbox,
    )
    for warning in prepared.config.warnings:
        typer.echo(warning, err=True)
    url = f"http://{host}:{port}/"
    config = prepared.config
    from datetime import datetime

    begins = datetime.fromtimestamp(config.start).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    typer.echo(
        f"serving {len(config.exam.students)} papers at {url} — starts {begins}, "
        f"{config.minutes:g} minutes (+ extra time)"
    )
    if prepared.demo_codes:
        typer.echo("demo access codes (new ones each --demo start):")
        for code in prepared.demo_codes:
            typer.echo(f"  {code.student}  {code.code}  {code.name}")
    if prepared.staff_password:
        typer.echo(f"staff page: {url}staff — password: {prepared.staff_password} (keep it)")
    else:
        typer.echo(f"staff page: {url}staff")
    serve_forever(prepared, host, port)


@serve.command("codes")
def codes(
    build: BuildArg = Path("build"),
    database: DatabaseOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for codes.csv and codes.pdf (default: BUILD)."),
    ] = None,
    student: Annotated[
        list[str] | None, typer.Option("--student", help="Only this student (repeatable).")
    ] = None,
    regenerate: Annotated[
        bool,
        typer.Option("--regenerate", help="Replace existing codes (the old ones stop working)."),
    ] = False,
    url: Annotated[
        str, typer.Option("--url", help="Where students log in, printed on the slips.")
    ] = "http://127.0.0.1:8000/",
    course: CourseOption = None,
) -> None:
    """Issue access codes: codes.csv and printable slips (codes.pdf); only hashes are stored.

    Example: mmexam serve codes build --url https://exam.example.edu/
    """
    from mmexam.course import resolve_course
    from mmexam.serve.codes import issue_codes, write_codes
    from mmexam.serve.server import open_exam

    exam, db = open_exam(build, database, course=resolve_course(course))
    result = issue_codes(db, exam, only=student, regenerate=regenerate or bool(student))
    blueprint = exam.bank.blueprint
    write_codes(result, out or build, blueprint.title, blueprint.course, url)
    if result.issued:
        typer.echo(f"issued {len(result.issued)} codes: {result.csv} and {result.pdf}")
    if result.kept:
        typer.echo(
            f"{len(result.kept)} students already have a code and keep it "
            "(--regenerate or --student ID to replace)"
        )


@serve.command("export")
def export(
    build: BuildArg = Path("build"),
    out: Annotated[
        Path, typer.Option("--out", help="Folder of submissions for `mmexam grade`.")
    ] = Path("submissions"),
    database: DatabaseOption = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="The answers as they were at this time (the revision log)."),
    ] = None,
    course: CourseOption = None,
) -> None:
    """Write each student's last saved answers as answers.yaml + code files for grading.

    Example: mmexam serve export build --out submissions/
    """
    from mmexam.course import resolve_course
    from mmexam.serve.export import export_submissions
    from mmexam.serve.server import open_exam, parse_start

    exam, db = open_exam(build, database, course=resolve_course(course))
    result = export_submissions(db, exam, out, parse_start(at) if at else None)
    typer.echo(f"exported {len(result.written)} submissions to {out}")
    if result.never_logged_in:
        typer.echo(
            f"{len(result.never_logged_in)} never logged in (no folder): "
            + ", ".join(result.never_logged_in)
        )
