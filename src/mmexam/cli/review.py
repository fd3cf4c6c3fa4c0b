"""`mmexam review GRADES_DIR`: grade written answers by question slot in the browser.

Thin: parse the options, call `mmexam.serve.review`, print what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import app


@app.command()
def review(
    grades: Annotated[
        Path, typer.Argument(help="The folder `mmexam grade` wrote (with run.json).")
    ] = Path("grades"),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8001,
    manual: Annotated[
        Path, typer.Option("--manual", help="The CSV review sheets `mmexam grade` wrote.")
    ] = Path("manual"),
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="SQLite file or postgresql://… (default: GRADES_DIR/review.sqlite, which "
            "`mmexam grade` reads back).",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", help="The TAs' password (default: a new one, printed)."),
    ] = None,
    groups: Annotated[
        str,
        typer.Option(
            "--groups", help="How similar answers are proposed: auto, embedding or lexical."
        ),
    ] = "auto",
    import_sheets: Annotated[
        bool, typer.Option("--import-sheets", help="Read points typed in the CSV sheets, exit.")
    ] = False,
    export_sheets: Annotated[
        Path | None, typer.Option("--export-sheets", help="Write the review as CSV sheets, exit.")
    ] = None,
    import_regrades: Annotated[
        Path | None,
        typer.Option("--import-regrades", help="Queue regrade requests (student,number,request)."),
    ] = None,
) -> None:
    """Serve the review of a graded exam: by slot, answer groups, rubric, regrades.

    Example: mmexam review grades/ --port 8001
    """
    from mmexam.serve.review.actions import import_regrades as queue_regrades
    from mmexam.serve.review.server import prepare_review, run_review
    from mmexam.serve.review.workspace import export_sheets as write_sheets
    from mmexam.serve.review.workspace import import_sheets as read_sheets

    prepared = prepare_review(grades, manual, database=database, password=password, measure=groups)
    space, store = prepared.config.space, prepared.store
    typer.echo(f"{prepared.added} new answer(s) grouped ({prepared.measure} similarity)")
    if import_sheets or export_sheets or import_regrades:
        if import_sheets:
            typer.echo(
                f"imported {read_sheets(store, space, 'csv-import')} answer(s) from {manual}"
            )
        if import_regrades:
            known = {f"{r.id}|{i.number}" for r in space.results for i in r.items}
            count = queue_regrades(store, import_regrades, "csv-import", known)
            typer.echo(f"queued {count} regrade request(s)")
        if export_sheets:
            written = write_sheets(store, space, export_sheets)
            typer.echo(f"wrote {len(written)} sheet(s) to {export_sheets}")
        return
    if prepared.password:
        typer.echo(f"review password: {prepared.password}")
    typer.echo(f"review page: http://{host}:{port}/ (Ctrl+C stops)")
    run_review(prepared, host, port)
