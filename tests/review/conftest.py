"""Fixtures of the review tests: the example class built and graded once, copied per test;
the review app in process (Starlette's TestClient), logged in as a named TA."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from review_helpers import PASSWORD, grade_again

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def graded_example(tmp_path_factory) -> Path:
    """The example class (examples/roster.csv, its submissions), built and graded."""
    from mmexam.build.exam import build_exam
    from mmexam.paths import DEFAULT_BANK

    root = tmp_path_factory.mktemp("review-example")
    build_exam(
        DEFAULT_BANK,
        root / "build",
        seed=0,
        roster=EXAMPLES / "roster.csv",
        formats=("html",),
        key=False,
    )
    shutil.copytree(EXAMPLES / "submissions", root / "submissions")
    grade_again(root)
    return root


@pytest.fixture
def example(graded_example, tmp_path) -> Path:
    """A private copy of the graded example class (build, submissions, grades, manual)."""
    root = tmp_path / "class"
    shutil.copytree(graded_example, root)
    return root


@pytest.fixture
def prepared(example):
    from mmexam.serve.review.server import prepare_review

    prepared = prepare_review(
        example / "grades", example / "manual", password=PASSWORD, measure="lexical"
    )
    yield prepared
    prepared.config.db.close()


@pytest.fixture
def app(prepared):
    from mmexam.serve.review.app import create_review_app

    return create_review_app(prepared.config)
