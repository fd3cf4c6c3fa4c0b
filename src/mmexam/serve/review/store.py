"""The review's state in the database: answers, rubric items, groups, keys, regrades, audit.

Built on `mmexam.serve.db.Database` (SQLite in WAL mode by default, PostgreSQL by
URL): the same engine, write lock and durable transactions as `mmexam serve`.
The tables are declared in `mmexam.grade.review_state`, which grading reads back;
their schema version is kept in the database's `meta` table (`review_schema`).

**Two TAs on one slot never lose each other's work.** Applying or removing a
rubric item is a set operation on (answer, item): two TAs clicking different
items on the same answer both count, in either order. Everything that replaces
a value (an answer's adjustment and comment, an override, a rubric item's
points) carries the version the TA saw; a stale version is refused with
`Conflict` and the current value, never silently overwritten. Every change
bumps the answer's version and writes an audit row (who, when, old → new) in
the same transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mmexam.errors import MmexamError
from mmexam.grade.results import StudentResult
from mmexam.grade.review_state import (
    SavedReview,
    answer_id,
    answers,
    applied,
    audit,
    groups,
    mcq_keys,
    read_saved,
    regrades,
    review_metadata,
    rubric,
)
from mmexam.serve.db import Database
from mmexam.serve.review.groups import Group

SCHEMA = 2
"""2: answers carry the crops of an answer written on paper (a column added to schema 1)."""
WRITTEN = ("short_answer", "open")


class ReviewError(MmexamError):
    """A review action that cannot be done (unknown answer, bad points)."""


class Conflict(ReviewError):
    """Someone changed this since the TA saw it: their version is stale."""

    def __init__(self, message: str, current: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.current = dict(current)


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class ReviewStore:
    """The review's tables in an open `Database`; every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.write() as conn:
            review_metadata.create_all(conn, checkfirst=True)
            have = {c["name"] for c in sa.inspect(conn).get_columns(answers.name)}
            if "crops" not in have:  # a review of schema 1
                conn.execute(sa.text(f"ALTER TABLE {answers.name} ADD COLUMN crops TEXT"))
        db.set_meta("review_schema", str(SCHEMA))

    # ------------------------------------------------------------ loading

    def sync(
        self,
        results: Iterable[StudentResult],
        bank_rubric: Mapping[str, list[tuple[float, str]]],
        propose: Any,
    ) -> int:
        """Add answers not seen yet (and the bank's rubric of new keys); group new written
        answers with `propose(answers: dict[id, text]) -> list[Group]`. An answer written on
        paper (its crops; code on paper too) is a group of its own: pictures are never
        grouped as identical text. How many were added."""
        now = time.time()
        with self.db.write() as conn:
            query = sa.select(answers.c.id, answers.c.answer, answers.c.crops, answers.c.group_id)
            known = {r[0]: (r[1], r[2]) for r in conn.execute(query)}
            grouped = {r[0] for r in conn.execute(query) if r[3] is not None}
            new: dict[str, dict[str, str]] = {}
            pictures: dict[str, list[str]] = {}
            for result in results:
                for item in result.items:
                    aid = answer_id(result.id, item.number)
                    crops = _j(item.crops) if item.crops else None
                    if aid in known:
                        if (item.answer, crops) != known[aid]:
                            conn.execute(
                                answers.update()
                                .where(answers.c.id == aid)
                                .values(
                                    answer=item.answer, crops=crops, version=answers.c.version + 1
                                )
                            )
                    else:
                        conn.execute(
                            answers.insert().values(
                                id=aid,
                                student=result.id,
                                number=item.number,
                                key=item.review_key,
                                question=item.question,
                                kind=item.kind,
                                max_points=item.max_points,
                                answer=item.answer,
                                crops=crops,
                                updated_at=now,
                            )
                        )
                    if aid in grouped:
                        continue
                    if item.scanned and item.status == "review":
                        pictures.setdefault(item.review_key, []).append(aid)
                    elif item.kind in WRITTEN and item.answer is not None:
                        new.setdefault(item.review_key, {})[aid] = item.answer
            have = {r[0] for r in conn.execute(sa.select(rubric.c.key).distinct())}
            for key, items in bank_rubric.items():
                if key not in have:
                    for pos, (points, text) in enumerate(items):
                        conn.execute(
                            rubric.insert().values(
                                key=key, position=pos, points=points, description=text
                            )
                        )
            for key, texts in new.items():
                self._group(conn, key, propose(texts))
            for key, ids in pictures.items():
                self._group(conn, key, [Group((aid,), "single") for aid in ids])
            return sum(len(t) for t in new.values()) + sum(len(i) for i in pictures.values())

    def _group(self, conn: Connection, key: str, proposed: list[Group]) -> None:
        taken = conn.execute(sa.select(sa.func.count()).where(groups.c.key == key)).scalar() or 0
        for n, group in enumerate(proposed, start=taken + 1):
            gid = f"{key}#{n}"
            conn.execute(groups.insert().values(id=gid, key=key, how=group.how))
            conn.execute(
                answers.update().where(answers.c.id.in_(group.members)).values(group_id=gid)
            )

    def saved(self) -> SavedReview:
        with self.db.read() as conn:
            return read_saved(conn)

    # ------------------------------------------------------------ reading

    def slot(self, number: str) -> dict[str, Any]:
        """Everything a TA sees of one printed slot: answers, groups, rubric items by key."""
        with self.db.read() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    sa.select(answers).where(answers.c.number == number).order_by(answers.c.id)
                ).mappings()
            ]
            keys = sorted({r["key"] for r in rows})
            items = conn.execute(
                sa.select(rubric).where(rubric.c.key.in_(keys)).order_by(rubric.c.position)
            ).mappings()
            by_key: dict[str, list[dict[str, Any]]] = {}
            for item in items:
                by_key.setdefault(item["key"], []).append(dict(item))
            ids = [r["id"] for r in rows]
            hits: dict[str, list[int]] = {}
            for aid, rid in conn.execute(
                sa.select(applied.c.answer_id, applied.c.rubric_id).where(
                    applied.c.answer_id.in_(ids)
                )
            ):
                hits.setdefault(aid, []).append(rid)
            query = sa.select(groups.c.id, groups.c.how).where(groups.c.key.in_(keys))
            how = {gid: kind for gid, kind in conn.execute(query)}
            open_requests = self._regrades(conn, ids)
        for row in rows:
            row["applied"] = sorted(hits.get(row["id"], []))
            row["group_how"] = how.get(row["group_id"]) if row["group_id"] else None
            row["regrades"] = open_requests.get(row["id"], [])
        return {"number": number, "answers": rows, "rubric": by_key}

    def _regrades(self, conn: Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        query = sa.select(regrades).where(regrades.c.answer_id.in_(ids)).order_by(regrades.c.id)
        for r in conn.execute(query).mappings():
            out.setdefault(r["answer_id"], []).append(dict(r))
        return out

    def slots(self) -> list[dict[str, Any]]:
        """Printed slots with written answers: how many answers, how many still pending."""
        graded = sa.func.sum(sa.case((answers.c.graded, 1), else_=0))
        query = (
            sa.select(answers.c.number, sa.func.count(), graded)
            .where(answers.c.group_id.is_not(None))
            .group_by(answers.c.number)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {"number": n, "answers": c, "pending": c - (g or 0)}
            for n, c, g in sorted(rows, key=lambda r: _number_key(r[0]))
        ]

    def answer(self, aid: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._answer(conn, aid)

    def _answer(self, conn: Connection, aid: str) -> dict[str, Any]:
        row = conn.execute(sa.select(answers).where(answers.c.id == aid)).mappings().first()
        if row is None:
            raise ReviewError(f"no answer {aid!r} — reload the page")
        return dict(row)

    def audit_log(self, limit: int = 500) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
            return [dict(r) for r in conn.execute(query).mappings()]

    def open_regrades(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            query = sa.select(regrades).order_by(regrades.c.status, regrades.c.id)
            return [dict(r) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------ writing

    def _log(
        self, conn: Connection, who: str, action: str, target: str, old: Any, new: Any
    ) -> None:
        conn.execute(
            audit.insert().values(
                who=who, at=time.time(), action=action, target=target, old=_j(old), new=_j(new)
            )
        )

    def _touch(self, conn: Connection, ids: Iterable[str], who: str, **values: Any) -> None:
        conn.execute(
            answers.update()
            .where(answers.c.id.in_(list(ids)))
            .values(version=answers.c.version + 1, updated_by=who, updated_at=time.time(), **values)
        )

    def toggle(self, ids: list[str], rubric_id: int, on: bool, who: str) -> None:
        """Apply (on) or remove a rubric item on answers (one, or a group's members); they
        count as graded. A set operation: concurrent toggles of other items all stay."""
        with self.db.write() as conn:
            item = (
                conn.execute(sa.select(rubric).where(rubric.c.id == rubric_id)).mappings().first()
            )
            rows = [self._answer(conn, aid) for aid in ids]
            if item is None or any(r["key"] != item["key"] for r in rows):
                raise ReviewError(f"rubric item {rubric_id} does not belong to these answers")
            for row in rows:
                has = conn.execute(
                    sa.select(applied).where(
                        applied.c.answer_id == row["id"], applied.c.rubric_id == rubric_id
                    )
                ).first()
                if on and has is None:
                    conn.execute(applied.insert().values(answer_id=row["id"], rubric_id=rubric_id))
                elif not on and has is not None:
                    conn.execute(
                        applied.delete().where(
                            applied.c.answer_id == row["id"], applied.c.rubric_id == rubric_id
                        )
                    )
                else:
                    continue
                self._log(conn, who, "rubric", row["id"], not on, {"item": rubric_id, "on": on})
            self._touch(conn, ids, who, graded=True)

    def mark_graded(self, ids: list[str], graded: bool, who: str) -> None:
        """Grade answers with the rubric items they have (none: 0 points), or set them pending."""
        with self.db.write() as conn:
            for aid in ids:
                old = self._answer(conn, aid)["graded"]
                if bool(old) != graded:
                    self._log(conn, who, "graded", aid, bool(old), graded)
            self._touch(conn, ids, who, graded=graded)

    def set_note(
        self, aid: str, version: int, adjust: float, comment: str, who: str
    ) -> dict[str, Any]:
        """The free adjustment and comment of one answer, if `version` is still current."""
        with self.db.write() as conn:
            row = self._answer(conn, aid)
            if row["version"] != version:
                raise Conflict(f"{aid} was changed by {row['updated_by']} meanwhile", row)
            if abs(adjust) > row["max_points"]:
                raise ReviewError(f"an adjustment of {adjust} is more than the item's points")
            old = {"adjust": row["adjust"], "comment": row["comment"]}
            self._log(conn, who, "note", aid, old, {"adjust": adjust, "comment": comment})
            self._touch(conn, [aid], who, adjust=adjust, comment=comment, graded=True)
            return self._answer(conn, aid)

    def override(
        self, aid: str, version: int, points: float | None, reason: str, who: str
    ) -> dict[str, Any]:
        """Replace an auto-scored item's points (None: back to the automatic score)."""
        with self.db.write() as conn:
            row = self._answer(conn, aid)
            if row["version"] != version:
                raise Conflict(f"{aid} was changed by {row['updated_by']} meanwhile", row)
            if points is not None and not 0 <= points <= row["max_points"]:
                raise ReviewError(f"points must be between 0 and {row['max_points']:g}")
            if points is not None and not reason.strip():
                raise ReviewError("an override needs a reason (the student sees it)")
            old = {"points": row["override_points"], "reason": row["override_reason"]}
            self._log(conn, who, "override", aid, old, {"points": points, "reason": reason})
            self._touch(conn, [aid], who, override_points=points, override_reason=reason or None)
            return self._answer(conn, aid)

    def add_rubric(self, key: str, points: float, description: str, who: str) -> int:
        with self.db.write() as conn:
            last = conn.execute(
                sa.select(sa.func.max(rubric.c.position)).where(rubric.c.key == key)
            ).scalar()
            rid = conn.execute(
                rubric.insert().values(
                    key=key, position=(last or 0) + 1, points=points, description=description
                )
            ).inserted_primary_key
            self._log(conn, who, "rubric-add", key, None, {"points": points, "text": description})
            return int(rid[0]) if rid else 0

    def edit_rubric(
        self, rid: int, version: int, points: float, description: str, who: str
    ) -> list[str]:
        """Change a rubric item; every answer that has it is re-scored. Their ids."""
        with self.db.write() as conn:
            row = conn.execute(sa.select(rubric).where(rubric.c.id == rid)).mappings().first()
            if row is None:
                raise ReviewError(f"no rubric item {rid}")
            if row["version"] != version:
                raise Conflict(f"rubric item {rid} was changed meanwhile", dict(row))
            old = {"points": row["points"], "text": row["description"]}
            conn.execute(
                rubric.update()
                .where(rubric.c.id == rid)
                .values(points=points, description=description, version=rubric.c.version + 1)
            )
            self._log(
                conn, who, "rubric-edit", str(rid), old, {"points": points, "text": description}
            )
            ids = [
                r[0]
                for r in conn.execute(
                    sa.select(applied.c.answer_id).where(applied.c.rubric_id == rid)
                )
            ]
            if ids:
                self._touch(conn, ids, who)
            return ids

    def move_rubric(self, rid: int, delta: int, who: str) -> None:
        """Move a rubric item up (-1) or down (+1) among its key's items."""
        with self.db.write() as conn:
            row = conn.execute(sa.select(rubric).where(rubric.c.id == rid)).mappings().first()
            if row is None:
                raise ReviewError(f"no rubric item {rid}")
            order = [
                r[0]
                for r in conn.execute(
                    sa.select(rubric.c.id)
                    .where(rubric.c.key == row["key"])
                    .order_by(rubric.c.position)
                )
            ]
            i = order.index(rid)
            j = min(max(i + delta, 0), len(order) - 1)
            order.insert(j, order.pop(i))
            for pos, item in enumerate(order):
                conn.execute(rubric.update().where(rubric.c.id == item).values(position=pos))
            self._log(conn, who, "rubric-move", str(rid), i, j)

    def confirm_group(self, gid: str, who: str) -> None:
        with self.db.write() as conn:
            conn.execute(groups.update().where(groups.c.id == gid).values(how="confirmed"))
            self._log(conn, who, "group-confirm", gid, "proposed", "confirmed")

    def split(self, aid: str, who: str) -> str:
        """Take an answer (and its identical copies) out of its group into a group of its own."""
        with self.db.write() as conn:
            row = self._answer(conn, aid)
            count = (
                conn.execute(sa.select(sa.func.count()).where(groups.c.key == row["key"])).scalar()
                or 0
            )
            gid = f"{row['key']}#{count + 1}"
            conn.execute(groups.insert().values(id=gid, key=row["key"], how="single"))
            self._log(conn, who, "group-split", aid, row["group_id"], gid)
            self._touch(conn, [aid], who, group_id=gid)
            return gid

    def add_key(self, question: str, option: int, who: str) -> None:
        """Accept a second option of an MCQ question for everyone."""
        with self.db.write() as conn:
            exists = conn.execute(
                sa.select(mcq_keys).where(
                    mcq_keys.c.question == question, mcq_keys.c.option == option
                )
            ).first()
            if exists is None:
                conn.execute(mcq_keys.insert().values(question=question, option=option))
                self._log(conn, who, "mcq-key", question, None, option)

    def add_regrade(self, aid: str, request: str, who: str) -> int:
        with self.db.write() as conn:
            self._answer(conn, aid)
            rid = conn.execute(
                regrades.insert().values(
                    answer_id=aid,
                    request=request,
                    status="open",
                    created_by=who,
                    created_at=time.time(),
                )
            ).inserted_primary_key
            self._log(conn, who, "regrade-open", aid, None, request)
            return int(rid[0]) if rid else 0

    def resolve_regrade(self, rid: int, reply: str, who: str) -> None:
        with self.db.write() as conn:
            row = conn.execute(sa.select(regrades).where(regrades.c.id == rid)).mappings().first()
            if row is None:
                raise ReviewError(f"no regrade request {rid}")
            if row["status"] == "resolved":
                raise Conflict(
                    f"regrade request {rid} was resolved by {row['resolved_by']}", dict(row)
                )
            conn.execute(
                regrades.update()
                .where(regrades.c.id == rid)
                .values(status="resolved", reply=reply, resolved_by=who, resolved_at=time.time())
            )
            self._log(conn, who, "regrade-resolve", row["answer_id"], row["request"], reply)


def _number_key(number: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in number.split("."))
