"""A student's side of `mmexam serve`: the paper and its state (`StudentPages`) and
the writes (`StudentWrites`: saving answers, running the checks, submitting).

There is no student id in any student URL: the session says who they are, and
a write that names another student is refused.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mmexam.serve.checks import Busy
from mmexam.serve.papers import ServeError, check_value, code_key, reading
from mmexam.serve.security import Session
from mmexam.serve.site import SiteCore, run_view
from mmexam.serve.web import error, read_json

Changes = list[tuple[str, str | list[str]]]


class StudentPages(SiteCore):
    """`/paper`, `/api/state` and `/api/check/{task}`: what a student reads."""

    async def paper(self, request: Request) -> Response:
        session = self.student_session(request)
        if session is None or session.student is None:
            return RedirectResponse("/login", status_code=303)
        return await run_in_threadpool(self.paper_page, session.student, session, False)

    async def api_state(self, request: Request) -> Response:
        session = self.student_session(request)
        if session is None or session.student is None:
            return error(401, "not logged in")
        return JSONResponse(await run_in_threadpool(self.state, session.student))

    async def api_check_result(self, request: Request) -> Response:
        session = self.student_session(request)
        if session is None or session.student is None:
            return error(401, "not logged in")
        task = request.path_params["task"]
        if code_key(task) not in self.exam.fields(session.student):
            return error(404, "no such code task on your paper")
        run = await run_in_threadpool(self.db.last_check_run, session.student, task)
        if run is None:
            return error(404, "no check run yet")
        return JSONResponse(run_view(run))


class StudentWrites(SiteCore):
    """`/api/save`, `/api/check` and `/api/submit`: what a student writes (JSON, CSRF
    token in the header, refused outside the student's time)."""

    async def json_write(self, request: Request) -> tuple[Session, dict[str, Any]] | Response:
        """The session and JSON body of a student's write, or the response refusing it."""
        session = self.student_session(request)
        if session is None or session.student is None:
            return error(401, "not logged in — log in again; your unsent changes are kept")
        if not self.auth.csrf_ok(request, session, None):
            return error(403, "missing or wrong CSRF token — reload the page")
        body = await read_json(request)
        if not isinstance(body, dict):
            return error(400, "expected a JSON object")
        claimed = body.pop("student", session.student)
        if claimed != session.student:
            return error(403, "you can only write to your own paper")
        return session, body

    async def api_save(self, request: Request) -> Response:
        got = await self.json_write(request)
        if isinstance(got, Response):
            return got
        session, body = got
        sid = str(session.student)
        changes = body.get("changes")
        if set(body) - {"changes"} or not isinstance(changes, list) or len(changes) > 200:
            return error(400, "expected {'changes': [{'key': ..., 'value': ...}, ...]}")
        fields = self.exam.fields(sid)
        cleaned: Changes = []
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
        return await self.save_changes(sid, cleaned)

    def save_now(self, sid: str, cleaned: Changes) -> Response:
        """Append the changes (one transaction, one thread hop) and answer with the state."""
        now, row = self.config.clock(), dict[str, Any]()
        outcome = self.db.save(sid, cleaned, now, self.refusal(sid, row))
        if isinstance(outcome, str):
            status, message = outcome.split(" ", 1)
            return error(int(status), message, state=self.state(sid, row or None))
        fields = self.exam.fields(sid)
        readings = {
            k: reading(fields[k], v)
            for k, v in cleaned
            if fields[k].kind == "numeric" and isinstance(v, str) and v.strip()
        }
        body = {"saved": outcome, "at": now, "readings": readings, "state": self.state(sid, row)}
        return JSONResponse(body)

    async def save_changes(self, sid: str, cleaned: Changes) -> Response:
        return await run_in_threadpool(self.save_now, sid, cleaned)

    async def api_check(self, request: Request) -> Response:
        got = await self.json_write(request)
        if isinstance(got, Response):
            return got
        session, body = got
        sid = str(session.student)
        task, source = body.get("task"), body.get("source")
        if set(body) - {"task", "source"} or not isinstance(task, str):
            return error(400, "expected {'task': ..., 'source': ...}")
        key = code_key(task)
        fields = self.exam.fields(sid)
        if key not in fields:
            return error(422, f"{task!r} is not a code task of your paper")
        try:
            value = check_value(fields[key], source)
        except ServeError as problem:
            return error(422, str(problem))
        saved = await self.save_changes(sid, [(key, value)])
        if saved.status_code != 200:
            return saved
        checks = self.checks
        try:
            run_id = await run_in_threadpool(checks.submit, sid, task, str(value))
        except Busy as busy:
            return error(409, str(busy))
        return JSONResponse({"run": run_id, "status": "queued", "waiting": checks.waiting()}, 202)

    async def api_submit(self, request: Request) -> Response:
        got = await self.json_write(request)
        if isinstance(got, Response):
            return got
        session, body = got
        sid = str(session.student)
        if body != {"confirm": True}:
            return error(400, "expected {'confirm': true}")
        refused = await run_in_threadpool(
            self.db.save, sid, [], self.config.clock(), self.refusal(sid)
        )
        if isinstance(refused, str):
            status, message = refused.split(" ", 1)
            return error(int(status), message, state=await run_in_threadpool(self.state, sid))
        digest = await run_in_threadpool(self.do_submit, sid, "student")
        info = await run_in_threadpool(self.state, sid)
        if digest is None:
            return error(409, "your paper was already submitted", state=info)
        return JSONResponse({"receipt": digest, "state": info})
