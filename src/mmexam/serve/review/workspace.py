"""A grades folder opened for review: the run's results, the bank's rubric, the totals.

The totals a TA sees are computed exactly as a re-run of `mmexam grade` writes
grades.csv: the cached automatic results, the CSV sheets in manual/, and the
saved review over them (`mmexam.grade.review_state.overlay`, then
`mmexam.grade.manual.apply_reviews`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mmexam.errors import MmexamError
from mmexam.grade import manual
from mmexam.grade.manual import Sheet
from mmexam.grade.outputs import grades_csv
from mmexam.grade.results import RunInfo, StudentResult, load_result, result_path
from mmexam.grade.review_state import REVIEW_DB, SavedReview, answer_id, overlay
from mmexam.serve.review.store import ReviewStore


class ReviewSetupError(MmexamError):
    """The grades folder cannot be reviewed (no run.json, no results)."""


@dataclass
class Workspace:
    """What `mmexam review` works on."""

    grades: Path
    manual: Path
    info: RunInfo
    results: list[StudentResult]
    rubric: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    @property
    def database(self) -> Path:
        return self.grades / REVIEW_DB

    def sheets(self) -> dict[str, Sheet]:
        return manual.read_sheets(self.manual)

    def reviewed(self, saved: SavedReview) -> list[StudentResult]:
        """Every student's result with the sheets and the saved review laid over it."""
        results, sheets = overlay(self.results, self.sheets(), saved)
        return manual.apply_reviews(results, sheets)[0]

    def grades_csv(self, saved: SavedReview) -> str:
        return grades_csv(self.info, self.reviewed(saved))

    def totals(self, saved: SavedReview) -> dict[str, dict[str, float | int]]:
        return {
            r.id: {"total": r.total, "bonus": r.bonus_total, "pending": r.pending}
            for r in self.reviewed(saved)
        }


def open_workspace(grades: Path, manual_dir: Path) -> Workspace:
    """Read run.json and every student's cached result; a missing run is a `ReviewSetupError`."""
    run = grades / "run.json"
    if not run.is_file():
        raise ReviewSetupError(
            f"{run}: not found — run `mmexam grade SUBMISSIONS --out {grades}` first"
        )
    info = RunInfo.model_validate_json(run.read_text(encoding="utf-8"))
    results = []
    for sid in info.students:
        result = load_result(result_path(grades, sid))
        if result is None:
            raise ReviewSetupError(
                f"{result_path(grades, sid)}: missing or unreadable — run `mmexam grade` again"
            )
        results.append(result)
    space = Workspace(grades, manual_dir, info, results)
    space.rubric = bank_rubric(info, results)
    return space


def bank_rubric(info: RunInfo, results: list[StudentResult]) -> dict[str, list[tuple[float, str]]]:
    """The bank's rubric items of every written question the results hold, by review key
    (scaled to the item's points); code written on paper gets one item per function the
    question covers; keys whose question the bank lacks get none."""
    from mmexam.bank import load_bank

    if not info.bank or not Path(info.bank).is_dir():
        return {}
    bank = load_bank(Path(info.bank))
    out: dict[str, list[tuple[float, str]]] = {}
    for result in results:
        for item in result.items:
            on_paper = item.kind == "code" and item.scanned
            if (item.kind not in ("short_answer", "open") and not on_paper) or (
                item.review_key in out
            ):
                continue
            question = bank.questions.get(item.question)
            body = question
            if question is not None and item.subpart is not None:
                body = getattr(question, "parts", [None])[item.subpart]
            if on_paper:  # code written on paper: one item per function, points shared
                names = list(getattr(body, "functions", None) or [])
                share = round(item.max_points / max(1, len(names)), 4)
                out[item.review_key] = [(share, f"{name}() is correct") for name in names]
                continue
            items = list(getattr(body, "rubric", None) or [])
            total = sum(r.points for r in items) or 1.0
            scale = item.max_points / total
            out[item.review_key] = [(round(r.points * scale, 4), r.description) for r in items]
    return out


def import_sheets(store: ReviewStore, space: Workspace, who: str) -> int:
    """Bring points and comments typed in manual/*.csv into the review: the adjustment makes
    the answer's points equal the typed ones. How many answers changed."""
    saved = store.saved()
    numbers = {(r.id, i.review_key): i.number for r in space.results for i in r.items}
    changed = 0
    for key, sheet in space.sheets().items():
        for student, row in sheet.rows.items():
            number = numbers.get((student, key))
            if number is None or row.points is None:
                continue
            aid = answer_id(student, number)
            decision = saved.decisions.get(aid)
            if decision is not None and decision.points == row.points:
                continue
            current = store.answer(aid)
            rubric_sum = _rubric_sum(store, aid)
            store.set_note(aid, current["version"], row.points - rubric_sum, row.comment or "", who)
            changed += 1
    return changed


def _rubric_sum(store: ReviewStore, aid: str) -> float:
    view = store.answer(aid)
    slot = store.slot(view["number"])
    items = {i["id"]: i["points"] for i in slot["rubric"].get(view["key"], [])}
    row = next(a for a in slot["answers"] if a["id"] == aid)
    return sum(items.get(r, 0.0) for r in row["applied"])


def export_sheets(store: ReviewStore, space: Workspace, folder: Path) -> list[Path]:
    """Write the review as CSV sheets (one per question), as `mmexam grade` writes them."""
    _, sheets = overlay(space.results, space.sheets(), store.saved())
    return manual.write_sheets(folder, space.results, sheets)
