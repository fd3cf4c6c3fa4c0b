"""Answer sheets from what grading wrote: the edge that reads files.

`mmexam grade` leaves one `StudentResult` per student in `<grades>/graded/`;
variants.json says which parameters and option orders each student saw; the
submissions folder holds the code. `read_sheets` joins the three into one
`Sheet` per student, the only input the comparison core needs.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pydantic import ValidationError

from mmexam.errors import MmexamError
from mmexam.exam import Item, Manifest
from mmexam.grade.results import ItemResult, StudentResult
from mmexam.grade.scoring import parse_number
from mmexam.grade.submissions import Entry, decode_text, find_file, read_submission
from mmexam.integrity.models import Choice, CodeFile, NumberAnswer, Sheet, TextAnswer
from mmexam.paths import GRADERS
from mmexam.starter import generate_starter

CHOICE_KINDS = ("mcq", "multi_select")
TEXT_KINDS = ("short_answer", "open")


class IntegrityError(MmexamError):
    """The integrity check cannot run (no graded results, no variants.json, a bad seating chart)."""


def read_results(grades: Path) -> list[StudentResult]:
    """Every graded student under `grades/graded/`, sorted by id."""
    folder = grades / "graded"
    if not folder.is_dir():
        raise IntegrityError(
            f"{grades}: no graded/ folder — run `mmexam grade SUBMISSIONS --out {grades}` first"
        )
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            results.append(StudentResult.model_validate_json(path.read_bytes()))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise IntegrityError(
                f"{path}: not a graded result ({where}: {first['msg']}) — grade again with "
                "this version of mmexam"
            ) from None
    if not results:
        raise IntegrityError(f"{folder}: no graded results — run `mmexam grade` first")
    return results


def read_manifest(path: Path) -> Manifest:
    """variants.json, as `mmexam build` wrote it."""
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise IntegrityError(
            f"{path}: no such file — pass the variants.json the exam was built with (--variants)"
        ) from None
    except ValidationError as error:
        raise IntegrityError(f"{path}: not a variants.json ({error.errors()[0]['msg']})") from None


def entry_for(submissions: Path, student: str) -> Entry | None:
    """The student's submission in mmexam's layout: a folder or a .zip named by their id."""
    folder, archive = submissions / student, submissions / f"{student}.zip"
    if folder.is_dir() and not folder.is_symlink():
        return Entry(student, folder, "folder")
    if archive.is_file() and not archive.is_symlink():
        return Entry(student, archive, "zip")
    return None


def read_code(
    submissions: Path | None, wanted: dict[str, set[str]], notes: list[str]
) -> dict[str, list[CodeFile]]:
    """The code files of each student: `wanted[student]` names the tasks on their paper."""
    found: dict[str, list[CodeFile]] = {}
    if submissions is None:
        notes.append("no --submissions folder: code was not compared")
        return found
    if not submissions.is_dir():
        raise IntegrityError(f"{submissions}: not a folder of submissions (--submissions)")
    missing = []
    for student, tasks in sorted(wanted.items()):
        entry = entry_for(submissions, student) if tasks else None
        if entry is None:
            missing += [student] if tasks else []
            continue
        sub = read_submission(entry)
        for task in sorted(tasks):
            name = find_file(sub, f"{task}.py")
            source = decode_text(sub, name) if name else None
            if name and source is not None:
                found.setdefault(student, []).append(CodeFile(task, name, source))
    if missing:
        notes.append(
            f"{submissions}: no folder or .zip for {len(missing)} student(s) "
            f"({', '.join(missing[:3])}{', …' if len(missing) > 3 else ''}) — their code was not "
            "compared"
        )
    return found


def task_sources(tasks: set[str], graders: Path = GRADERS) -> tuple[dict[str, str], dict[str, str]]:
    """The generated starter and the reference of each task: code every student may share."""
    starters: dict[str, str] = {}
    references: dict[str, str] = {}
    for task in sorted(tasks):
        reference = graders / task / "reference.py"
        if reference.is_file():
            references[task] = reference.read_text(encoding="utf-8")
            starters[task] = generate_starter(reference)
    return starters, references


def _printed(item: Item | None, chosen: list[int] | None) -> tuple[int, ...] | None:
    if chosen is None:
        return None
    if item is None or item.options is None:
        return tuple(sorted(chosen))
    return tuple(sorted(item.options.index(c) for c in chosen if c in item.options))


def _key(result: ItemResult) -> str:
    return result.review_key


def sheet_from(result: StudentResult, items: dict[str, Item], code: list[CodeFile]) -> Sheet:
    """One student's sheet from their graded result and their manifest entry."""
    choices, numbers, texts = [], [], []
    earned = possible = 0.0
    for it in result.items:
        if it.status == "auto" and it.points is not None and not it.bonus and it.kind != "code":
            earned += it.points
            possible += it.max_points
        item = items.get(it.number)
        if it.kind in CHOICE_KINDS and it.option_count:
            chosen = None if it.chosen is None else tuple(sorted(it.chosen))
            choices.append(
                Choice(
                    number=it.number,
                    key=_key(it),
                    multi=it.kind == "multi_select",
                    option_count=it.option_count,
                    chosen=chosen,
                    printed=_printed(item, it.chosen),
                    correct=tuple(sorted(it.key or ())),
                    order=tuple(item.options) if item and item.options else None,
                    earned=it.points or 0.0,
                    possible=it.max_points,
                    shown=it.answer_shown,
                )
            )
        elif it.kind == "numeric":
            raw = (it.answer or "").strip() or None
            params = json.dumps(item.params if item else {}, sort_keys=True)
            numbers.append(
                NumberAnswer(
                    number=it.number,
                    key=_key(it),
                    raw=raw,
                    value=parse_number(raw) if raw else None,
                    correct=it.points is not None and it.points >= it.max_points > 0,
                    params=params,
                )
            )
        elif it.kind in TEXT_KINDS and it.answer and it.answer.strip():
            reference = it.expected if it.kind == "short_answer" else None
            texts.append(TextAnswer(it.number, _key(it), it.answer.strip(), reference))
    return Sheet(
        id=result.id,
        name=result.name,
        earned=earned,
        possible=possible,
        choices=tuple(choices),
        numbers=tuple(numbers),
        texts=tuple(texts),
        code=tuple(code),
    )


