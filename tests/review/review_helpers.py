"""Helpers the review tests share (a plain module: test files import it by name, which
is not safe for a conftest.py, of which every test folder has one)."""

from __future__ import annotations

from pathlib import Path

PASSWORD = "review-pw-for-tests"


def grade_again(root: Path):
    """`mmexam grade` on the example class again (the cached results are reused)."""
    from mmexam.grade.engine import GradeOptions, grade_submissions
    from mmexam.paths import DEFAULT_BANK

    return grade_submissions(
        GradeOptions(
            submissions=root / "submissions",
            variants=root / "build" / "variants.json",
            bank=DEFAULT_BANK,
            out=root / "grades",
            manual=root / "manual",
            jobs=2,
        )
    )


def log_in(app, name: str):
    """A TestClient logged in as TA `name`; its CSRF token in `client.csrf`."""
    import re

    from starlette.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1")
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    reply = client.post(
        "/login",
        data={"csrf": token, "name": name, "password": PASSWORD},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    index = client.get("/")
    client.csrf = re.search(r'<meta name="csrf" content="([^"]+)"', index.text).group(1)
    return client
