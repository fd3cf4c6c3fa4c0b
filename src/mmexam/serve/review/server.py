"""Opening a grades folder for review, and serving it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from mmexam.grade.review_state import REVIEW_DB
from mmexam.serve.db import Database, database_url
from mmexam.serve.review.app import ReviewConfig
from mmexam.serve.review.groups import THRESHOLDS, choose_measure, propose_groups
from mmexam.serve.review.store import ReviewStore
from mmexam.serve.review.workspace import open_workspace
from mmexam.serve.security import hash_password


@dataclass
class PreparedReview:
    """A grades folder opened for review: the app's config and what to tell the TA."""

    config: ReviewConfig
    store: ReviewStore
    password: str | None  # the generated password, when none was given
    measure: str
    added: int


def prepare_review(
    grades: Path,
    manual: Path,
    *,
    database: str | None = None,
    password: str | None = None,
    measure: str = "auto",
) -> PreparedReview:
    """Open the results and the review database; add answers (grouped) not seen yet."""
    space = open_workspace(grades, manual)
    db = Database(database_url(database, grades / REVIEW_DB))
    store = ReviewStore(db)
    name, similarity = choose_measure(measure)
    threshold = THRESHOLDS[name]
    added = store.sync(
        space.results, space.rubric, lambda texts: propose_groups(texts, similarity, threshold)
    )
    shown = None
    if password is None:
        password = shown = secrets.token_urlsafe(9)
    config = ReviewConfig(space, db, hash_password(password))
    return PreparedReview(config, store, shown, name, added)


def run_review(prepared: PreparedReview, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn, one process)."""
    import uvicorn

    from mmexam.serve.review.app import create_review_app

    uvicorn.run(
        create_review_app(prepared.config),
        host=host,
        port=port,
        log_level="warning",
        timeout_keep_alive=75,
        timeout_graceful_shutdown=5,
    )
