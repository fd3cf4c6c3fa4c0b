"""What each review page shows, as plain data for its template (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mmexam.grade.results import ItemResult, StudentResult
from mmexam.grade.review_state import answer_id
from mmexam.serve.review.store import ReviewStore
from mmexam.serve.review.workspace import Workspace

PICTURES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
"""The crops the review app serves, by suffix."""


@dataclass
class Context:
    """The review app's state: the store and the grades folder."""

    store: ReviewStore
    space: Workspace


def index_view(ctx: Context) -> dict[str, Any]:
    saved = ctx.store.saved()
    reviewed = ctx.space.reviewed(saved)
    mcq = sorted({i.review_key for r in ctx.space.results for i in r.items if i.kind == "mcq"})
    return {
        "slots": ctx.store.slots(),
        "students": [_student_row(r) for r in reviewed],
        "regrades": [r for r in ctx.store.open_regrades() if r["status"] == "open"],
        "mcq": mcq,
    }


def _student_row(r: StudentResult) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name or "",
        "total": r.total,
        "bonus": r.bonus_total,
        "pending": r.pending,
    }


def crop_urls(result: StudentResult, item: ItemResult) -> list[str]:
    """Where the review app serves the pictures of an answer written on paper (`/crops/...`)."""
    return [f"/crops/{quote(result.id)}/{quote(crop)}" for crop in item.crops]


def crop_file(results: list[StudentResult], sid: str, crop: str) -> Path | None:
    """The file of one crop of a graded answer on paper, or None: it must be listed in one of
    the student's answers and lie inside their submission folder (no `..`, no link out)."""
    result = next((r for r in results if r.id == sid), None)
    if result is None or result.folder is None:
        return None
    if not any(crop in item.crops for item in result.items):
        return None
    folder = Path(result.folder).resolve()
    path = (folder / crop).resolve()
    if not path.is_relative_to(folder) or path.suffix.lower() not in PICTURES:
        return None
    return path if path.is_file() else None


def _items_by_answer(results: list[StudentResult]) -> dict[str, tuple[StudentResult, ItemResult]]:
    return {answer_id(r.id, i.number): (r, i) for r in results for i in r.items}


def slot_view(ctx: Context, number: str) -> dict[str, Any]:
    """One slot: for each bank item drawn there, its question and rubric, and its groups."""
    data = ctx.store.slot(number)
    reviewed = _items_by_answer(ctx.space.reviewed(ctx.store.saved()))
    raw = _items_by_answer(ctx.space.results)
    keys: dict[str, dict[str, Any]] = {}
    for row in data["answers"]:
        if row["group_id"] is None:  # only answers for a person are grouped
            continue
        student, item = reviewed[row["id"]]
        entry = keys.setdefault(
            row["key"],
            {
                "key": row["key"],
                "question": item.question,
                "text": item.text,
                "context": item.context,
                "expected": item.expected,
                "max_points": item.max_points,
                "rubric": data["rubric"].get(row["key"], []),
                "groups": {},
            },
        )
        row["points"] = item.points
        row["total"] = student.total
        row["name"] = student.name or ""
        row["suggested"] = raw[row["id"]][1].suggested
        row["pictures"] = crop_urls(student, item)
        group = entry["groups"].setdefault(
            row["group_id"], {"id": row["group_id"], "how": row["group_how"], "members": []}
        )
        group["members"].append(row)
    for entry in keys.values():
        entry["groups"] = sorted(
            entry["groups"].values(), key=lambda g: (-len(g["members"]), g["id"])
        )
    slots = [s["number"] for s in ctx.store.slots()]
    at = slots.index(number) if number in slots else -1
    return {
        "number": number,
        "keys": list(keys.values()),
        "previous": slots[at - 1] if at > 0 else None,
        "next": slots[at + 1] if 0 <= at < len(slots) - 1 else None,
    }


def student_view(ctx: Context, sid: str) -> dict[str, Any] | None:
    reviewed = {r.id: r for r in ctx.space.reviewed(ctx.store.saved())}
    result = reviewed.get(sid)
    if result is None:
        return None
    rows = []
    for item in result.items:
        aid = answer_id(sid, item.number)
        row = ctx.store.answer(aid)
        rows.append({"id": aid, "item": item, "row": row, "pictures": crop_urls(result, item)})
    regrades = [r for r in ctx.store.open_regrades() if r["answer_id"].startswith(sid + "|")]
    return {"result": result, "rows": rows, "regrades": regrades}


def question_view(
    ctx: Context, qid: str, changed: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """An MCQ question: how many chose each option, which options count, who changed."""
    items = [
        i for r in ctx.space.results for i in r.items if i.review_key == qid and i.kind == "mcq"
    ]
    if not items:
        return None
    extra = ctx.store.saved().extra_keys.get(qid, [])
    key = items[0].key[0] if items[0].key else None
    options: dict[int, dict[str, Any]] = {}
    for item in items:
        for chosen in item.chosen or []:
            shown = (item.answer_shown or "").split(") ", 1)[-1]
            entry = options.setdefault(chosen, {"index": chosen, "text": shown, "count": 0})
            entry["count"] += 1
    return {
        "qid": qid,
        "text": items[0].text,
        "options": [
            {**o, "key": o["index"] == key, "accepted": o["index"] in extra}
            for _, o in sorted(options.items())
        ],
        "changed": changed,
    }
