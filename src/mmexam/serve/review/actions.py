"""Every write a TA can make, as a function of (context, request data, who).

`API` holds the JSON actions the slot page's script posts to `/api/<name>`;
each returns (HTTP status, reply). `FORMS` holds the form posts of the other
pages (`/do/<name>`); each returns a redirect path, or a template and its view.
A refused action is data: 400 with the reason, 409 with the current row when
someone else changed it first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmexam.grade.review_state import answer_id
from mmexam.serve.review.store import Conflict, ReviewError, ReviewStore
from mmexam.serve.review.views import Context, question_view

Reply = tuple[int, dict[str, Any]]


def _ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ReviewError("'ids' must be a non-empty list of answer ids")
    return ids


def _number(value: Any, what: str) -> float:
    try:
        return float(str(value).replace(",", "."))
    except ValueError:
        raise ReviewError(f"{what} {value!r} is not a number") from None


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ReviewError(f"{what} {value!r} is not a whole number") from None


def _totals_changed(ctx: Context, run: Callable[[], Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Run a change; the students whose total or bonus moved, with before and after."""
    before = ctx.space.totals(ctx.store.saved())
    out = run()
    after = ctx.space.totals(ctx.store.saved())
    changed = [
        {
            "id": sid,
            "before": before[sid]["total"],
            "after": after[sid]["total"],
            "bonus_before": before[sid]["bonus"],
            "bonus_after": after[sid]["bonus"],
        }
        for sid in sorted(after)
        if before.get(sid) != after[sid]
    ]
    return out, changed


def toggle(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    ids, rid = _ids(body), _int(body.get("rubric"), "rubric item")
    ctx.store.toggle(ids, rid, bool(body.get("on", True)), who)
    return 200, {"ok": True}


def grade(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    ctx.store.mark_graded(_ids(body), bool(body.get("graded", True)), who)
    return 200, {"ok": True}


def note(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    row = ctx.store.set_note(
        str(body.get("id")),
        _int(body.get("version"), "version"),
        _number(body.get("adjust", 0) or 0, "adjustment"),
        str(body.get("comment") or ""),
        who,
    )
    return 200, {"ok": True, "version": row["version"]}


def rubric_edit(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    points = _number(body.get("points"), "points")
    text = str(body.get("description") or "").strip()
    if not text:
        raise ReviewError("a rubric item needs a description")
    rid, version = _int(body.get("id"), "rubric item"), _int(body.get("version"), "version")
    ids, changed = _totals_changed(
        ctx, lambda: ctx.store.edit_rubric(rid, version, points, text, who)
    )
    return 200, {"ok": True, "answers": ids, "changed": changed}


def rubric_add(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    text = str(body.get("description") or "").strip()
    if not text:
        raise ReviewError("a rubric item needs a description")
    rid = ctx.store.add_rubric(
        str(body.get("key")), _number(body.get("points"), "points"), text, who
    )
    return 200, {"ok": True, "id": rid}


def rubric_move(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    ctx.store.move_rubric(
        _int(body.get("id"), "rubric item"), _int(body.get("delta"), "delta"), who
    )
    return 200, {"ok": True}


def confirm(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    ctx.store.confirm_group(str(body.get("group")), who)
    return 200, {"ok": True}


def split(ctx: Context, body: dict[str, Any], who: str) -> Reply:
    return 200, {"ok": True, "group": ctx.store.split(str(body.get("id")), who)}


def _guard(action: Callable[[Context, dict[str, Any], str], Reply]) -> Callable[..., Reply]:
    def run(ctx: Context, body: Any, who: str) -> Reply:
        if not isinstance(body, dict):
            return 400, {"error": "the body must be a JSON object"}
        try:
            return action(ctx, body, who)
        except Conflict as conflict:
            return 409, {"error": str(conflict), "current": conflict.current}
        except ReviewError as problem:
            return 400, {"error": str(problem)}

    return run


API = {
    name: _guard(fn)
    for name, fn in {
        "toggle": toggle,
        "grade": grade,
        "note": note,
        "rubric-edit": rubric_edit,
        "rubric-add": rubric_add,
        "rubric-move": rubric_move,
        "confirm": confirm,
        "split": split,
    }.items()
}

# ---------------------------------------------------------------- forms

Page = tuple[str, dict[str, Any]]


def _back(aid: str) -> str:
    return "/student/" + aid.split("|", 1)[0]


def override(ctx: Context, form: dict[str, str], who: str) -> Page:
    aid = form.get("id", "")
    raw = form.get("points", "").strip()
    points = None if raw == "" else _number(raw, "points")
    ctx.store.override(
        aid, _int(form.get("version"), "version"), points, form.get("reason", ""), who
    )
    return _back(aid), {}


def regrade_add(ctx: Context, form: dict[str, str], who: str) -> Page:
    aid = form.get("id", "")
    request = form.get("request", "").strip()
    if not request:
        raise ReviewError("write the student's request")
    ctx.store.add_regrade(aid, request, who)
    return _back(aid), {}


def regrade_resolve(ctx: Context, form: dict[str, str], who: str) -> Page:
    reply = form.get("reply", "").strip()
    if not reply:
        raise ReviewError("a resolved request needs a reply to the student")
    ctx.store.resolve_regrade(_int(form.get("id"), "request"), reply, who)
    back = form.get("back", "/")
    return back if back.startswith("/") and not back.startswith("//") else "/", {}


def mcq_key(ctx: Context, form: dict[str, str], who: str) -> Page:
    qid, option = form.get("question", ""), _int(form.get("option"), "option")
    _, changed = _totals_changed(ctx, lambda: ctx.store.add_key(qid, option, who))
    return "question", question_view(ctx, qid, changed) or {}


def _form_guard(action: Callable[[Context, dict[str, str], str], Page]) -> Callable[..., Page]:
    def run(ctx: Context, form: dict[str, str], who: str) -> Page:
        try:
            return action(ctx, form, who)
        except ReviewError as problem:
            return "problem", {"message": str(problem)}

    return run


FORMS = {
    name: _form_guard(fn)
    for name, fn in {
        "override": override,
        "regrade-add": regrade_add,
        "regrade-resolve": regrade_resolve,
        "mcq-key": mcq_key,
    }.items()
}


def import_regrades(store: ReviewStore, path: Path, who: str, known: set[str]) -> int:
    """Queue regrade requests from a CSV with the columns student, number, request."""
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not {"student", "number", "request"} <= set(header):
        raise ReviewError(
            f"{path}:1: a regrade CSV needs the columns student, number, request "
            f"(found: {', '.join(header) or 'none'})"
        )
    reader.fieldnames = header
    count = 0
    for line, row in enumerate(reader, start=2):
        aid = answer_id(row["student"].strip(), row["number"].strip())
        if aid not in known:
            raise ReviewError(
                f"{path}:{line}: no answer {row['number']!r} of student {row['student']!r}"
            )
        store.add_regrade(aid, row["request"].strip(), who)
        count += 1
    return count
