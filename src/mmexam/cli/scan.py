"""`mmexam scan SCANS…`: scanned papers in, answers.yaml per student out;
`mmexam scan resolve`: a person's answers to the doubts applied.

Thin: parse, call `mmexam.scan.scan_papers` or `mmexam.scan.resolve.resolve`, print
what they found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from mmexam.cli.app import DefaultCommandGroup, app


class ScanGroup(DefaultCommandGroup):
    """`mmexam scan FILES…` is short for `mmexam scan read FILES…`."""

    default_command = "read"


scan = typer.Typer(
    cls=ScanGroup,
    help="Read scanned paper exams: `mmexam scan SCANS… --build build/ --out scans/` "
    "(short for `mmexam scan read`), then settle doubts with `mmexam scan resolve`.",
    no_args_is_help=True,
)
app.add_typer(scan, name="scan")

OutOption = Annotated[
    Path, typer.Option("--out", help="Folder for answers, crops, resolve.csv, the report.")
]


@scan.command("read")
def read(
    scans: Annotated[
        list[Path], typer.Argument(help="PDFs and images (PNG/JPEG/TIFF) or folders of them.")
    ],
    build: Annotated[
        Path, typer.Option("--build", help="The folder `mmexam build` wrote (layout.json).")
    ] = Path("build"),
    out: OutOption = Path("scans"),
    dpi: Annotated[
        int, typer.Option("--dpi", min=72, max=600, help="Resolution PDFs are rendered at.")
    ] = 200,
    empty: Annotated[float, typer.Option(help="Darkness below which a box is empty.")] = 0.06,
    tick: Annotated[float, typer.Option(help="Darkness from which a box is ticked.")] = 0.14,
    cancel: Annotated[
        float, typer.Option(help="Darkness from which a ticked box may be filled in (a doubt).")
    ] = 0.78,
    cancelled: Annotated[
        float, typer.Option(help="Darkness from which a box is filled in: cancelled.")
    ] = 0.90,
    jobs: Annotated[
        int | None, typer.Option("--jobs", min=1, help="Worker processes (default: all cores).")
    ] = None,
) -> None:
    """Read scanned papers: identify each page, align it, read its boxes, crop its answers.

    Example: mmexam scan scans/*.pdf --build build/ --out scans/
    """
    from mmexam.scan import scan_papers
    from mmexam.scan.boxes import Thresholds

    limits = Thresholds(empty=empty, tick=tick, cancel=cancel, cancelled=cancelled)
    result = scan_papers(scans, build, out, limits=limits, dpi=dpi, jobs=jobs)
    show(Console(), result)


@scan.command("resolve")
def resolve(
    out: Annotated[Path, typer.Argument(help="The --out folder of `mmexam scan`.")] = Path("scans"),
) -> None:
    """Apply the answers written in OUT/resolve.csv and write the settled papers' answers.

    Example: mmexam scan resolve scans/
    """
    from mmexam.scan import ScanResult
    from mmexam.scan.resolve import resolve as apply

    result = ScanResult(out)
    apply(out, result)
    show(Console(), result)


def show(console: Console, result: Any) -> None:
    """One line per problem page, then what was written and what waits for a person."""
    for problem in result.problems:
        console.print(
            f"[yellow]page not used:[/] {escape(problem.source)}: {escape(problem.message)}",
            highlight=False,
        )
    seconds = f" in {result.seconds:.1f} s" if result.seconds else ""
    pages = f"{result.pages} pages, " if result.pages else ""
    console.print(
        f"{pages}{len(result.papers)} papers{seconds}: {len(result.written)} answers.yaml "
        f"written, {len(result.waiting)} waiting for a person ({result.doubts} doubts)",
        highlight=False,
    )
    if result.waiting:
        console.print(
            f"settle them: write the answer column of {result.out / 'resolve.csv'} "
            f"(pictures in {result.out / 'scan-report.html'}), then `mmexam scan resolve {result.out}`",
            highlight=False,
        )
    console.print(f"report: {result.out / 'scan-report.html'}", highlight=False)
