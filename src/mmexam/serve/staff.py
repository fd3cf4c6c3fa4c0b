"""The staff's side of `mmexam serve`: who is working and how much time each has
left (`/staff`), extra time, reopening a paper, and any student's paper read-only."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mmexam.serve.site import SiteCore, clock_text, deadline_of
from mmexam.serve.web import error, page, read_form

BAD_MINUTES = "minutes must be a number between 0 and 1440"


class StaffPages(SiteCore):
    """`/staff`, `/staff/extra`, `/staff/reopen` and `/staff/paper/{sid}`."""

    async def staff(self, request: Request) -> Response:
        session = self.staff_session(request)
        if session is None:
            return RedirectResponse("/staff/login", status_code=303)
        rows = await run_in_threadpool(self.staff_rows)
        config, checks = self.config, self.checks
        return page(
            "serve/staff.html.j2",
            {
                "title": self.exam.bank.blueprint.title,
                "course": self.exam.bank.blueprint.course,
                "rows": rows,
                "csrf": self.auth.csrf_for(session),
                "start": clock_text(config.start),
                "minutes": config.minutes,
                "now": clock_text(config.clock()),
                "waiting": checks.waiting(),
                "warnings": checks.warnings,
                "message": request.query_params.get("done", "")[:200],
            },
        )

    def staff_rows(self) -> list[dict[str, Any]]:
        now = self.config.clock()
        known = {row["id"]: row for row in self.db.all_students()}
        return [
            self.staff_row(sid, student.name or "", known.get(sid, {}), now)
            for sid, student in self.exam.students.items()
        ]

    def staff_row(self, sid: str, name: str, row: dict[str, Any], now: float) -> dict[str, Any]:
        deadline = deadline_of(self.config, row)
        return {
            "id": sid,
            "name": name,
            "has_code": bool(row.get("code_hash")),
            "logged_in": row.get("first_login_at") is not None,
            "last_login": _ago(now, row.get("last_login_at")),
            "last_save": _ago(now, row.get("last_save_at")),
            "extra": float(row.get("roster_minutes") or 0) + float(row.get("extra_minutes") or 0),
            "time_left": _left(deadline - now) if now < deadline else "over",
            "deadline": clock_text(deadline),
            "submitted": row.get("submitted_at") is not None,
            "submitted_how": row.get("submitted_how") or "",
            "receipt": (row.get("receipt") or "")[:12],
        }

    async def staff_write(self, request: Request) -> tuple[dict[str, str], str] | Response:
        """The form and student of a staff write, or the response refusing it."""
        session = self.staff_session(request)
        if session is None:
            return error(401, "staff only — log in at /staff/login")
        form = await read_form(request)
        if not self.auth.csrf_ok(request, session, form):
            return error(403, "missing or wrong CSRF token — reload the page")
        sid = form.get("student", "")
        if sid not in self.exam.students:
            return error(404, f"no student {sid[:64]!r} in this exam")
        return form, sid

    async def staff_extra(self, request: Request) -> Response:
        got = await self.staff_write(request)
        if isinstance(got, Response):
            return got
        form, sid = got
        minutes = _minutes_of(form)
        if minutes is None or minutes == 0:
            return error(422, BAD_MINUTES)
        await run_in_threadpool(
            self.db.add_extra_minutes, sid, minutes, self.config.clock(), "staff"
        )
        return RedirectResponse(f"/staff?done={sid}: +{minutes:g} min", status_code=303)

    async def staff_reopen(self, request: Request) -> Response:
        got = await self.staff_write(request)
        if isinstance(got, Response):
            return got
        form, sid = got
        minutes = _minutes_of(form)
        if minutes is None:
            return error(422, BAD_MINUTES)
        await run_in_threadpool(self.reopen, sid, minutes)
        return RedirectResponse(f"/staff?done={sid}: reopened", status_code=303)

    def reopen(self, sid: str, minutes: float) -> None:
        """Reopen the student's paper until at least `minutes` from now."""
        db, now = self.db, self.config.clock()
        row = db.student(sid) or {}
        short = now + minutes * 60 - deadline_of(self.config, row)
        if short > 0:  # the deadline moves to at least now + minutes
            db.add_extra_minutes(sid, short / 60.0, now, "staff (reopen)")
        db.reopen(sid, now, "staff")

    async def staff_paper(self, request: Request) -> Response:
        session = self.staff_session(request)
        if session is None:
            return RedirectResponse("/staff/login", status_code=303)
        sid = request.path_params["sid"]
        if sid not in self.exam.students:
            return error(404, "no such student")
        return await run_in_threadpool(self.paper_page, sid, session, True)


def _minutes_of(form: dict[str, str]) -> float | None:
    try:
        minutes = float(form.get("minutes", ""))
    except ValueError:
        return None
    return minutes if 0 <= minutes <= 24 * 60 else None


def _ago(now: float, then: float | None) -> str:
    if then is None:
        return "—"
    seconds = max(0, int(now - then))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"


def _left(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
