"""Load a bank folder: read every YAML file, validate everything, report all problems.

`check_bank(path)` never raises for bad input: it returns a `BankReport`
with every problem as `file:line:col: id: what — how to fix`, sorted by
file and line, and the `Bank` when there are none. `load_bank(path)`
returns the `Bank` or raises `BankError` naming the first problem.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mmexam.bank import content, rules
from mmexam.bank.bank import Bank
from mmexam.bank.context import Context, Entry
from mmexam.bank.explain import describe, did_you_mean, dotted, explain, suggest
from mmexam.bank.mathcache import MarkupCache, cache_dir
from mmexam.bank.models import (
    Blueprint,
    Code,
    Mcq,
    MultiSelect,
    Numeric,
    Open,
    Problem,
    ShortAnswer,
)
from mmexam.bank.overlap import undeclared
from mmexam.bank.reader import Document, ReadError, read_file
from mmexam.bank.report import BankReport
from mmexam.bank.report import Problem as Finding
from mmexam.bank.statistics import STATISTICS_FILE, StatisticsFile, read_statistics
from mmexam.errors import BankError

BLUEPRINT = "exam.yaml"
KINDS: dict[str, type[BaseModel]] = {
    "mcq": Mcq,
    "multi_select": MultiSelect,
    "numeric": Numeric,
    "short_answer": ShortAnswer,
    "code": Code,
    "open": Open,
    "problem": Problem,
}
FILE_KEYS = ("questions",)


def bank_files(root: Path) -> list[Path]:
    """Every .yaml/.yml file under `root` except hidden ones, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: (p.parent != root, str(p)))


def check_bank(
    path: Path | str,
    *,
    graders: Path | None = None,
    math: bool = True,
    cache: bool = True,
    overlaps: bool = False,
) -> BankReport:
    """Validate the bank folder at `path`; see the module docstring.

    graders: the folder of code tasks (default: the shipped graders/).
    math: convert every formula and typeset it with Typst (the slow part).
    cache: remember markup results across runs (see `mathcache`).
    overlaps: also look for questions that ask alike without an `excludes:` (warnings).
    """
    # Loading builds many small objects and no reference cycles worth
    # collecting: the cyclic GC would only rescan them again and again.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_bank(path, graders=graders, math=math, cache=cache, overlaps=overlaps)
    finally:
        if enabled:
            gc.enable()


def _check_bank(
    path: Path | str, *, graders: Path | None, math: bool, cache: bool, overlaps: bool
) -> BankReport:
    from mmexam.paths import GRADERS

    root = Path(path)
    ctx = Context(root=root, graders=Path(graders) if graders is not None else GRADERS)
    ctx.tasks = rules.Tasks(ctx.graders)
    report = BankReport(bank=None)

    if not root.exists():
        ctx.add(
            str(root), 0, 0, None, "no such folder — give the bank folder (the one with exam.yaml)"
        )
        return _finish(report, ctx)
    if root.is_file():
        if root.name != BLUEPRINT:
            ctx.add(
                str(root),
                0,
                0,
                None,
                "is a file — give the bank folder that holds it and exam.yaml",
            )
            return _finish(report, ctx)
        root = root.parent
        ctx.root = root

    files = bank_files(root)
    report.files = [str(f) for f in files]
    blueprint_path = root / BLUEPRINT
    if not blueprint_path.is_file():
        ctx.add(
            str(blueprint_path),
            0,
            0,
            None,
            "missing: a bank needs exam.yaml (the "
            "blueprint) — see `mmexam schema --blueprint` for its format",
        )
    _load_and_check(ctx, files, blueprint_path, math=math, cache=cache)

    statistics = _statistics(ctx, root)
    if not ctx.problems and ctx.blueprint is not None:
        report.bank = Bank(
            root=root,
            blueprint=ctx.blueprint,
            questions={e.question.id: e.question for e in ctx.entries},
            sources={e.question.id: (e.file, e.doc.where(e.path)[0]) for e in ctx.entries},
            statistics=statistics,
        )
        if overlaps:
            report.warnings = overlap_warnings(ctx)
    return _finish(report, ctx)


def _load_and_check(
    ctx: Context, files: list[Path], blueprint_path: Path, *, math: bool, cache: bool
) -> None:
    """Load every file of the bank into `ctx`, then run the rules on what loaded."""
    for file in files:
        if file == blueprint_path:
            _load_blueprint(ctx, file)
        else:
            _load_questions(ctx, file)

    rules.check_ids(ctx)
    rules.check_excludes(ctx)
    sites: list[Any] = []
    for entry in ctx.valid():
        rules.check_question(ctx, entry)
        content.check_templates(ctx, entry, sites)
    rules.check_blueprint(ctx)
    if math:
        sites.extend(content.blueprint_sites(ctx))
        verdicts = MarkupCache(cache_dir() if cache else None)
        content.check_markup(ctx, sites, verdicts)
        verdicts.save()


def _statistics(ctx: Context, root: Path) -> StatisticsFile | None:
    try:
        return read_statistics(root)
    except BankError as error:
        ctx.add(str(root / STATISTICS_FILE), 0, 0, None, str(error).split(": ", 1)[1])
        return None


def overlap_warnings(ctx: Context) -> list[Finding]:
    """Suspected overlaps no `excludes:` declares, at the first question of each pair."""
    entries = {e.question.id: e for e in ctx.entries}
    found = []
    for pair in undeclared({qid: e.question for qid, e in entries.items()}):
        entry = entries[pair.first]
        line, col = entry.doc.where(entry.path)
        other = f"{pair.second}{pair.where[1]}"
        found.append(
            Finding(
                entry.file,
                line,
                col,
                pair.first,
                f"warning: {pair.first}{pair.where[0]} and {other} ask alike (similarity "
                f"{pair.score:.2f}) — if one repeats or gives away the other, add "
                f"`excludes: [{pair.second}]` to either; otherwise reword one",
            )
        )
    return found


