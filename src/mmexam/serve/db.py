"""The database layer of the web app: SQLite (WAL) by default, PostgreSQL by URL.

One SQLAlchemy Core schema and one code path for both. SQLite is opened in
WAL mode with `synchronous=FULL`, so a save that was acknowledged (its
transaction committed) survives `kill -9` and power loss; writes in one
process are serialised by a lock and take the database's write lock up front
(`BEGIN IMMEDIATE`), so they never deadlock on an upgrade. PostgreSQL runs
the same statements through psycopg 3, so several server processes (or hosts)
can share one exam.

Answers are never overwritten: every save appends a row to `revisions`, and
the answer a student had at any moment is the last revision saved up to then.

Migrations are a short linear list of Python functions (`MIGRATIONS`), applied
in order under a lock (PostgreSQL advisory lock, SQLite's write lock) and
recorded in `schema_version`. Alembic would bring an ini file, an env.py and a
script folder for what is, here, one table of versions; `mmexam review` adds
its tables by appending to the same list.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mmexam.errors import MmexamError


class DatabaseError(MmexamError):
    """The database cannot be opened, or holds something this mmexam does not understand."""


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

students = sa.Table(
    "students",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("code_hash", sa.Text),  # "scrypt$n$r$p$salt$hash", see mmexam.serve.security
    sa.Column("code_issued_at", sa.Float),
    # the roster's extra time (accommodations), and extra time the staff gave during the exam
    sa.Column("roster_minutes", sa.Float, nullable=False, server_default="0"),
    sa.Column("extra_minutes", sa.Float, nullable=False, server_default="0"),
    sa.Column("first_login_at", sa.Float),
    sa.Column("last_login_at", sa.Float),
    sa.Column("last_save_at", sa.Float),
    sa.Column("submitted_at", sa.Float),
    sa.Column("submitted_how", sa.String(16)),  # "student" or "deadline"
    sa.Column("receipt", sa.String(64)),
)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("student_id", sa.String(64), nullable=False),
    sa.Column("key", sa.String(80), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # JSON: a string or a list of strings
    sa.Column("saved_at", sa.Float, nullable=False),
    sa.Index("revisions_student_key", "student_id", "key", "id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("student_id", sa.String(64)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("events_student", "student_id", "id"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("student_id", sa.String(64)),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("login_failures_client", "client", "at"),
    sa.Index("login_failures_student", "student_id", "at"),
)

check_runs = sa.Table(
    "check_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("student_id", sa.String(64), nullable=False),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, failed
    sa.Column("result", sa.Text),  # TaskResult JSON, or the failure message
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Index("check_runs_student", "student_id", "task", "id"),
)


def _v1(conn: Connection) -> None:
    for table in (schema_version, meta, students, revisions, events, login_failures, check_runs):
        table.create(conn, checkfirst=True)


Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[int, Migration]] = [(1, _v1)]
"""(version, function) in order; a database is at the highest version recorded."""


def database_url(url: str | None, default_file: Path) -> str:
    """A SQLAlchemy URL: SQLite file paths and postgresql:// URLs get their driver."""
    if not url:
        return f"sqlite:///{default_file}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite:", "postgresql+")):
        return url
    if "://" not in url:  # a plain file path
        return f"sqlite:///{Path(url)}"
    raise DatabaseError(
        f"--database {url!r}: use a SQLite file (exam.sqlite), sqlite:///path "
        "or postgresql://user@host/dbname"
    )


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


@dataclass(frozen=True)
class Revision:
    """One saved answer: which field, what it held, when."""

    id: int
    key: str
    value: str | list[str]
    saved_at: float


