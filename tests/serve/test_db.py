"""The database layer on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlalchemy as sa

from mmexam.serve.db import MIGRATIONS, Database, database_url, schema_version


def test_revisions_append_and_the_past_is_recoverable(db_url):
    db = Database(database_url(db_url, None))  # type: ignore[arg-type]
    db.ensure_students([("s1", "Ann"), ("s2", "Bo")])
    assert db.save("s1", [("1.1", "a"), ("4.b", ["a", "c"])], now=100.0) == 2
    assert db.save("s1", [("1.1", "b")], now=200.0) == 1
    assert db.save("s2", [("1.1", "d")], now=150.0) == 1
    assert {k: r.value for k, r in db.latest("s1").items()} == {"1.1": "b", "4.b": ["a", "c"]}
    assert db.latest("s1", at=150.0)["1.1"].value == "a"
    assert [r.value for r in db.history("s1", "1.1")] == ["a", "b"]
    assert db.latest("s2")["1.1"].value == "d"
    assert db.student("s1")["last_save_at"] == 200.0
    # a refusal inside the transaction stores nothing
    assert db.save("s1", [("1.1", "z")], 300.0, allowed=lambda row: "403 over") == "403 over"
    assert db.latest("s1")["1.1"].value == "b"
    db.close()


def test_migrations_run_once_and_reopen(db_url):
    first = Database(database_url(db_url, None))  # type: ignore[arg-type]
    first.set_meta("secret", "s")
    first.close()
    again = Database(database_url(db_url, None))  # type: ignore[arg-type]
    with again.read() as conn:
        versions = [row[0] for row in conn.execute(sa.select(schema_version.c.version))]
    assert versions == [v for v, _ in MIGRATIONS]
    assert again.set_meta("secret", "other", only_if_missing=True) == "s"
    again.close()


def test_sqlite_is_durable_wal_with_full_sync(tmp_path):
    db = Database(database_url(str(tmp_path / "exam.sqlite"), tmp_path))
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    db.close()


def test_urls():
    from pathlib import Path

    assert database_url(None, Path("/b/serve.sqlite")) == "sqlite:////b/serve.sqlite"
    assert database_url("postgresql://u@h/db", Path("x")) == "postgresql+psycopg://u@h/db"
    assert database_url("exam.sqlite", Path("x")) == "sqlite:///exam.sqlite"
