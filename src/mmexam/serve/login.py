"""Logging in and out of `mmexam serve`: students with their id and access code,
staff with the staff password; failed logins are counted per client and per
student (or for the staff) and answered 429 past the limit."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mmexam.serve.security import verify_code, verify_password
from mmexam.serve.site import (
    FAILURE_WINDOW,
    MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_STUDENT,
    SiteCore,
    client_of,
)
from mmexam.serve.web import error, read_form

EXPIRED = "The form expired; please log in again."


class LoginPages(SiteCore):
    """`/`, `/login`, `/logout` and `/staff/login`."""

    async def home(self, request: Request) -> Response:
        if self.student_session(request):
            return RedirectResponse("/paper", status_code=303)
        if self.staff_session(request):
            return RedirectResponse("/staff", status_code=303)
        return RedirectResponse("/login", status_code=303)

    async def login_form(self, request: Request) -> Response:
        return self.login_page(request, None, 200, staff=False)

    async def login(self, request: Request) -> Response:
        db = self.db
        form = await read_form(request)
        if not self.auth.login_ok(request, form):
            return self.login_page(request, EXPIRED, 403, False)
        sid = form.get("student", "").strip()[:64]
        code = form.get("code", "")[:128]
        client = client_of(request)
        now = self.config.clock()
        by_client, by_student = await run_in_threadpool(
            db.failures_since, client, sid or None, now - FAILURE_WINDOW
        )
        if by_student >= MAX_FAILURES_PER_STUDENT or by_client >= MAX_FAILURES_PER_CLIENT:
            response = self.login_page(
                request,
                "Too many failed logins; wait ten minutes or ask the staff for your code.",
                429,
                False,
            )
            response.headers["retry-after"] = str(int(FAILURE_WINDOW))
            return response
        row = await run_in_threadpool(db.student, sid) if sid in self.exam.students else None
        ok = await run_in_threadpool(verify_code, code, row["code_hash"] if row else None)
        if not ok or row is None:
            await run_in_threadpool(db.record_failure, client, sid or None, now)
            return self.login_page(request, "Wrong student id or access code.", 401, False)
        await run_in_threadpool(db.record_login, sid, now, client)
        response = RedirectResponse("/paper", status_code=303)
        self.auth.start(response, request, "student", sid)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.auth.session(request)
        form = await read_form(request)
        if session is None or not self.auth.csrf_ok(request, session, form):
            return error(403, "missing or wrong CSRF token")
        response = RedirectResponse("/staff/login" if session.role == "staff" else "/login", 303)
        self.auth.end(response)
        return response

    async def staff_login_form(self, request: Request) -> Response:
        return self.login_page(request, None, 200, staff=True)

    async def staff_login(self, request: Request) -> Response:
        db = self.db
        form = await read_form(request)
        if not self.auth.login_ok(request, form):
            return self.login_page(request, EXPIRED, 403, True)
        client, now = client_of(request), self.config.clock()
        by_client, by_staff = await run_in_threadpool(
            db.failures_since, client, "(staff)", now - FAILURE_WINDOW
        )
        if by_client >= MAX_FAILURES_PER_CLIENT or by_staff >= MAX_FAILURES_PER_CLIENT:
            return self.login_page(request, "Too many failed logins; wait ten minutes.", 429, True)
        ok = await run_in_threadpool(
            verify_password, form.get("password", ""), self.config.staff_password_hash
        )
        if not ok:
            await run_in_threadpool(db.record_failure, client, "(staff)", now)
            return self.login_page(request, "Wrong staff password.", 401, True)
        response = RedirectResponse("/staff", status_code=303)
        self.auth.start(response, request, "staff", None)
        return response
