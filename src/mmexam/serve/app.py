"""`mmexam serve`: the online exam, as a Starlette app (`create_app`).

Students log in with their id and access code and see only their own paper
(there is no student id in any student URL: the session says who they are).
Every change they make is appended to the database; the server's clock
decides when writes stop (start + minutes + the student's extra time), and at
that moment the paper is submitted with the answers saved until then. Staff
log in with the staff password and see who is working, give extra time and
reopen papers.

Status codes a client sees: 401 no session or wrong code, 403 a bad CSRF token
or a write outside the exam's time, 409 a paper already submitted or a check
run already queued, 413 a body over the limit, 422 a value that does not fit
its field, 429 too many failed logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from mmexam.serve.checks import Busy, CheckQueue
from mmexam.serve.db import Database
from mmexam.serve.papers import (
    CODE_PREFIX,
    OnlineExam,
    ServeError,
    check_value,
    code_key,
    reading,
    receipt,
    submission_files,
)
from mmexam.serve.security import Session, Signer, verify_code, verify_password
from mmexam.serve.web import (
    BodyLimit,
    SecurityHeaders,
    WebAuth,
    error,
    page,
    read_form,
    read_json,
    static_files,
)

MAX_BODY = 256 * 1024
"""Largest request body (a save holds at most a code file and a few answers)."""
FAILURE_WINDOW = 600.0
MAX_FAILURES_PER_STUDENT = 5
MAX_FAILURES_PER_CLIENT = 30
AUTO_SUBMIT_EVERY = 5.0


@dataclass
class ServeConfig:
    """What one server process serves, and how."""

    exam: OnlineExam
    db: Database
    start: float
    minutes: float
    staff_password_hash: str
    check_workers: int = 2
    max_body: int = MAX_BODY
    clock: Callable[[], float] = time.time
    check_runner: Callable[[Any, str, str], Any] | None = None
    auto_submit: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def deadline_of(config: ServeConfig, row: dict[str, Any]) -> float:
    extra = float(row.get("roster_minutes") or 0) + float(row.get("extra_minutes") or 0)
    return config.start + (config.minutes + extra) * 60.0


def clock_text(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().strftime("%H:%M:%S %Z")


def client_of(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


def create_app(config: ServeConfig) -> Starlette:
    """The web app for one exam: routes, middleware, the check queue and auto-submission."""
    db, exam = config.db, config.exam
    signer = Signer(db.set_meta("secret", _new_secret(), only_if_missing=True))
    auth = WebAuth(signer)
    checks = CheckQueue(
        db,
        config.check_workers,
        runner=config.check_runner,
        clock=config.clock,
        graders=exam.graders,
        tasks=exam.all_tasks,
    )

    # ------------------------------------------------------------ helpers

    def student_session(request: Request) -> Session | None:
        session = auth.session(request)
        if session is None or session.role != "student" or session.student not in exam.students:
            return None
        return session

    def staff_session(request: Request) -> Session | None:
        session = auth.session(request)
        return session if session is not None and session.role == "staff" else None

    def state(sid: str, row: dict[str, Any] | None = None) -> dict[str, Any]:
        row = row or db.student(sid) or {}
        now = config.clock()
        deadline = deadline_of(config, row)
        submitted = row.get("submitted_at") is not None
        return {
            "now": now,
            "start": config.start,
            "deadline": deadline,
            "deadline_text": clock_text(deadline),
            "started": now >= config.start,
            "over": now >= deadline,
            "submitted": submitted,
            "submitted_how": row.get("submitted_how"),
            "receipt": row.get("receipt"),
            "locked": submitted or now >= deadline,
        }

    def refusal(
        sid: str, seen: dict[str, Any] | None = None
    ) -> Callable[[dict[str, Any] | None], str | None]:
        """Inside the save's transaction, given the student's row: why this student may
        not write now, if so. The row is left in `seen` (the response's state is made
        from it)."""

        def check(row: dict[str, Any] | None) -> str | None:
            if row is None:
                return "403 unknown student"
            if seen is not None:
                seen.update(row)
            now = config.clock()
            if now < config.start:
                return f"403 the exam starts at {clock_text(config.start)}; nothing was saved"
            if row["submitted_at"] is not None:
                return "409 your paper was submitted; nothing was saved"
            deadline = deadline_of(config, row)
            if now >= deadline:
                return (
                    f"403 the exam ended for you at {clock_text(deadline)} (server clock); "
                    "nothing was saved"
                )
            return None

        return check

    def values_of(sid: str) -> dict[str, Any]:
        return {k: r.value for k, r in db.latest(sid).items()}

    def do_submit(sid: str, how: str) -> str | None:
        files = submission_files(exam.students[sid], exam.fields(sid), values_of(sid))
        digest = receipt(sid, files)
        return digest if db.submit(sid, digest, config.clock(), how) else None

    def auto_submit_due() -> int:
        """Submit every paper whose deadline has passed (students who logged in)."""
        now, done = config.clock(), 0
        for row in db.all_students():
            if row["id"] not in exam.students:
                continue
            if row["first_login_at"] is None or row["submitted_at"] is not None:
                continue
            if now >= deadline_of(config, row):
                done += do_submit(row["id"], "deadline") is not None
        return done

    # ------------------------------------------------------------ student pages

    async def home(request: Request) -> Response:
        if student_session(request):
            return RedirectResponse("/paper", status_code=303)
        if staff_session(request):
            return RedirectResponse("/staff", status_code=303)
        return RedirectResponse("/login", status_code=303)

    def login_page(request: Request, message: str | None, status: int, staff: bool) -> Response:
        nonce, token = auth.login_token(request)
        response = page(
            "serve/login.html.j2",
            {
                "title": exam.bank.blueprint.title,
                "course": exam.bank.blueprint.course,
                "csrf": token,
                "message": message,
                "staff": staff,
                "action": "/staff/login" if staff else "/login",
            },
            status,
        )
        auth.set_login_cookie(response, request, nonce)
        return response

    async def login_form(request: Request) -> Response:
        return login_page(request, None, 200, staff=False)

    async def login(request: Request) -> Response:
        form = await read_form(request)
        if not auth.login_ok(request, form):
            return login_page(request, "The form expired; please log in again.", 403, False)
        sid = form.get("student", "").strip()[:64]
        code = form.get("code", "")[:128]
        client = client_of(request)
        now = config.clock()
        by_client, by_student = await run_in_threadpool(
            db.failures_since, client, sid or None, now - FAILURE_WINDOW
        )
        if by_student >= MAX_FAILURES_PER_STUDENT or by_client >= MAX_FAILURES_PER_CLIENT:
            response = login_page(
                request,
                "Too many failed logins; wait ten minutes or ask the staff for your code.",
                429,
                False,
            )
            response.headers["retry-after"] = str(int(FAILURE_WINDOW))
            return response
        row = await run_in_threadpool(db.student, sid) if sid in exam.students else None
        ok = await run_in_threadpool(verify_code, code, row["code_hash"] if row else None)
        if not ok or row is None:
            await run_in_threadpool(db.record_failure, client, sid or None, now)
            return login_page(request, "Wrong student id or access code.", 401, False)
        await run_in_threadpool(db.record_login, sid, now, client)
        response = RedirectResponse("/paper", status_code=303)
        auth.start(response, request, "student", sid)
        return response

    async def logout(request: Request) -> Response:
        session = auth.session(request)
        form = await read_form(request)
        if session is None or not auth.csrf_ok(request, session, form):
            return error(403, "missing or wrong CSRF token")
        response = RedirectResponse("/staff/login" if session.role == "staff" else "/login", 303)
        auth.end(response)
        return response

    def paper_page(sid: str, session: Session, staff: bool) -> Response:
        now = config.clock()
        row = db.student(sid) or {}
        info = state(sid, row)
        if not staff and now < config.start:
            return page(
                "serve/waiting.html.j2",
                {
                    "title": exam.bank.blueprint.title,
                    "start": clock_text(config.start),
                    "student": exam.students[sid],
                    "csrf": auth.csrf_for(session),
                },
            )
        fields = exam.fields(sid)
        values = values_of(sid)
        readings = {
            k: reading(f, values[k])
            for k, f in fields.items()
            if f.kind == "numeric" and isinstance(values.get(k), str) and values[k].strip()
        }
        code_at: dict[str, str] = {}
        for item in exam.students[sid].items:
            if item.kind == "code":
                code_at.setdefault(str(exam.body(item).task), item.number)
        last_runs = {}
        for task in exam.tasks(sid):
            run = db.last_check_run(sid, task)
            if run is not None:
                last_runs[task] = _run_view(run)
        online = {
            "student": sid,
            "csrf": auth.csrf_for(session),
            "staff_view": staff,
            "fields": {k: f.__dict__ for k, f in fields.items()},
            "values": values,
            "readings": readings,
            "starters": {t: exam.starter(t) for t in exam.tasks(sid)},
            "code_at": code_at,
            "code_prefix": CODE_PREFIX,
            "state": info,
            "runs": last_runs,
        }
        return HTMLResponse(exam.render(sid, online))

    async def paper(request: Request) -> Response:
        session = student_session(request)
        if session is None or session.student is None:
            return RedirectResponse("/login", status_code=303)
        return await run_in_threadpool(paper_page, session.student, session, False)

    async def api_state(request: Request) -> Response:
        session = student_session(request)
        if session is None or session.student is None:
            return error(401, "not logged in")
        return JSONResponse(await run_in_threadpool(state, session.student))

    async def json_write(request: Request) -> tuple[Session, dict[str, Any]] | Response:
        """The session and JSON body of a student's write, or the response refusing it."""
        session = student_session(request)
        if session is None or session.student is None:
            return error(401, "not logged in — log in again; your unsent changes are kept")
        if not auth.csrf_ok(request, session, None):
            return error(403, "missing or wrong CSRF token — reload the page")
        body = await read_json(request)
        if not isinstance(body, dict):
            return error(400, "expected a JSON object")
        claimed = body.pop("student", session.student)
        if claimed != session.student:
            return error(403, "you can only write to your own paper")
        return session, body

    async def api_save(request: Request) -> Response:
        got = await json_write(request)
        if isinstance(got, Response):
            return got
        session, body = got
        sid = str(session.student)
        changes = body.get("changes")
        if set(body) - {"changes"} or not isinstance(changes, list) or len(changes) > 200:
            return error(400, "expected {'changes': [{'key': ..., 'value': ...}, ...]}")
        fields = exam.fields(sid)
        cleaned: list[tuple[str, str | list[str]]] = []
        try:
            for change in changes:
                if not isinstance(change, dict) or set(change) - {"key", "value", "seq"}:
                    raise ServeError("each change is {'key': ..., 'value': ...}")
                key = change.get("key")
                if not isinstance(key, str) or key not in fields:
                    raise ServeError(f"{str(key)[:40]!r} is not a field of your paper")
                cleaned.append((key, check_value(fields[key], change.get("value"))))
        except ServeError as problem:
            return error(422, str(problem))
        return await save_changes(sid, cleaned)

    def save_now(sid: str, cleaned: list[tuple[str, str | list[str]]]) -> Response:
        """Append the changes (one transaction, one thread hop) and answer with the state."""
        now, row = config.clock(), dict[str, Any]()
        outcome = db.save(sid, cleaned, now, refusal(sid, row))
        if isinstance(outcome, str):
            status, message = outcome.split(" ", 1)
            return error(int(status), message, state=state(sid, row or None))
        fields = exam.fields(sid)
        readings = {
            k: reading(fields[k], v)
            for k, v in cleaned
            if fields[k].kind == "numeric" and isinstance(v, str) and v.strip()
        }
        body = {"saved": outcome, "at": now, "readings": readings, "state": state(sid, row)}
        return JSONResponse(body)

    async def save_changes(sid: str, cleaned: list[tuple[str, str | list[str]]]) -> Response:
        return await run_in_threadpool(save_now, sid, cleaned)

    async def api_check(request: Request) -> Response:
        got = await json_write(request)
        if isinstance(got, Response):
            return got
        session, body = got
        sid = str(session.student)
        task, source = body.get("task"), body.get("source")
        if set(body) - {"task", "source"} or not isinstance(task, str):
            return error(400, "expected {'task': ..., 'source': ...}")
        key = code_key(task)
        fields = exam.fields(sid)
        if key not in fields:
            return error(422, f"{task!r} is not a code task of your paper")
        try:
            value = check_value(fields[key], source)
        except ServeError as problem:
            return error(422, str(problem))
        saved = await save_changes(sid, [(key, value)])
        if saved.status_code != 200:
            return saved
        try:
            run_id = await run_in_threadpool(checks.submit, sid, task, str(value))
        except Busy as busy:
            return error(409, str(busy))
        return JSONResponse({"run": run_id, "status": "queued", "waiting": checks.waiting()}, 202)

    async def api_check_result(request: Request) -> Response:
        session = student_session(request)
        if session is None or session.student is None:
            return error(401, "not logged in")
        task = request.path_params["task"]
        if code_key(task) not in exam.fields(session.student):
            return error(404, "no such code task on your paper")
        run = await run_in_threadpool(db.last_check_run, session.student, task)
        if run is None:
            return error(404, "no check run yet")
        return JSONResponse(_run_view(run))

    async def api_submit(request: Request) -> Response:
        got = await json_write(request)
        if isinstance(got, Response):
            return got
        session, body = got
        sid = str(session.student)
        if body != {"confirm": True}:
            return error(400, "expected {'confirm': true}")
        refused = await run_in_threadpool(db.save, sid, [], config.clock(), refusal(sid))
        if isinstance(refused, str):
            status, message = refused.split(" ", 1)
            return error(int(status), message, state=await run_in_threadpool(state, sid))
        digest = await run_in_threadpool(do_submit, sid, "student")
        info = await run_in_threadpool(state, sid)
        if digest is None:
            return error(409, "your paper was already submitted", state=info)
        return JSONResponse({"receipt": digest, "state": info})

    # ------------------------------------------------------------ staff pages

    async def staff_login_form(request: Request) -> Response:
        return login_page(request, None, 200, staff=True)

    async def staff_login(request: Request) -> Response:
        form = await read_form(request)
        if not auth.login_ok(request, form):
            return login_page(request, "The form expired; please log in again.", 403, True)
        client, now = client_of(request), config.clock()
        by_client, by_staff = await run_in_threadpool(
            db.failures_since, client, "(staff)", now - FAILURE_WINDOW
        )
        if by_client >= MAX_FAILURES_PER_CLIENT or by_staff >= MAX_FAILURES_PER_CLIENT:
            return login_page(request, "Too many failed logins; wait ten minutes.", 429, True)
        ok = await run_in_threadpool(
            verify_password, form.get("password", ""), config.staff_password_hash
        )
        if not ok:
            await run_in_threadpool(db.record_failure, client, "(staff)", now)
            return login_page(request, "Wrong staff password.", 401, True)
        response = RedirectResponse("/staff", status_code=303)
        auth.start(response, request, "staff", None)
        return response

    def staff_rows() -> list[dict[str, Any]]:
        now = config.clock()
        rows = []
        known = {row["id"]: row for row in db.all_students()}
        for sid, student in exam.students.items():
            row = known.get(sid, {})
            deadline = deadline_of(config, row)
            rows.append(
                {
                    "id": sid,
                    "name": student.name or "",
                    "has_code": bool(row.get("code_hash")),
                    "logged_in": row.get("first_login_at") is not None,
                    "last_login": _ago(now, row.get("last_login_at")),
                    "last_save": _ago(now, row.get("last_save_at")),
                    "extra": float(row.get("roster_minutes") or 0)
                    + float(row.get("extra_minutes") or 0),
                    "time_left": _left(deadline - now) if now < deadline else "over",
                    "deadline": clock_text(deadline),
                    "submitted": row.get("submitted_at") is not None,
                    "submitted_how": row.get("submitted_how") or "",
                    "receipt": (row.get("receipt") or "")[:12],
                }
            )
        return rows

    async def staff(request: Request) -> Response:
        session = staff_session(request)
        if session is None:
            return RedirectResponse("/staff/login", status_code=303)
        rows = await run_in_threadpool(staff_rows)
        return page(
            "serve/staff.html.j2",
            {
                "title": exam.bank.blueprint.title,
                "course": exam.bank.blueprint.course,
                "rows": rows,
                "csrf": auth.csrf_for(session),
                "start": clock_text(config.start),
                "minutes": config.minutes,
                "now": clock_text(config.clock()),
                "waiting": checks.waiting(),
                "warnings": checks.warnings,
                "message": request.query_params.get("done", "")[:200],
            },
        )

    async def staff_write(request: Request) -> tuple[dict[str, str], str] | Response:
        session = staff_session(request)
        if session is None:
            return error(401, "staff only — log in at /staff/login")
        form = await read_form(request)
        if not auth.csrf_ok(request, session, form):
            return error(403, "missing or wrong CSRF token — reload the page")
        sid = form.get("student", "")
        if sid not in exam.students:
            return error(404, f"no student {sid[:64]!r} in this exam")
        return form, sid

    def minutes_of(form: dict[str, str]) -> float | None:
        try:
            minutes = float(form.get("minutes", ""))
        except ValueError:
            return None
        return minutes if 0 <= minutes <= 24 * 60 else None

    async def staff_extra(request: Request) -> Response:
        got = await staff_write(request)
        if isinstance(got, Response):
            return got
        form, sid = got
        minutes = minutes_of(form)
        if minutes is None or minutes == 0:
            return error(422, "minutes must be a number between 0 and 1440")
        await run_in_threadpool(db.add_extra_minutes, sid, minutes, config.clock(), "staff")
        return RedirectResponse(f"/staff?done={sid}: +{minutes:g} min", status_code=303)

    async def staff_reopen(request: Request) -> Response:
        got = await staff_write(request)
        if isinstance(got, Response):
            return got
        form, sid = got
        minutes = minutes_of(form)
        if minutes is None:
            return error(422, "minutes must be a number between 0 and 1440")

        def reopen() -> None:
            now = config.clock()
            row = db.student(sid) or {}
            short = now + minutes * 60 - deadline_of(config, row)
            if short > 0:  # the deadline moves to at least now + minutes
                db.add_extra_minutes(sid, short / 60.0, now, "staff (reopen)")
            db.reopen(sid, now, "staff")

        await run_in_threadpool(reopen)
        return RedirectResponse(f"/staff?done={sid}: reopened", status_code=303)

    async def staff_paper(request: Request) -> Response:
        session = staff_session(request)
        if session is None:
            return RedirectResponse("/staff/login", status_code=303)
        sid = request.path_params["sid"]
        if sid not in exam.students:
            return error(404, "no such student")
        return await run_in_threadpool(paper_page, sid, session, True)

    # ------------------------------------------------------------ the app

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        checks.start()
        task = asyncio.create_task(_every(AUTO_SUBMIT_EVERY, auto_submit_due, config))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(checks.stop)

    routes = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/paper", paper, methods=["GET"]),
        Route("/api/state", api_state, methods=["GET"]),
        Route("/api/save", api_save, methods=["POST"]),
        Route("/api/check", api_check, methods=["POST"]),
        Route("/api/check/{task}", api_check_result, methods=["GET"]),
        Route("/api/submit", api_submit, methods=["POST"]),
        Route("/staff", staff, methods=["GET"]),
        Route("/staff/login", staff_login_form, methods=["GET"]),
        Route("/staff/login", staff_login, methods=["POST"]),
        Route("/staff/extra", staff_extra, methods=["POST"]),
        Route("/staff/reopen", staff_reopen, methods=["POST"]),
        Route("/staff/paper/{sid}", staff_paper, methods=["GET"]),
        Mount("/static", app=static_files(), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.config = config
    app.state.checks = checks
    app.state.auto_submit_due = auto_submit_due
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, limit=config.max_body)  # type: ignore[arg-type]
    return app


async def _every(seconds: float, job: Callable[[], int], config: ServeConfig) -> None:
    while True:
        if config.auto_submit:
            with contextlib.suppress(Exception):
                await run_in_threadpool(job)
        await asyncio.sleep(seconds)


def _run_view(run: dict[str, Any]) -> dict[str, Any]:
    import json

    view: dict[str, Any] = {"id": run["id"], "task": run["task"], "status": run["status"]}
    if run["status"] == "done" and run["result"]:
        view["result"] = json.loads(run["result"])
    elif run["status"] == "failed":
        view["message"] = run["result"]
    return view


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


def _new_secret() -> str:
    from mmexam.serve.security import new_secret

    return new_secret()
