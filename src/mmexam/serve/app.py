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

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from mmexam.serve.login import LoginPages
from mmexam.serve.site import ServeConfig
from mmexam.serve.staff import StaffPages
from mmexam.serve.student import StudentPages, StudentWrites
from mmexam.serve.web import BodyLimit, SecurityHeaders, static_files


class ExamSite(LoginPages, StudentPages, StudentWrites, StaffPages):
    """One exam's state (see `mmexam.serve.site.SiteCore`) and every handler of its app."""

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/paper", self.paper, methods=["GET"]),
            Route("/api/state", self.api_state, methods=["GET"]),
            Route("/api/save", self.api_save, methods=["POST"]),
            Route("/api/check", self.api_check, methods=["POST"]),
            Route("/api/check/{task}", self.api_check_result, methods=["GET"]),
            Route("/api/submit", self.api_submit, methods=["POST"]),
            Route("/staff", self.staff, methods=["GET"]),
            Route("/staff/login", self.staff_login_form, methods=["GET"]),
            Route("/staff/login", self.staff_login, methods=["POST"]),
            Route("/staff/extra", self.staff_extra, methods=["POST"]),
            Route("/staff/reopen", self.staff_reopen, methods=["POST"]),
            Route("/staff/paper/{sid}", self.staff_paper, methods=["GET"]),
            Mount("/static", app=static_files(), name="static"),
        ]


def create_app(config: ServeConfig) -> Starlette:
    """The web app for one exam: routes, middleware, the check queue and auto-submission."""
    site = ExamSite(config)
    app = Starlette(routes=site.routes(), lifespan=site.lifespan)
    app.state.config = config
    app.state.checks = site.checks
    app.state.auto_submit_due = site.auto_submit_due
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, limit=config.max_body)  # type: ignore[arg-type]
    return app
