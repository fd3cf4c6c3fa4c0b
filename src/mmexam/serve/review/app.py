"""`mmexam review`: the TAs' web app, grading by printed question slot.

Pages (server-rendered, autoescaped; one script, `/static/review.js`, for the
keyboard): `/` lists the slots and every student's total; `/slot/{number}`
shows one slot's answers by bank item and by group, with the question, the
reference answer and the rubric; `/student/{id}` lists a student's items, with
overrides and regrade requests; `/question/{id}` accepts a second MCQ key;
`/regrades`, `/audit` and `/grades.csv` (exactly what `mmexam grade` will write);
`/crops/{id}/{path}` the pictures of an answer written on paper (only the crops a
graded answer lists, from inside that student's submission folder).

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
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route

from mmexam.markup import MarkupError, to_html
from mmexam.serve.db import Database
from mmexam.serve.review.actions import API, FORMS
from mmexam.serve.review.store import ReviewStore
from mmexam.serve.review.views import (
    PICTURES,
    Context,
    crop_file,
    index_view,
    question_view,
    slot_view,
    student_view,
)
from mmexam.serve.review.workspace import Workspace
from mmexam.serve.security import Session, Signer, new_secret, verify_password
from mmexam.serve.site import FAILURE_WINDOW, MAX_FAILURES_PER_CLIENT, client_of
from mmexam.serve.web import (
    BodyLimit,
    SecurityHeaders,
    WebAuth,
    page,
    read_form,
    static_files,
)

Handler = Callable[[Request], Awaitable[Response]]
Page = Callable[[Request, Session], Awaitable[Response]]


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
    site = ReviewSite(config)
    app = Starlette(routes=site.routes())
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, limit=256 * 1024)  # type: ignore[arg-type]
    return app


class ReviewSite:
    """One grades folder's state (its store, the signer, the views' context) and the
    review app's handlers: logging in, the pages, and the writes."""

    def __init__(self, config: ReviewConfig) -> None:
        self.config = config
        self.store = ReviewStore(config.db)
        secret = config.db.set_meta("review_secret", new_secret(), only_if_missing=True)
        self.auth = WebAuth(Signer(secret))
        self.ctx = Context(self.store, config.space)

    def routes(self) -> list[BaseRoute]:
        guarded = self.guarded
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/", guarded(self.index)),
            Route("/slot/{number}", guarded(self.slot)),
            Route("/student/{sid}", guarded(self.student)),
            Route("/question/{qid}", guarded(self.question)),
            Route("/audit", guarded(self.audit_page)),
            Route("/grades.csv", guarded(self.grades)),
            Route("/crops/{sid}/{crop:path}", guarded(self.crop)),
            Route("/api/{action}", guarded(self.api), methods=["POST"]),
            Route("/do/{action}", guarded(self.form_post), methods=["POST"]),
            Mount("/static", static_files(), name="static"),
        ]

    # ------------------------------------------------------------ sessions and login

    def ta(self, request: Request) -> Session | None:
        session = self.auth.session(request)
        return session if session is not None and session.role == "staff" else None

    def guarded(self, build: Page) -> Handler:
        """The page for a logged-in TA; anyone else is sent to `/login`."""

        async def handler(request: Request) -> Response:
            session = self.ta(request)
            if session is None:
                return RedirectResponse("/login", status_code=303)
            return await build(request, session)

        return handler

    def login_page(self, request: Request, message: str | None, status: int) -> Response:
        nonce, token = self.auth.login_token(request)
        response = page(
            "review/login.html.j2",
            {"csrf": token, "message": message, "info": self.config.space.info},
            status,
        )
        self.auth.set_login_cookie(response, request, nonce)
        return response

    async def login_form(self, request: Request) -> Response:
        return self.login_page(request, None, 200)

    async def login(self, request: Request) -> Response:
        db = self.config.db
        form = await read_form(request)
        if not self.auth.login_ok(request, form):
            return self.login_page(request, "The form expired; please log in again.", 403)
        name = " ".join(form.get("name", "").split())[:64]
        client, now = client_of(request), time.time()
        by_client, by_all = await run_in_threadpool(
            db.failures_since, client, "(review)", now - FAILURE_WINDOW
        )
        if by_client >= MAX_FAILURES_PER_CLIENT or by_all >= MAX_FAILURES_PER_CLIENT:
            return self.login_page(request, "Too many failed logins; wait ten minutes.", 429)
        ok = await run_in_threadpool(
            verify_password, form.get("password", ""), self.config.password_hash
        )
        if not name or not ok:
            await run_in_threadpool(db.record_failure, client, "(review)", now)
            return self.login_page(request, "Give your name and the review password.", 401)
        response = RedirectResponse("/", status_code=303)
        self.auth.start(response, request, "staff", name)
        return response

    # ------------------------------------------------------------ pages

    def html(self, name: str, request: Request, session: Session, view: dict[str, Any]) -> Response:
        base = {"who": session.student, "csrf": self.auth.csrf_for(session), "render": render_text}
        return page(f"review/{name}.html.j2", {**base, **view, "info": self.config.space.info})

    async def index(self, request: Request, session: Session) -> Response:
        view = await run_in_threadpool(index_view, self.ctx)
        return self.html("index", request, session, view)

    async def slot(self, request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        view = await run_in_threadpool(slot_view, self.ctx, number)
        return self.html("slot", request, session, view)

    async def student(self, request: Request, session: Session) -> Response:
        view = await run_in_threadpool(student_view, self.ctx, request.path_params["sid"])
        if view is None:
            return PlainTextResponse("no such student", status_code=404)
        return self.html("student", request, session, view)

    async def question(self, request: Request, session: Session) -> Response:
        view = await run_in_threadpool(question_view, self.ctx, request.path_params["qid"])
        if view is None:
            return PlainTextResponse("no such MCQ question", status_code=404)
        return self.html("question", request, session, view)

    async def audit_page(self, request: Request, session: Session) -> Response:
        log = await run_in_threadpool(self.store.audit_log)
        for row in log:
            row["when"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["at"]))
        return self.html("audit", request, session, {"log": log})

    async def grades(self, request: Request, session: Session) -> Response:
        text = await run_in_threadpool(lambda: self.config.space.grades_csv(self.store.saved()))
        return PlainTextResponse(text, media_type="text/csv; charset=utf-8")

    async def crop(self, request: Request, session: Session) -> Response:
        """A picture of an answer written on paper: only a crop a graded answer lists, from
        inside its submission folder."""
        sid, crop = request.path_params["sid"], request.path_params["crop"]
        path = crop_file(self.config.space.results, sid, crop)
        if path is None:
            return PlainTextResponse("no such picture", status_code=404)
        return FileResponse(
            path, media_type=PICTURES[path.suffix.lower()], headers={"Cache-Control": "private"}
        )

    # ------------------------------------------------------------ writes

    async def api(self, request: Request, session: Session) -> Response:
        if not self.auth.csrf_ok(request, session, None):
            return JSONResponse({"error": "CSRF token missing or wrong; reload"}, 403)
        action = API.get(request.path_params["action"])
        if action is None:
            return JSONResponse({"error": "unknown action"}, 404)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        status, reply = await run_in_threadpool(action, self.ctx, body, str(session.student))
        return JSONResponse(reply, status)

    async def form_post(self, request: Request, session: Session) -> Response:
        form = await read_form(request)
        if not self.auth.csrf_ok(request, session, form):
            return PlainTextResponse("CSRF token missing or wrong; reload", status_code=403)
        action = FORMS.get(request.path_params["action"])
        if action is None:
            return PlainTextResponse("unknown action", status_code=404)
        name, view = await run_in_threadpool(action, self.ctx, form, str(session.student))
        if name.startswith("/"):
            return RedirectResponse(name, status_code=303)
        return self.html(name, request, session, view)
