"""`mmexam review`: the TAs' web app, grading by printed question slot.

Pages (server-rendered, autoescaped; one script, `/static/review.js`, for the
keyboard): `/` lists the slots and every student's total; `/slot/{number}`
shows one slot's answers by bank item and by group, with the question, the
reference answer and the rubric; `/student/{id}` lists a student's items, with
overrides and regrade requests; `/question/{id}` accepts a second MCQ key;
`/regrades`, `/audit` and `/grades.csv` (exactly what `mmexam grade` will write).

Writes are JSON (`/api/...`, CSRF token in `X-CSRF-Token`) or forms (a `csrf`
field); a stale version is answered 409 with the current row (see
`mmexam.serve.review.store`). TAs log in with their name and the review
password; the name is what the audit log records.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from mmexam.markup import MarkupError, to_html
from mmexam.serve.app import FAILURE_WINDOW, MAX_FAILURES_PER_CLIENT, client_of
from mmexam.serve.db import Database
from mmexam.serve.review.actions import API, FORMS
from mmexam.serve.review.store import ReviewStore
from mmexam.serve.review.views import Context, index_view, slot_view, student_view
from mmexam.serve.review.workspace import Workspace
from mmexam.serve.security import Session, Signer, verify_password
from mmexam.serve.web import (
    BodyLimit,
    SecurityHeaders,
    WebAuth,
    page,
    read_form,
    static_files,
)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class ReviewConfig:
    """What the review app serves: a grades folder, its database, the TAs' password."""

    space: Workspace
    db: Database
    password_hash: str


def render_text(text: str | None) -> Markup:
    """A student's or the bank's Markdown + math as HTML; plain escaped text if it fails."""
    if not text:
        return Markup("")
    try:
        return Markup(to_html(text))
    except MarkupError:  # a student's text need not be valid Markdown math
        return Markup("<p>") + escape(text) + Markup("</p>")


def create_review_app(config: ReviewConfig) -> Starlette:
    """The review app for one grades folder."""
    store = ReviewStore(config.db)
    from mmexam.serve.security import new_secret

    auth = WebAuth(Signer(config.db.set_meta("review_secret", new_secret(), only_if_missing=True)))
    ctx = Context(store, config.space)

    def ta(request: Request) -> Session | None:
        session = auth.session(request)
        return session if session is not None and session.role == "staff" else None

    def guarded(build: Callable[[Request, Session], Awaitable[Response]]) -> Handler:
        async def handler(request: Request) -> Response:
            session = ta(request)
            if session is None:
                return RedirectResponse("/login", status_code=303)
            return await build(request, session)

        return handler

    def html(name: str, request: Request, session: Session, view: dict[str, Any]) -> Response:
        base = {"who": session.student, "csrf": auth.csrf_for(session), "render": render_text}
        return page(f"review/{name}.html.j2", {**base, **view, "info": config.space.info})

    def login_page(request: Request, message: str | None, status: int) -> Response:
        nonce, token = auth.login_token(request)
        response = page(
            "review/login.html.j2",
            {"csrf": token, "message": message, "info": config.space.info},
            status,
        )
        auth.set_login_cookie(response, request, nonce)
        return response

    async def login_form(request: Request) -> Response:
        return login_page(request, None, 200)

    async def login(request: Request) -> Response:
        form = await read_form(request)
        if not auth.login_ok(request, form):
            return login_page(request, "The form expired; please log in again.", 403)
        name = " ".join(form.get("name", "").split())[:64]
        client, now = client_of(request), time.time()
        by_client, by_all = await run_in_threadpool(
            config.db.failures_since, client, "(review)", now - FAILURE_WINDOW
        )
        if by_client >= MAX_FAILURES_PER_CLIENT or by_all >= MAX_FAILURES_PER_CLIENT:
            return login_page(request, "Too many failed logins; wait ten minutes.", 429)
        ok = await run_in_threadpool(
            verify_password, form.get("password", ""), config.password_hash
        )
        if not name or not ok:
            await run_in_threadpool(config.db.record_failure, client, "(review)", now)
            return login_page(request, "Give your name and the review password.", 401)
        response = RedirectResponse("/", status_code=303)
        auth.start(response, request, "staff", name)
        return response

    async def index(request: Request, session: Session) -> Response:
        return html("index", request, session, await run_in_threadpool(index_view, ctx))

    async def slot(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        view = await run_in_threadpool(slot_view, ctx, number)
        return html("slot", request, session, view)

    async def student(request: Request, session: Session) -> Response:
        view = await run_in_threadpool(student_view, ctx, request.path_params["sid"])
        if view is None:
            return PlainTextResponse("no such student", status_code=404)
        return html("student", request, session, view)

    async def audit_page(request: Request, session: Session) -> Response:
        log = await run_in_threadpool(store.audit_log)
        for row in log:
            row["when"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["at"]))
        return html("audit", request, session, {"log": log})

    async def grades(request: Request, session: Session) -> Response:
        text = await run_in_threadpool(lambda: config.space.grades_csv(store.saved()))
        return PlainTextResponse(text, media_type="text/csv; charset=utf-8")

    async def api(request: Request, session: Session) -> Response:
        if not auth.csrf_ok(request, session, None):
            return JSONResponse({"error": "CSRF token missing or wrong; reload"}, 403)
        action = API.get(request.path_params["action"])
        if action is None:
            return JSONResponse({"error": "unknown action"}, 404)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        status, reply = await run_in_threadpool(action, ctx, body, str(session.student))
        return JSONResponse(reply, status)

    async def form_post(request: Request, session: Session) -> Response:
        form = await read_form(request)
        if not auth.csrf_ok(request, session, form):
            return PlainTextResponse("CSRF token missing or wrong; reload", status_code=403)
        action = FORMS.get(request.path_params["action"])
        if action is None:
            return PlainTextResponse("unknown action", status_code=404)
        name, view = await run_in_threadpool(action, ctx, form, str(session.student))
        if name.startswith("/"):
            return RedirectResponse(name, status_code=303)
        return html(name, request, session, view)

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/", guarded(index)),
        Route("/slot/{number}", guarded(slot)),
        Route("/student/{sid}", guarded(student)),
        Route("/question/{qid}", guarded(_question_page(ctx, html))),
        Route("/audit", guarded(audit_page)),
        Route("/grades.csv", guarded(grades)),
        Route("/api/{action}", guarded(api), methods=["POST"]),
        Route("/do/{action}", guarded(form_post), methods=["POST"]),
        Mount("/static", static_files(), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, limit=256 * 1024)  # type: ignore[arg-type]
    return app


def _question_page(ctx: Context, html: Any) -> Callable[[Request, Session], Awaitable[Response]]:
    from mmexam.serve.review.views import question_view

    async def question(request: Request, session: Session) -> Response:
        view = await run_in_threadpool(question_view, ctx, request.path_params["qid"])
        if view is None:
            return PlainTextResponse("no such MCQ question", status_code=404)
        return html("question", request, session, view)

    return question
