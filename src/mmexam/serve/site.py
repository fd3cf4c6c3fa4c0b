"""What every page of `mmexam serve` shares: the config, the limits, and `SiteCore`.

`SiteCore` holds one exam's state (config, database, signer, check queue) and
the helpers the handlers share: who is logged in, a student's time and state,
why a write is refused now, submitting, auto-submission and the two pages both
students and staff see (the login form and the paper). The handlers themselves
are methods of its subclasses, one per concern (`mmexam.serve.login`,
`mmexam.serve.student`, `mmexam.serve.staff`), put together as
`mmexam.serve.app.ExamSite`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mmexam.serve.checks import CheckQueue
from mmexam.serve.db import Database
from mmexam.serve.papers import (
    CODE_PREFIX,
    OnlineExam,
    reading,
    receipt,
    submission_files,
)
from mmexam.serve.security import Session, Signer, new_secret
from mmexam.serve.web import WebAuth, page

MAX_BODY = 256 * 1024
"""Largest request body (a save holds at most a code file and a few answers)."""
FAILURE_WINDOW = 600.0
MAX_FAILURES_PER_STUDENT = 5
MAX_FAILURES_PER_CLIENT = 30
AUTO_SUBMIT_EVERY = 5.0

Refusal = Callable[[dict[str, Any] | None], str | None]


@dataclass
class ServeConfig:
    """What one server process serves, and how."""

    exam: OnlineExam
    db: Database
    start: float
    minutes: float
    staff_password_hash: str
    check_workers: int = 2
    require_sandbox: bool = True  # False: --no-sandbox, student checks may run without bwrap
    warnings: list[str] = field(default_factory=list)  # for the console and the staff page
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


class SiteCore:
    """One exam's shared state and the helpers its handlers share."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.db = config.db
        self.exam = config.exam
        self.signer = Signer(self.db.set_meta("secret", new_secret(), only_if_missing=True))
        self.auth = WebAuth(self.signer)
        self.checks = CheckQueue(
            self.db,
            config.check_workers,
            runner=config.check_runner,
            clock=config.clock,
            graders=self.exam.graders,
            tasks=self.exam.all_tasks,
            require_sandbox=config.require_sandbox,
        )
        self.checks.warnings.extend(config.warnings)

    # ------------------------------------------------------------ sessions

    def student_session(self, request: Request) -> Session | None:
        session = self.auth.session(request)
        if (
            session is None
            or session.role != "student"
            or session.student not in self.exam.students
        ):
            return None
        return session

    def staff_session(self, request: Request) -> Session | None:
        session = self.auth.session(request)
        return session if session is not None and session.role == "staff" else None

    # ------------------------------------------------------------ a student's time

    def state(self, sid: str, row: dict[str, Any] | None = None) -> dict[str, Any]:
        config = self.config
        row = row or self.db.student(sid) or {}
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

    def refusal(self, sid: str, seen: dict[str, Any] | None = None) -> Refusal:
        """Inside the save's transaction, given the student's row: why this student may
        not write now, if so. The row is left in `seen` (the response's state is made
        from it)."""
        config = self.config

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

    # ------------------------------------------------------------ submitting

    def values_of(self, sid: str) -> dict[str, Any]:
        return {k: r.value for k, r in self.db.latest(sid).items()}

    def do_submit(self, sid: str, how: str) -> str | None:
        exam = self.exam
        files = submission_files(exam.students[sid], exam.fields(sid), self.values_of(sid))
        digest = receipt(sid, files)
        return digest if self.db.submit(sid, digest, self.config.clock(), how) else None

    def auto_submit_due(self) -> int:
        """Submit every paper whose deadline has passed (students who logged in)."""
        now, done = self.config.clock(), 0
        for row in self.db.all_students():
            if row["id"] not in self.exam.students:
                continue
            if row["first_login_at"] is None or row["submitted_at"] is not None:
                continue
            if now >= deadline_of(self.config, row):
                done += self.do_submit(row["id"], "deadline") is not None
        return done

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.checks.start()
        task = asyncio.create_task(_every(AUTO_SUBMIT_EVERY, self.auto_submit_due, self.config))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(self.checks.stop)

    # ------------------------------------------------------------ pages both roles see

    def login_page(
        self, request: Request, message: str | None, status: int, staff: bool
    ) -> Response:
        nonce, token = self.auth.login_token(request)
        blueprint = self.exam.bank.blueprint
        response = page(
            "serve/login.html.j2",
            {
                "title": blueprint.title,
                "course": blueprint.course,
                "csrf": token,
                "message": message,
                "staff": staff,
                "action": "/staff/login" if staff else "/login",
            },
            status,
        )
        self.auth.set_login_cookie(response, request, nonce)
        return response

    def paper_page(self, sid: str, session: Session, staff: bool) -> Response:
        """A student's paper, as the student (`staff=False`) or the staff see it."""
        exam, config = self.exam, self.config
        now = config.clock()
        row = self.db.student(sid) or {}
        info = self.state(sid, row)
        if not staff and now < config.start:
            return page(
                "serve/waiting.html.j2",
                {
                    "title": exam.bank.blueprint.title,
                    "start": clock_text(config.start),
                    "student": exam.students[sid],
                    "csrf": self.auth.csrf_for(session),
                },
            )
        fields = exam.fields(sid)
        values = self.values_of(sid)
        online = {
            "student": sid,
            "csrf": self.auth.csrf_for(session),
            "staff_view": staff,
            "fields": {k: f.__dict__ for k, f in fields.items()},
            "values": values,
            "readings": {
                k: reading(f, values[k])
                for k, f in fields.items()
                if f.kind == "numeric" and isinstance(values.get(k), str) and values[k].strip()
            },
            "starters": {t: exam.starter(t) for t in exam.tasks(sid)},
            "code_at": self.code_at(sid),
            "code_prefix": CODE_PREFIX,
            "state": info,
            "runs": self.last_runs(sid),
        }
        return HTMLResponse(exam.render(sid, online))

    def code_at(self, sid: str) -> dict[str, str]:
        """Each code task of the student's paper, with the number of its first item."""
        code_at: dict[str, str] = {}
        for item in self.exam.students[sid].items:
            if item.kind == "code":
                code_at.setdefault(str(self.exam.body(item).task), item.number)
        return code_at

    def last_runs(self, sid: str) -> dict[str, dict[str, Any]]:
        runs = {}
        for task in self.exam.tasks(sid):
            run = self.db.last_check_run(sid, task)
            if run is not None:
                runs[task] = run_view(run)
        return runs


async def _every(seconds: float, job: Callable[[], int], config: ServeConfig) -> None:
    while True:
        if config.auto_submit:
            with contextlib.suppress(Exception):
                await run_in_threadpool(job)
        await asyncio.sleep(seconds)


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    """A check run as the student's page and `/api/check/{task}` show it."""
    view: dict[str, Any] = {"id": run["id"], "task": run["task"], "status": run["status"]}
    if run["status"] == "done" and run["result"]:
        view["result"] = json.loads(run["result"])
    elif run["status"] == "failed":
        view["message"] = run["result"]
    return view
