"""What TAs decided in `mmexam review`, as grading reads it back.

`mmexam review GRADES_DIR` keeps its state in a database (`GRADES_DIR/review.sqlite`
by default). The tables are declared here, in the grading layer, because
grading is their reader: a re-run of `mmexam grade` (and the review app's own
totals) lays the saved review over the automatic results with `overlay`:

- a written answer a TA graded (typed, or written on paper and seen as its
  crops: code on paper included) gets points = the sum of the rubric items
  applied + the free adjustment, clamped to [0, max]; its comment lists the
  rubric items and the TA's comment. An answer the TA has not graded stays
  pending (points null), never zero;
- an auto-scored item with an override gets the override's points, the reason
  as comment;
- an MCQ question with an extra accepted key gives full points to everyone who
  chose that option.

The database is the source: a decision there replaces the same row of a CSV
sheet in manual/; a row the database does not hold (a sheet filled by hand for
a student the review has not seen) still applies. The sheets written by the
run carry the database's points, so they stay an export.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from mmexam.grade.manual import Review, Sheet
from mmexam.grade.results import ItemResult, StudentResult

REVIEW_DB = "review.sqlite"
"""The review database's file name inside the grades folder."""

review_metadata = sa.MetaData()

answers = sa.Table(
    "review_answers",
    review_metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # "<student>|<printed number>"
    sa.Column("student", sa.String(128), nullable=False),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),  # the review key (bank id + part letter)
    sa.Column("question", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("max_points", sa.Float, nullable=False),
    sa.Column("answer", sa.Text),
    sa.Column("crops", sa.Text),  # JSON list: the pictures of an answer on paper (schema 2)
    sa.Column("group_id", sa.String(200)),
    sa.Column("graded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("adjust", sa.Float, nullable=False, server_default="0"),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("override_points", sa.Float),
    sa.Column("override_reason", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_by", sa.String(128)),
    sa.Column("updated_at", sa.Float),
    sa.Index("review_answers_number", "number", "key"),
)

rubric = sa.Table(
    "review_rubric",
    review_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("review_rubric_key", "key", "position"),
)

applied = sa.Table(
    "review_applied",
    review_metadata,
    sa.Column("answer_id", sa.String(200), primary_key=True),
    sa.Column("rubric_id", sa.Integer, primary_key=True),
)

groups = sa.Table(
    "review_groups",
    review_metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("how", sa.String(16), nullable=False),  # identical, proposed, confirmed, single
)

mcq_keys = sa.Table(
    "review_mcq_keys",
    review_metadata,
    sa.Column("question", sa.String(128), primary_key=True),  # the review key
    sa.Column("option", sa.Integer, primary_key=True),  # authored index
)

regrades = sa.Table(
    "review_regrades",
    review_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("answer_id", sa.String(200), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open, resolved
    sa.Column("reply", sa.Text),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("resolved_by", sa.String(128)),
    sa.Column("resolved_at", sa.Float),
)

audit = sa.Table(
    "review_audit",
    review_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("old", sa.Text, nullable=False, server_default=""),
    sa.Column("new", sa.Text, nullable=False, server_default=""),
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Decision(_Model):
    """What the review says about one item of one student."""

    points: float | None = Field(description="Points; null while the answer is pending.")
    comment: str | None = Field(default=None, description="Shown in the student's feedback.")
    rubric: list[str] = Field(default_factory=list, description="Rubric items applied.")
    override: bool = Field(default=False, description="An auto-scored item, overridden.")


class SavedReview(_Model):
    """The whole saved review: decisions by '<student>|<number>', extra MCQ keys by question."""

    decisions: dict[str, Decision] = Field(default_factory=dict, description="By answer id.")
    extra_keys: dict[str, list[int]] = Field(
        default_factory=dict,
        description="Authored option indices also accepted, by review key (question id, plus "
        "the part letter for a problem's part).",
    )


def answer_id(student: str, number: str) -> str:
    return f"{student}|{number}"


def answer_points(max_points: float, rubric_points: Iterable[float], adjust: float) -> float:
    """Rubric items plus the adjustment, clamped to [0, max]."""
    return round(min(max_points, max(0.0, sum(rubric_points) + adjust)), 4)


def read_saved(conn: Connection) -> SavedReview:
    """The saved review, from an open connection to the review database."""
    items: dict[str, list[tuple[float, str]]] = {}
    join = applied.join(rubric, applied.c.rubric_id == rubric.c.id)
    query = sa.select(applied.c.answer_id, rubric.c.points, rubric.c.description).select_from(join)
    for aid, points, description in conn.execute(query.order_by(rubric.c.position)):
        items.setdefault(aid, []).append((points, description))
    decisions: dict[str, Decision] = {}
    columns = [c for c in answers.c if c.name != "crops"]  # a review of schema 1 lacks it
    for row in conn.execute(sa.select(*columns)).mappings():
        if row["override_points"] is not None:
            reason = row["override_reason"] or ""
            decisions[row["id"]] = Decision(
                points=row["override_points"], comment=f"Changed by a TA: {reason}", override=True
            )
        elif row["kind"] in ("short_answer", "open") or row["graded"]:
            hits = items.get(row["id"], [])
            points = (
                answer_points(row["max_points"], (p for p, _ in hits), row["adjust"])
                if row["graded"]
                else None
            )
            decisions[row["id"]] = Decision(
                points=points, comment=row["comment"] or None, rubric=[d for _, d in hits]
            )
    extra: dict[str, list[int]] = {}
    for question, option in conn.execute(sa.select(mcq_keys.c.question, mcq_keys.c.option)):
        extra.setdefault(question, []).append(option)
    return SavedReview(decisions=decisions, extra_keys={q: sorted(o) for q, o in extra.items()})


def load_saved(out: Path, url: str | None = None) -> SavedReview | None:
    """The review saved in `out/review.sqlite` (or at the SQLAlchemy `url`, where
    `mmexam review --database` kept it), or None where there is none."""
    path = out / REVIEW_DB
    if url is None and not path.is_file():
        return None
    engine = sa.create_engine(url or f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(answers.name):
                return None
            return read_saved(conn)
    finally:
        engine.dispose()


def _auto(item: ItemResult, aid: str, saved: SavedReview) -> ItemResult:
    decision = saved.decisions.get(aid)
    if decision is not None and decision.override:
        return item.model_copy(
            update={"points": decision.points, "status": "manual", "comment": decision.comment}
        )
    extra = saved.extra_keys.get(item.review_key)
    chosen = item.chosen[0] if item.chosen else None
    if item.kind == "mcq" and extra and chosen in extra and item.points != item.max_points:
        note = "This option was also accepted after the exam."
        return item.model_copy(
            update={"points": item.max_points, "messages": [*item.messages, note]}
        )
    return item


def overlay(
    results: list[StudentResult], sheets: dict[str, Sheet], saved: SavedReview | None
) -> tuple[list[StudentResult], dict[str, Sheet]]:
    """Results with overrides and extra keys applied, and sheets whose rows the saved
    review replaces (apply them with `manual.apply_reviews`)."""
    if saved is None:
        return results, sheets
    merged = {key: Sheet(s.key, s.path, dict(s.rows)) for key, s in sheets.items()}
    out: list[StudentResult] = []
    for result in results:
        items = []
        for item in result.items:
            aid = answer_id(result.id, item.number)
            if item.status in ("review", "manual"):
                decision = saved.decisions.get(aid)
                if decision is not None:
                    sheet = merged.setdefault(
                        item.review_key, Sheet(item.review_key, Path(f"{item.review_key}.csv"))
                    )
                    sheet.rows[result.id] = Review(
                        decision.points, _comment(decision), item.answer or "", 0
                    )
            else:
                item = _auto(item, aid, saved)
            items.append(item)
        out.append(result.model_copy(update={"items": items}))
    return out, merged


def _comment(decision: Decision) -> str | None:
    lines = [f"✓ {d}" for d in decision.rubric]
    if decision.comment:
        lines.append(decision.comment)
    return "\n".join(lines) or None
