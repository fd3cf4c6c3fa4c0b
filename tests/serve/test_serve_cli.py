"""`mmexam serve codes`, `mmexam serve export` and `mmexam grade --database`."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.grade.submissions import parse_answers
from mmexam.serve.db import Database, database_url
from mmexam.serve.security import verify_code

EXAMPLES_ROSTER = Path(__file__).resolve().parents[2] / "examples" / "roster.csv"


@pytest.fixture
def build(built, tmp_path):
    """A private copy of the built exam (the database lands in it)."""
    copy = tmp_path / "build"
    shutil.copytree(built, copy)
    return copy


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def test_codes_are_issued_once_hashed_and_printed_on_slips(build, tmp_path):
    from pypdf import PdfReader

    result = run("serve", "codes", str(build), "--out", str(tmp_path / "codes"))
    assert result.exit_code == 0, result.output
    path = tmp_path / "codes" / "codes.csv"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [r["id"] for r in rows][:2] == ["s2024001", "s2024002"] and len(rows) == 13
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = Database(database_url(None, build / "serve.sqlite"))
    stored = {r["id"]: r["code_hash"] for r in db.all_students()}
    for row in rows:
        assert row["code"] not in stored[row["id"]]
        assert verify_code(row["code"], stored[row["id"]])
        assert verify_code(row["code"].lower().replace("-", ""), stored[row["id"]])
    text = "".join(
        page.extract_text() for page in PdfReader(tmp_path / "codes" / "codes.pdf").pages
    )
    for row in rows:
        assert row["code"] in text and row["id"] in text
    # a second run keeps every code; --student reissues one
    again = run("serve", "codes", str(build), "--out", str(tmp_path / "again"))
    assert again.exit_code == 0 and "13 students already have a code" in again.output
    assert not (tmp_path / "again" / "codes.csv").exists()
    one = run("serve", "codes", str(build), "--student", "s2024003", "--out", str(tmp_path / "one"))
    assert one.exit_code == 0, one.output
    new = list(csv.DictReader((tmp_path / "one" / "codes.csv").read_text().splitlines()))
    assert [r["id"] for r in new] == ["s2024003"]
    stored = {r["id"]: r["code_hash"] for r in db.all_students()}
    assert verify_code(new[0]["code"], stored["s2024003"])
    assert not verify_code(rows[2]["code"], stored["s2024003"])


def test_errors_are_one_line(tmp_path):
    result = run("serve", "export", str(tmp_path / "nothing"))
    assert result.exit_code == 1
    assert "variants.json: not found" in result.output and "Traceback" not in result.output
    result = run("serve", "codes", str(tmp_path), "--database", "mysql://x")
    assert result.exit_code == 1


def test_export_writes_what_grading_reads_and_lists_who_never_logged_in(build, tmp_path):
    from mmexam.serve.server import open_exam

    _exam, db = open_exam(build, None)
    db.record_login("s2024001", 1.0, "test")
    text = "Two lines,\nwith 'quotes', a colon: and # no comment\n"
    db.save(
        "s2024001",
        [
            ("1.1", "b"),
            ("1.2", ""),
            ("4.b", ["a", "c"]),
            ("3.a", "3/4"),
            ("2.1", text),
            ("6.1", "yes"),
            ("file:fusion.py", "def f():\n    return 1\n"),
        ],
        2.0,
    )
    result = run("serve", "export", str(build), "--out", str(tmp_path / "subs"))
    assert result.exit_code == 0, result.output
    assert "exported 1 submissions" in result.output and "12 never logged in" in result.output
    folder = tmp_path / "subs" / "s2024001"
    assert sorted(p.name for p in folder.iterdir()) == ["answers.yaml", "fusion.py"]
    answers = parse_answers((folder / "answers.yaml").read_text())
    assert not answers.problems
    values = {k: a.value for k, a in answers.by_number.items()}
    assert values == {"1.1": "b", "4.b": ["a", "c"], "3.a": "3/4", "2.1": text, "6.1": "yes"}
    assert (folder / "fusion.py").read_text() == "def f():\n    return 1\n"
    assert not (tmp_path / "subs" / "s2024002").exists()
    # the revision log: the answers as they were at a moment
    db.save("s2024001", [("1.1", "c")], 3.0)
    result = run("serve", "export", str(build), "--out", str(tmp_path / "then"))
    assert (
        parse_answers((tmp_path / "then/s2024001/answers.yaml").read_text()).by_number["1.1"].value
        == "c"
    )
    at = "1970-01-01T00:00:02.5+00:00"
    result = run("serve", "export", str(build), "--out", str(tmp_path / "then"), "--at", at)
    assert result.exit_code == 0, result.output
    assert (
        parse_answers((tmp_path / "then/s2024001/answers.yaml").read_text()).by_number["1.1"].value
        == "b"
    )


@pytest.mark.sandbox
@pytest.mark.slow
def test_grade_reads_the_database(build, tmp_path):
    from mmexam.serve.server import open_exam

    exam, db = open_exam(build, None)
    db.record_login("s2024001", 1.0, "test")
    student = exam.students["s2024001"]
    right = {}
    for item in student.items:
        if item.kind == "mcq":
            body = exam.bank.questions[item.question]
            body = body.parts[item.subpart] if item.subpart is not None else body
            authored = "abcdefgh".index(body.answer)
            right[item.number] = "abcdefgh"[item.options.index(authored)]
    db.save("s2024001", list(right.items()), 2.0)
    out = tmp_path / "grades"
    result = run(
        "grade",
        "--database",
        str(build / "serve.sqlite"),
        "--variants",
        str(build / "variants.json"),
        "--out",
        str(out),
        "--manual",
        str(tmp_path / "manual"),
    )
    assert result.exit_code == 0, result.output
    assert (out / "online-submissions" / "s2024001" / "answers.yaml").is_file()
    grades = {r["id"]: r for r in csv.DictReader((out / "grades.csv").read_text().splitlines())}
    assert "s2024001" in grades
    points = sum(item.points for item in student.items if item.number in right)
    assert float(grades["s2024001"]["total (of 100)"]) == pytest.approx(points)


def test_roster_extra_minutes_move_that_students_deadline(build, tmp_path):
    from mmexam.serve.server import prepare
    from mmexam.serve.site import deadline_of

    roster = tmp_path / "roster.csv"
    lines = EXAMPLES_ROSTER.read_text().splitlines()
    rows = [lines[0] + ",extra_minutes"] + [
        line + (",30" if line.startswith("s2024002") else ",") for line in lines[1:]
    ]
    roster.write_text("\n".join(rows) + "\n")
    prepared = prepare(build, roster=roster, start="2030-01-01 09:00", minutes=60)
    config = prepared.config
    rows_by_id = {r["id"]: r for r in config.db.all_students()}
    assert deadline_of(config, rows_by_id["s2024001"]) == config.start + 3600
    assert deadline_of(config, rows_by_id["s2024002"]) == config.start + 90 * 60
    assert prepared.staff_password  # none given: one is made and shown once
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + ",extra_minutes\n" + lines[1] + ",lots\n")
    result = run(
        "serve", "--database", str(tmp_path / "x.sqlite"), str(build), "--roster", str(bad)
    )
    assert result.exit_code == 1 and "extra_minutes 'lots'" in result.output


def _serve_without_bwrap(build: Path, tmp_path: Path, *flags: str) -> subprocess.Popen:
    """`mmexam serve` on a PATH without bubblewrap, as on a machine that lacks it."""
    bare = tmp_path / "bin"
    bare.mkdir(exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return subprocess.Popen(
        [sys.executable, "-m", "mmexam", "serve", str(build), "--port", str(port), *flags],
        env={**os.environ, "PATH": str(bare)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_refuses_to_run_checks_without_the_sandbox_unless_told(build, tmp_path):
    refused = _serve_without_bwrap(build, tmp_path)
    out, err = refused.communicate(timeout=120)
    assert refused.returncode == 1
    refusal = (
        "error: the sandbox for the public checks is unavailable (bubblewrap (bwrap) is not "
        "installed): install bubblewrap (apt install bubblewrap), or pass --no-sandbox to run "
        "students' checks without it"
    )
    assert err.strip().splitlines() == [refusal]
    assert "serving" not in out

    opted_out = _serve_without_bwrap(build, tmp_path, "--no-sandbox", "--staff-password", "pw")
    try:
        assert opted_out.stderr is not None and opted_out.stdout is not None
        warning = opted_out.stderr.readline()
        assert warning.startswith("WARNING: student code runs WITHOUT a sandbox"), warning
        assert opted_out.stdout.readline().startswith("serving 13 papers at http://")
    finally:
        opted_out.terminate()
        opted_out.communicate(timeout=60)