def read_sheets(
    grades: Path, variants: Path, submissions: Path | None
) -> tuple[list[Sheet], set[str], list[str]]:
    """The sheets of every graded student with a paper, the code tasks seen, and notes."""
    results = read_results(grades)
    manifest = read_manifest(variants)
    papers = {s.id: {i.number: i for i in s.items} for s in manifest.students}
    notes = []
    kept = []
    for result in results:
        if result.id not in papers or not result.items:
            notes.append(f"{result.id}: not in variants.json or nothing graded — not compared")
            continue
        kept.append(result)
    wanted = {r.id: {i.code_task for i in r.items if i.code_task} for r in kept}
    code = read_code(submissions, wanted, notes)
    sheets = [sheet_from(r, papers[r.id], code.get(r.id, [])) for r in kept]
    tasks = {t for ts in wanted.values() for t in ts}
    return sheets, tasks, notes


def parse_seats(text: str, source: str = "seats.csv") -> dict[str, tuple[str, float, float]]:
    """A seating chart: columns id, row, seat (numbers) and optionally room."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [f for f in ("id", "row", "seat") if f not in fields]
    if missing:
        raise IntegrityError(
            f"{source}:1: missing column(s) {', '.join(missing)} — the header must name "
            "id, row, seat (and optionally room)"
        )
    seats: dict[str, tuple[str, float, float]] = {}
    for line, row in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        try:
            place = (row.get("room", ""), float(row["row"]), float(row["seat"]))
        except ValueError:
            raise IntegrityError(
                f"{source}:{line}: row and seat must be numbers, got {row['row']!r}, "
                f"{row['seat']!r}"
            ) from None
        if row["id"] in seats:
            raise IntegrityError(f"{source}:{line}: {row['id']} is seated twice")
        seats[row["id"]] = place
    return seats


def read_seats(path: Path) -> dict[str, tuple[str, float, float]]:
    try:
        return parse_seats(path.read_text(encoding="utf-8-sig"), str(path))
    except FileNotFoundError:
        raise IntegrityError(f"{path}: no such seating chart (--seats)") from None
