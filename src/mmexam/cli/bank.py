"""`mmexam bank ...`: inspect the question bank (`mmexam bank stats`, `mmexam bank learn`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmexam.cli.app import CourseOption, app

bank_app = typer.Typer(help="Inspect the question bank.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")


def _draws(seeds: str, roster: Path | None, seed: int) -> tuple[list[tuple[int, str]], str]:
    """(seed, student) pairs to survey, and how to name them."""
    if roster is not None:
        from mmexam.roster import parse_roster

        entries = parse_roster(roster.read_text(encoding="utf-8"), str(roster))
        return [(seed, e.id) for e in entries], f"{len(entries)} papers of {roster} (seed {seed})"
    try:
        first, last = (int(x) for x in seeds.split(":"))
    except ValueError as error:
        raise typer.BadParameter(
            f"'{seeds}' is not a range like 0:2000", param_hint="--seeds"
        ) from error
    return [(k, "student") for k in range(first, last)], f"{last - first} papers (seeds {seeds})"


@bank_app.command()
def stats(
    bank: Annotated[
        Path | None,
        typer.Argument(help="Bank folder (exam.yaml + question files); default: the course's."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of tables.")
    ] = False,
    seeds: Annotated[
        str, typer.Option(help="Draw one paper per seed in START:STOP and survey them.")
    ] = "0:2000",
    roster: Annotated[
        Path | None,
        typer.Option(help="Survey this roster's papers (with --seed) instead of a seed range."),
    ] = None,
    seed: Annotated[int, typer.Option(help="The exam seed of the roster's papers.")] = 0,
    course: CourseOption = None,
) -> None:
    """Count the bank's questions; survey drawn papers (overlaps, difficulty spread, coverage).

    Example: mmexam bank stats --seeds 0:2000
    """
    from mmexam.bank import load_bank
    from mmexam.bank.stats import bank_stats
    from mmexam.build.survey import survey
    from mmexam.course import resolve_course

    found = resolve_course(course)
    loaded = load_bank(bank or found.bank, graders=found.graders, math=False)
    figures = bank_stats(loaded)
    draws, drawn = _draws(seeds, roster, seed)
    papers = survey(loaded, draws)
    if json_output:
        shown = {**figures.model_dump(mode="json"), "papers": papers.model_dump(mode="json")}
        typer.echo(json.dumps(shown, indent=2))
        return
    _show(figures, papers, drawn)


def _show(figures, papers, drawn: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    parts = Table(
        title=f"{figures.questions} questions, {figures.parameterised} parameterised, "
        f"{figures.practice} in practice mode"
    )
    parts.add_column("part")
    parts.add_column("questions", justify="right")
    parts.add_column("draws", justify="right")
    parts.add_column("points", justify="right")
    parts.add_column("kinds")
    for part in figures.parts:
        shown = ", ".join(f"{n} {k}" for k, n in part.kinds.items())
        if part.part_kinds:
            shown += " (" + ", ".join(f"{n} {k}" for k, n in part.part_kinds.items()) + ")"
        parts.add_row(
            part.id + (" (bonus)" if part.bonus else ""),
            str(part.questions),
            str(part.pick),
            f"{part.points:g}",
            shown,
        )
    console.print(parts)
    for title, counts in (
        ("kind", figures.kinds),
        ("problem part kind", figures.part_kinds),
        ("difficulty", figures.difficulty),
    ):
        table = Table(title=f"per {title}")
        table.add_column(title)
        table.add_column("questions", justify="right")
        for name, count in counts.items():
            table.add_row(name, str(count))
        console.print(table)
    coverage = Table(title=f"per topic: coverage of the lecture ({drawn})")
    for column in ("topic", "questions", "parts", "papers asking it"):
        coverage.add_column(column, justify="left" if column in ("topic", "parts") else "right")
    for topic in figures.coverage:
        coverage.add_row(
            topic.topic + ("" if topic.questions else " (uncovered)"),
            str(topic.questions),
            ", ".join(f"{n} {p}" for p, n in topic.parts.items()),
            f"{papers.topics.get(topic.topic, 0.0):.0%}",
        )
    console.print(coverage)
    band = (
        f"band ±{papers.band:g} around {papers.target:.3f}: {papers.outside_band} outside"
        if papers.band is not None
        else f"no band (target {papers.target:.3f})"
    )
    console.print(
        f"{drawn}: {papers.overlapping} with an overlap ({papers.overlap_share:.1%}); "
        f"expected score {papers.expected_min:.3f}–{papers.expected_max:.3f} "
        f"(spread {papers.spread:.3f}; {band}); drawn in {papers.seconds:.1f} s"
    )
    for pair, count in list(papers.pairs.items())[:10]:
        console.print(f"  {pair}: {count} papers")


@bank_app.command("export")
def export(
    to: Annotated[
        str, typer.Option("--to", help="moodle-xml or qti (QTI 1.2, as Canvas imports).")
    ],
    bank: Annotated[
        Path | None,
        typer.Argument(help="Bank folder (exam.yaml + question files); default: the course's."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write (default: bank.xml or bank-qti.zip)."),
    ] = None,
    versions: Annotated[
        int,
        typer.Option("--versions", min=1, help="Drawn versions of each parameterised question."),
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the drawn versions.")] = 0,
    course: CourseOption = None,
) -> None:
    """Export the auto-gradable questions as an LMS quiz bank (Moodle XML or QTI).

    MCQ, multi-select and numeric questions, and short answers as essays with the rubric
    for the graders; math stays LaTeX for the LMS's MathJax.

    Example: mmexam bank export --to moodle-xml --out midterm.xml
    """
    from mmexam.bank import load_bank
    from mmexam.bank.export import lms_items
    from mmexam.course import resolve_course
    from mmexam.errors import UsageError
    from mmexam.files import atomic_write

    if to not in ("moodle-xml", "qti"):
        raise UsageError(f"--to {to}: choose moodle-xml or qti")
    found = resolve_course(course)
    items = lms_items(
        load_bank(bank or found.bank, graders=found.graders, math=False),
        versions=versions,
        seed=seed,
    )
    if to == "moodle-xml":
        from mmexam.bank.export.moodle import moodle_xml

        target = out or Path("bank.xml")
        atomic_write(target, moodle_xml(items))
    else:
        from mmexam.bank.export.qti import qti_package

        target = out or Path("bank-qti.zip")
        atomic_write(target, qti_package(items))
    groups = len({i.group for i in items.items})
    typer.echo(f"wrote {target}: {len(items.items)} items from {groups} questions ({to})")
    for note in items.notes:
        typer.echo(f"note: {note}", err=True)


@bank_app.command()
def learn(
    grades: Annotated[
        Path, typer.Argument(help="The output folder of `mmexam grade` (holds graded/).")
    ],
    bank: Annotated[
        Path | None, typer.Option(help="Bank folder; default: the course's.", file_okay=False)
    ] = None,
    min_n: Annotated[
        int, typer.Option("--min-n", min=2, help="Fewest students a statistic is used with.")
    ] = 30,
    course: CourseOption = None,
) -> None:
    """Measure each question's difficulty (p), discrimination (r_pb) and n from graded results.

    Writes item-statistics.json beside the bank (the YAML is left as written); below
    --min-n students nothing is claimed and the draw keeps the authored difficulty.

    Example: mmexam bank learn grades/
    """
    from mmexam.bank import load_bank
    from mmexam.course import resolve_course
    from mmexam.grade.itemstats import learn as measure

    found = resolve_course(course)
    loaded = load_bank(bank or found.bank, graders=found.graders, math=False)
    learned = measure(grades, loaded, min_n=min_n)
    for qid, item in learned.items.items():
        if item.n < learned.min_n:
            typer.echo(f"  {qid}: n = {item.n} < {learned.min_n}: nothing claimed")
        else:
            r_pb = "—" if item.r_pb is None else f"{item.r_pb:.2f}"
            typer.echo(f"  {qid}: n = {item.n}, p = {item.p:.2f}, r_pb = {r_pb}")
    for qid in learned.stale:
        typer.echo(f"  {qid}: changed since it was graded — not measured")
    for qid in learned.unknown:
        typer.echo(f"  {qid}: no longer in the bank — not measured")
    used = len(learned.items) - len(learned.too_small)
    typer.echo(
        f"{learned.students} students, {len(learned.items)} questions measured, {used} with "
        f"n >= {learned.min_n} (used by the draw); wrote {learned.path}"
    )
