"""A review kept on PostgreSQL (`mmexam review --database postgresql://…`) is read back by
`mmexam grade --review-database`."""

from __future__ import annotations

import pytest
from review_helpers import PASSWORD, log_in
from test_review_app import api, rubric_items, slot_answers
from typer.testing import CliRunner

from mmexam.cli import app as cli

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def test_grade_reads_a_review_kept_on_postgresql(example, pg_database):
    from mmexam.serve.review.app import create_review_app
    from mmexam.serve.review.server import prepare_review

    grades, manual = example / "grades", example / "manual"
    prepared = prepare_review(
        grades, manual, database=pg_database, password=PASSWORD, measure="lexical"
    )
    try:
        ta = log_in(create_review_app(prepared.config), "Ann")
        answers = slot_answers(ta, "2.1")
        same = [a["id"] for a in answers if a["key"] == answers[0]["key"]]
        first = rubric_items(ta, "2.1")[0]
        assert (
            api(ta, "toggle", {"ids": same, "rubric": first["id"], "on": True}).status_code == 200
        )
        shown = ta.get("/grades.csv").text
    finally:
        prepared.config.db.close()
    assert not (grades / "review.sqlite").exists()  # nothing of the review on disk

    run = ["grade", str(example / "submissions"), "--variants"]
    run += [str(example / "build" / "variants.json"), "--out", str(grades), "--manual", str(manual)]
    without = CliRunner().invoke(cli, run)
    assert without.exit_code == 0, without.output
    assert (grades / "grades.csv").read_text(encoding="utf-8") != shown  # the TA's points missing

    done = CliRunner().invoke(cli, [*run, "--review-database", pg_database])
    assert done.exit_code == 0, done.output
    assert (grades / "grades.csv").read_text(encoding="utf-8") == shown
