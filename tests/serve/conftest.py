"""Fixtures of the web app's tests: a built exam, databases (SQLite and a throwaway
PostgreSQL server), and the app in process (Starlette's TestClient, httpx)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from mmexam.serve.app import create_app
from mmexam.serve.codes import issue_codes
from mmexam.serve.db import Database
from mmexam.serve.papers import OnlineExam
from mmexam.serve.security import hash_password
from mmexam.serve.site import ServeConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STAFF_PASSWORD = "staff-pw-for-tests"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The example class's exam (seed 0, the shipped bank), HTML only: a build folder."""
    from mmexam.build.exam import build_exam
    from mmexam.paths import DEFAULT_BANK

    out = tmp_path_factory.mktemp("serve") / "build"
    build_exam(
        DEFAULT_BANK, out, seed=0, roster=EXAMPLES / "roster.csv", formats=("html",), key=False
    )
    return out


@pytest.fixture(scope="session")
def online_exam(built) -> OnlineExam:
    exam = OnlineExam(built)
    exam.check_all()
    return exam


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'exam.sqlite'}"
    return request.getfixturevalue("pg_database")


class Clock:
    """A clock the tests move by hand (the server's clock is injected)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """An exam served in process: the app, its database, its clock and the students' codes."""

    def __init__(self, exam: OnlineExam, url: str, *, minutes: float = 60.0) -> None:
        from starlette.testclient import TestClient

        self.exam = exam
        self.db = Database(_sqlalchemy_url(url))
        self.db.ensure_students([(s.id, s.name) for s in exam.manifest.students])
        self.codes = {c.student: c.code for c in issue_codes(self.db, exam).issued}
        self.clock = Clock(time.time())
        self.config = ServeConfig(
            exam=exam,
            db=self.db,
            start=self.clock.now - 60,
            minutes=minutes,
            staff_password_hash=hash_password(STAFF_PASSWORD),
            check_workers=1,
            clock=self.clock,
            auto_submit=False,
        )
        self.app = create_app(self.config)
        self._client_class = TestClient

    def client(self):
        return self._client_class(self.app, base_url="https://testserver")

    def login(self, client, sid: str, code: str | None = None):
        page = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return client.post(
            "/login",
            data={"csrf": csrf, "student": sid, "code": code or self.codes[sid]},
            follow_redirects=False,
        )

    def student(self, sid: str):
        """A logged-in client of `sid`, and the CSRF token of their paper."""
        client = self.client()
        client.__enter__()
        response = self.login(client, sid)
        assert response.status_code == 303, response.text
        paper = client.get("/paper")
        assert paper.status_code == 200
        token = re.search(r'"csrf": "([^"]+)"', paper.text).group(1)
        return client, token

    def staff(self):
        client = self.client()
        client.__enter__()
        page = client.get("/staff/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/staff/login",
            data={"csrf": csrf, "password": STAFF_PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff").text).group(1)
        return client, token


def _sqlalchemy_url(url: str) -> str:
    from mmexam.serve.db import database_url

    return database_url(url, Path("unused"))


@pytest.fixture
def harness(online_exam, tmp_path) -> Harness:
    return Harness(online_exam, f"sqlite:///{tmp_path / 'exam.sqlite'}")