def _finish(report: BankReport, ctx: Context) -> BankReport:
    report.problems = sorted(set(ctx.problems), key=lambda p: (p.file, p.line, p.col, p.message))
    return report


def load_bank(path: Path | str, *, graders: Path | None = None, math: bool = True) -> Bank:
    """The validated bank at `path`; raises BankError naming the first problem.

    math=False skips converting and typesetting formulas (for callers that only count).
    """
    report = check_bank(path, graders=graders, math=math)
    if report.bank is None:
        first = report.problems[0] if report.problems else "the bank could not be read"
        more = len(report.problems) - 1
        tail = f" (and {more} more: run `mmexam validate {path}`)" if more > 0 else ""
        raise BankError(f"{first}{tail}")
    return report.bank


# ---------------------------------------------------------------- reading


def _read(ctx: Context, file: Path) -> Document | None:
    shown = str(file)
    try:
        doc = read_file(file)
    except ReadError as error:
        problem = error.problem
        ctx.add(shown, problem.line, problem.col, None, problem.message)
        return None
    except OSError as error:
        ctx.add(shown, 0, 0, None, f"cannot be read ({error.strerror}) — check its permissions")
        return None
    for problem in doc.problems:
        ctx.add(shown, problem.line, problem.col, None, problem.message)
    return doc


def _top_level(ctx: Context, file: Path, doc: Document, what: str) -> bool:
    """Whether the file's top level is a mapping; reports why not."""
    shown = str(file)
    if doc.data is None:
        ctx.add(shown, 1, 1, None, f"the file is empty — {what}, or delete the file")
        return False
    if isinstance(doc.data, list):
        ctx.add(
            shown,
            *doc.where(()),
            None,
            f"the top level is a list, but a bank file is a mapping — {what}",
        )
        return False
    if not isinstance(doc.data, dict):
        ctx.add(
            shown,
            *doc.where(()),
            None,
            f"the top level is {describe(doc.data)}, but a bank file is a mapping — {what}",
        )
        return False
    return True


def _load_blueprint(ctx: Context, file: Path) -> None:
    doc = _read(ctx, file)
    if doc is None:
        return
    ctx.blueprint_file = str(file)
    ctx.blueprint_doc = doc
    if not _top_level(
        ctx, file, doc, "write the blueprint (course, title, parts, ...) as key: value lines"
    ):
        return
    try:
        ctx.blueprint = Blueprint.model_validate(doc.data)
    except ValidationError as error:
        for item in explain(error, doc.data, Blueprint):
            line, col = doc.where(item.path, key=item.at_key)
            ctx.add(str(file), line, col, _part_label(doc.data, item.path), item.message)


def _part_label(data: Any, path: tuple) -> str | None:
    if len(path) >= 2 and path[0] == "parts" and isinstance(path[1], int):
        try:
            part = data["parts"][path[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(part, dict) and isinstance(part.get("id"), str):
            return f"part {part['id']}"
    return None


def _load_questions(ctx: Context, file: Path) -> None:
    doc = _read(ctx, file)
    if doc is None:
        return
    shown = str(file)
    fix = "start the file with 'questions:' and list the questions under it"
    if not _top_level(ctx, file, doc, fix):
        return
    for key in doc.data:
        if key not in FILE_KEYS:
            ctx.add(
                shown,
                *doc.where((key,), key=True),
                None,
                f"unknown key '{key}' — "
                f"{did_you_mean(str(key), FILE_KEYS, listing='a question file holds only')}",
            )
    if "questions" not in doc.data:
        if not any(suggest(str(key), FILE_KEYS) for key in doc.data):
            ctx.add(shown, *doc.where(()), None, f"no 'questions:' key — {fix}")
        return
    questions = doc.data["questions"]
    if questions is None:
        ctx.add(
            shown,
            *doc.where(("questions",)),
            None,
            "'questions:' is empty — list questions under it, or write 'questions: []'",
        )
        return
    if not isinstance(questions, list):
        ctx.add(
            shown,
            *doc.where(("questions",)),
            None,
            f"questions: expected a list (lines starting with '- '), got {describe(questions)}",
        )
        return
    for index, item in enumerate(questions):
        entry = Entry(shown, doc, ("questions", index), item)
        ctx.entries.append(entry)
        _validate_question(ctx, entry)


def _validate_question(ctx: Context, entry: Entry) -> None:
    item = entry.data
    if not isinstance(item, dict):
        ctx.at(
            entry,
            (),
            f"expected a question (a mapping of id, kind, text, ...), got {describe(item)}",
        )
        return
    kind = item.get("kind")
    if kind is None:
        ctx.at(entry, (), f"missing 'kind' — add kind: one of {', '.join(KINDS)}")
        return
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        ctx.at(
            entry,
            ("kind",),
            f"kind '{kind}' is not a question kind — {did_you_mean(str(kind), list(KINDS))}",
        )
        return
    try:
        entry.question = model.model_validate(item)
    except ValidationError as error:
        for problem in explain(error, item, model):
            ctx.at(entry, problem.path, problem.message, key=problem.at_key)


__all__ = ["BLUEPRINT", "KINDS", "bank_files", "check_bank", "dotted", "load_bank"]