class Database:
    """An open exam database (thread-safe: one instance per process)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        self._pending: list[_Save] = []
        self._pending_lock = threading.Lock()
        self._committing = False
        try:
            if self.sqlite:
                path = sa.make_url(url).database
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self.engine: Engine = sa.create_engine(
                    url,
                    connect_args={"timeout": 30, "check_same_thread": False},
                    pool_size=8,
                    max_overflow=8,
                    poolclass=sa.pool.QueuePool,
                )
                sa.event.listen(self.engine, "connect", _sqlite_connect)
                sa.event.listen(self.engine, "begin", _sqlite_begin)
            else:
                self.engine = sa.create_engine(
                    url, pool_size=10, max_overflow=10, pool_pre_ping=True
                )
            self.migrate()
        except sa.exc.OperationalError as error:
            raise DatabaseError(
                f"{shown_url(url)}: cannot open the database ({_first_line(error)}) — "
                "check --database"
            ) from None
        except ImportError as error:
            raise DatabaseError(
                f"{shown_url(url)}: the database driver is missing ({error}) — "
                "install mmexam with its dependencies (psycopg for PostgreSQL)"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ transactions

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed (durably) when the block ends without error."""
        with self._write_lock if self.sqlite else _nolock(), self.engine.connect() as conn:
            conn = conn.execution_options(mmexam_write=True)
            with conn.begin():
                yield conn

    def migrate(self) -> int:
        """Bring the schema up to date; the version it is at."""
        with self.write() as conn:
            if not self.sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(72011)"))
            schema_version.create(conn, checkfirst=True)
            done = {row[0] for row in conn.execute(sa.select(schema_version.c.version))}
            newest = max(v for v, _ in MIGRATIONS)
            if done and max(done) > newest:
                raise DatabaseError(
                    f"{shown_url(self.url)}: the database is at schema version {max(done)}, "
                    f"newer than this mmexam knows ({newest}) — upgrade mmexam"
                )
            for version, step in MIGRATIONS:
                if version not in done:
                    step(conn)
                    conn.execute(
                        schema_version.insert().values(version=version, applied_at=time.time())
                    )
            return newest

    # ------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str, *, only_if_missing: bool = False) -> str:
        """Set a value; with only_if_missing, keep an existing one. The value now stored."""
        with self.write() as conn:
            old = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
            if old is None:
                conn.execute(meta.insert().values(key=key, value=value))
                return value
            if only_if_missing:
                return old
            conn.execute(meta.update().where(meta.c.key == key).values(value=value))
            return value

    # ------------------------------------------------------------ students

    def ensure_students(self, people: list[tuple[str, str | None]]) -> None:
        """Add every (id, name) not yet known; names of known students are updated."""
        with self.write() as conn:
            known = dict(conn.execute(sa.select(students.c.id, students.c.name)).all())
            for sid, name in people:
                if sid not in known:
                    conn.execute(
                        students.insert().values(
                            id=sid, name=name, extra_minutes=0, roster_minutes=0
                        )
                    )
                elif known[sid] != name:
                    conn.execute(students.update().where(students.c.id == sid).values(name=name))

    def student(self, sid: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(sa.select(students).where(students.c.id == sid)).mappings().first()
            return dict(row) if row else None

    def all_students(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(sa.select(students).order_by(students.c.id)).mappings().all()
            return [dict(r) for r in rows]

    def set_code_hashes(self, hashes: dict[str, str], now: float) -> None:
        with self.write() as conn:
            for sid, code_hash in hashes.items():
                conn.execute(
                    students.update()
                    .where(students.c.id == sid)
                    .values(code_hash=code_hash, code_issued_at=now)
                )
                conn.execute(
                    events.insert().values(student_id=sid, kind="code", detail="issued", at=now)
                )

    def record_login(self, sid: str, now: float, client: str) -> None:
        with self.write() as conn:
            conn.execute(
                students.update()
                .where(students.c.id == sid)
                .values(
                    last_login_at=now,
                    first_login_at=sa.func.coalesce(students.c.first_login_at, now),
                )
            )
            conn.execute(
                events.insert().values(student_id=sid, kind="login", detail=client, at=now)
            )

    def record_failure(self, client: str, sid: str | None, now: float) -> None:
        with self.write() as conn:
            conn.execute(login_failures.insert().values(client=client, student_id=sid, at=now))

    def failures_since(self, client: str, sid: str | None, since: float) -> tuple[int, int]:
        """Failed logins since `since`: from this client, and against this student id."""
        with self.read() as conn:
            by_client = conn.execute(
                sa.select(sa.func.count())
                .select_from(login_failures)
                .where(login_failures.c.client == client, login_failures.c.at >= since)
            ).scalar_one()
            by_student = 0
            if sid:
                by_student = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(login_failures)
                    .where(login_failures.c.student_id == sid, login_failures.c.at >= since)
                ).scalar_one()
            return by_client, by_student

    def add_extra_minutes(self, sid: str, minutes: float, now: float, who: str) -> None:
        with self.write() as conn:
            conn.execute(
                students.update()
                .where(students.c.id == sid)
                .values(extra_minutes=students.c.extra_minutes + minutes)
            )
            conn.execute(
                events.insert().values(
                    student_id=sid, kind="extra_time", detail=f"{minutes:g} min by {who}", at=now
                )
            )

    def set_roster_minutes(self, minutes: dict[str, float]) -> None:
        """The roster's extra time per student (replacing what an earlier roster said)."""
        with self.write() as conn:
            for sid, value in minutes.items():
                conn.execute(
                    students.update().where(students.c.id == sid).values(roster_minutes=value)
                )

    def submit(self, sid: str, receipt: str, now: float, how: str) -> bool:
        """Mark the paper submitted (once); False if it already was."""
        with self.write() as conn:
            done = conn.execute(
                students.update()
                .where(students.c.id == sid, students.c.submitted_at.is_(None))
                .values(submitted_at=now, submitted_how=how, receipt=receipt)
            ).rowcount
            if done:
                conn.execute(
                    events.insert().values(
                        student_id=sid, kind="submit", detail=f"{how} {receipt}", at=now
                    )
                )
            return bool(done)

    def reopen(self, sid: str, now: float, who: str) -> None:
        with self.write() as conn:
            conn.execute(
                students.update()
                .where(students.c.id == sid)
                .values(submitted_at=None, submitted_how=None, receipt=None)
            )
            conn.execute(
                events.insert().values(student_id=sid, kind="reopen", detail=f"by {who}", at=now)
            )

    def events_of(self, sid: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                sa.select(events).where(events.c.student_id == sid).order_by(events.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    # ------------------------------------------------------------ answers

    def save(
        self,
        sid: str,
        changes: list[tuple[str, str | list[str]]],
        now: float,
        allowed: Callable[[dict[str, Any] | None], str | None] | None = None,
    ) -> int | str:
        """Append one revision per change, all or none, durably before it returns.
        `allowed` sees the student's row, read inside the transaction, and may refuse
        (its message is returned, nothing is stored); otherwise the number of
        revisions stored.

        Group commit: saves that arrive while another commit is on its way to disk wait
        and go together in the next transaction, so one slow fsync delays a batch once
        instead of every save behind it in turn."""
        request = _Save(sid, changes, now, allowed)
        with self._pending_lock:
            self._pending.append(request)
            leader = not self._committing
            self._committing = True
        if leader:
            self._commit_pending()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _commit_pending(self) -> None:
        try:
            self._commit_groups()
        except BaseException:  # the leader was interrupted: the next save leads
            with self._pending_lock:
                self._committing = False
            raise

    def _commit_groups(self) -> None:
        while True:
            with self._pending_lock:
                group, self._pending = self._pending, []
                if not group:
                    self._committing = False
                    return
            failure: Exception | None = None
            try:
                with self.write() as conn:
                    _append_group(conn, group)
            except Exception as error:  # noqa: BLE001 — handed to every save of the group
                failure = error
            finally:
                for request in group:
                    if failure is not None or request.result is None:
                        request.error = failure or DatabaseError("the save was interrupted")
                    request.done.set()

    def latest(self, sid: str, at: float | None = None) -> dict[str, Revision]:
        """Each field's last revision (saved up to `at`, if given)."""
        with self.read() as conn:
            return latest_in(conn, sid, at)

    def history(self, sid: str, key: str | None = None) -> list[Revision]:
        with self.read() as conn:
            query = sa.select(revisions).where(revisions.c.student_id == sid)
            if key is not None:
                query = query.where(revisions.c.key == key)
            return [_revision(r) for r in conn.execute(query.order_by(revisions.c.id)).mappings()]

    def revision_count(self) -> int:
        with self.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(revisions)).scalar_one()

    # ------------------------------------------------------------ check runs

    def add_check_run(self, sid: str, task: str, now: float) -> int:
        with self.write() as conn:
            result = conn.execute(
                check_runs.insert().values(
                    student_id=sid, task=task, status="queued", created_at=now
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def active_check_run(self, sid: str, since: float) -> bool:
        """Whether the student has a run queued or running (started after `since`), in
        any server process sharing this database."""
        with self.read() as conn:
            found = conn.execute(
                sa.select(check_runs.c.id)
                .where(
                    check_runs.c.student_id == sid,
                    check_runs.c.status.in_(("queued", "running")),
                    check_runs.c.created_at >= since,
                )
                .limit(1)
            ).first()
            return found is not None

    def update_check_run(
        self, run_id: int, status: str, result: str | None = None, now: float | None = None
    ) -> None:
        with self.write() as conn:
            conn.execute(
                check_runs.update()
                .where(check_runs.c.id == run_id)
                .values(status=status, result=result, finished_at=now)
            )

    def last_check_run(self, sid: str, task: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = (
                conn.execute(
                    sa.select(check_runs)
                    .where(check_runs.c.student_id == sid, check_runs.c.task == task)
                    .order_by(check_runs.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None


@dataclass
class _Save:
    """One save waiting for its group's commit."""

    sid: str
    changes: list[tuple[str, str | list[str]]]
    now: float
    allowed: Callable[[dict[str, Any] | None], str | None] | None
    done: threading.Event = field(default_factory=threading.Event)
    result: int | str | None = None
    error: BaseException | None = None


def _append_group(conn: Connection, group: list[_Save]) -> None:
    """A group of saves in three statements whatever its size: read the students' rows,
    insert every revision, stamp each student's last save."""
    sids = sorted({request.sid for request in group})
    rows = {
        row["id"]: dict(row)
        for row in conn.execute(sa.select(students).where(students.c.id.in_(sids))).mappings()
    }
    inserts: list[dict[str, Any]] = []
    stamps: dict[str, float] = {}
    for request in group:
        refusal = request.allowed(rows.get(request.sid)) if request.allowed else None
        if refusal is not None:
            request.result = refusal
            continue
        request.result = len(request.changes)
        for key, value in request.changes:
            inserts.append(
                {
                    "student_id": request.sid,
                    "key": key,
                    "value": json.dumps(value, ensure_ascii=False),
                    "saved_at": request.now,
                }
            )
        if request.changes:
            stamps[request.sid] = max(request.now, stamps.get(request.sid, request.now))
    if inserts:
        conn.execute(revisions.insert(), inserts)
    if stamps:
        conn.execute(
            students.update()
            .where(students.c.id == sa.bindparam("sid"))
            .values(last_save_at=sa.bindparam("stamp")),
            [{"sid": sid, "stamp": stamp} for sid, stamp in stamps.items()],
        )


def latest_in(conn: Connection, sid: str, at: float | None = None) -> dict[str, Revision]:
    """Each field's last revision for one student, inside an open transaction."""
    last = sa.select(sa.func.max(revisions.c.id)).where(revisions.c.student_id == sid)
    if at is not None:
        last = last.where(revisions.c.saved_at <= at)
    last = last.group_by(revisions.c.key)
    rows = conn.execute(sa.select(revisions).where(revisions.c.id.in_(last))).mappings()
    return {r["key"]: _revision(r) for r in rows}


def _revision(row: Any) -> Revision:
    return Revision(row["id"], row["key"], json.loads(row["value"]), row["saved_at"])


@contextmanager
def _nolock() -> Iterator[None]:
    yield


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off; `_sqlite_begin` starts them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("mmexam_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
