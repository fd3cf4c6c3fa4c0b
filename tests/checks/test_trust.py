"""Sandbox round two: nothing a check decides rests on the student's word, and the
trusted side trusts no reply. One test per attack class of tests/fixtures/hostile/
(the generic hostile tests in tests/sandbox/test_client.py run them too)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mmexam.checks import export_fixtures, run_checks
from mmexam.checks.judges import hidden_error
from mmexam.checks.runner import grading_salt
from mmexam.cli import app
from mmexam.paths import GRADERS
from mmexam.safetext import printable
from mmexam.sandbox import Sandbox, SandboxWarning, isolation

pytestmark = pytest.mark.sandbox

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _source(name: str) -> str:
    return (HOSTILE / f"{name}.py").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sandbox():
    from mmexam.paths import trusted_modules

    box = Sandbox(modules=trusted_modules())
    if box.isolation != "bwrap":
        box.close()
        pytest.skip("these guarantees hold under bubblewrap")
    yield box
    box.close()


def _by_name(result) -> dict:
    return {c.name: c for c in result.checks}


# ----------------------------------------------------------------- the student's word


def test_a_patched_mutation_report_does_not_hide_an_in_place_change(sandbox):
    result = _by_name(run_checks("fusion", _source("patched_mutation_report"), sandbox=sandbox))
    assert result["tensor_fusion.values"].passed  # the values are right…
    unchanged = result["tensor_fusion.inputs_unchanged"]
    assert not unchanged.passed and "modified its input x_a in place" in unchanged.message
    with sandbox.open(_source("patched_mutation_report"), "fusion.py") as student:
        x_a, x_b = torch.ones(2, 3), torch.ones(2, 4)
        outcome = student.call("tensor_fusion", x_a, x_b)
    assert outcome.ok and torch.equal(x_a, torch.ones(2, 3))  # the caller's copy is intact
    torch.testing.assert_close(outcome.inputs_after[0], torch.full((2, 3), 2.0))


def test_one_line_wrong_functions_earn_no_property_points(sandbox):
    result = run_checks("fusion", _source("one_line_property"), sandbox=sandbox)
    checks = _by_name(result)
    assert result.score == 0, [c.name for c in result.checks if c.passed]
    interaction = checks["additive_multiplicative.interaction_only"]
    assert "not credited" in interaction.message  # it holds, and pays nothing
    assert not any(c.passed and c.max_score > 0 for c in result.checks)


def test_a_lookup_table_of_the_bundle_earns_nothing_in_grading(sandbox, tmp_path):
    source = _source("bundle_lookup_table")
    practice = run_checks("fusion", source, hidden=False, sandbox=sandbox)
    assert practice.score > 0  # control: the table does hold the bundle's answers
    export_fixtures("fusion", tmp_path)
    replay = run_checks("fusion", source, hidden=False, sandbox=sandbox, fixtures=tmp_path)
    assert replay.score == practice.score  # the bundle's fixtures stay for practice
    graded = run_checks("fusion", source, hidden=True, sandbox=sandbox)
    assert graded.score == 0, [c.name for c in graded.checks if c.passed]
    other = run_checks("fusion", source, hidden=True, sandbox=sandbox, salt="another run")
    assert other.score == 0


def test_graded_public_checks_draw_fresh_inputs_that_the_reference_still_passes(sandbox):
    assert grading_salt() == grading_salt()  # one salt per grading process
    reference = (GRADERS / "fusion" / "reference.py").read_text()
    for salt in ("a", "b"):
        result = run_checks("fusion", reference, hidden=True, sandbox=sandbox, salt=salt)
        assert result.score == result.max_score > 0


# ----------------------------------------------------------------- replies


def test_a_deep_json_reply_is_one_clean_failure(sandbox):
    result = _by_name(run_checks("fusion", _source("deep_json_reply"), sandbox=sandbox))
    message = result["tensor_fusion.values"].message
    assert "not valid JSON" in message and "Recursion" not in message


def test_huge_replies_are_refused_before_they_are_read(sandbox):
    result = _by_name(run_checks("fusion", _source("huge_replies"), sandbox=sandbox))
    assert "more than the" in result["tensor_fusion.values"].message
    assert "the grader reads for this call" in result["tensor_fusion.values"].message


def test_huge_replies_do_not_grow_the_grader():
    """Measured in a fresh process: the grader's peak RSS for a file answering every call
    with 64 MB stays near the reference's (it was 1 GB before the caps)."""
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from mmexam.checks import run_checks\n"
        "run_checks('fusion', Path(sys.argv[1]).read_text())\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    peaks = {}
    for name, path in (
        ("reference", GRADERS / "fusion" / "reference.py"),
        ("hostile", HOSTILE / "huge_replies.py"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        )
        peaks[name] = int(done.stdout.split()[-1])
    assert peaks["hostile"] < peaks["reference"] + 200, peaks


def test_escape_sequences_reach_no_output(sandbox):
    result = run_checks("fusion", _source("escape_sequences"), sandbox=sandbox)
    dumped = result.model_dump_json()
    assert "pwned" in dumped  # the text is kept…
    assert not CONTROL.search(json.loads(dumped)["checks"][0]["message"])  # …its controls not
    assert not any(CONTROL.search(c.message) for c in result.checks)
    with sandbox.open(_source("escape_sequences"), "fusion.py") as student:
        student.call("tensor_fusion", torch.ones(1, 1), torch.ones(1, 1))
        printed = student.stdout
    assert "graded 100/100" in printed and not CONTROL.search(printed.replace("\n", ""))
    cli = CliRunner().invoke(app, ["check", "fusion", str(HOSTILE / "escape_sequences.py")])
    assert cli.exit_code == 1, cli.output  # graded: its checks fail
    assert "pwned" in cli.stdout and "\x1b]" not in cli.stdout and "\x9b" not in cli.stdout


def test_printable_keeps_text_and_drops_every_control():
    assert printable("a\tb\nc\r\nd\x1b[2Je\x9bf\x00g\x7f") == "a\tb\nc\nd[2Jefg"
    assert printable("") == ""


# ----------------------------------------------------------------- the seccomp filter


@pytest.mark.parametrize("name", ["fcntl_setown_zygote", "exotic_sockets"])
def test_the_filter_refuses_signal_owners_and_foreign_sockets(sandbox, name):
    restarts = sandbox.restarts
    with sandbox.open(_source(name), "fusion.py") as student:
        outcome = student.call("tensor_fusion", torch.ones(2, 2), torch.ones(2, 3))
        printed = student.stdout
    assert outcome.ok, outcome.error
    assert "LEAKED" not in printed, printed
    assert sandbox.restarts == restarts  # the zygote lived


def test_the_filter_still_allows_unix_sockets_and_plain_fcntl(sandbox):
    source = (
        "import fcntl, os, socket\n"
        "def f(x):\n"
        "    a, b = socket.socketpair()\n"
        "    r, w = os.pipe()\n"
        "    fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK)\n"
        "    return x + fcntl.fcntl(r, fcntl.F_GETFD) * 0\n"
    )
    with sandbox.open(source, "f.py") as student:
        outcome = student.call("f", torch.ones(1))
    assert outcome.ok, outcome.error


# ----------------------------------------------------------------- hidden inputs


def test_hidden_checks_never_echo_what_the_student_code_says(sandbox):
    result = run_checks("fusion", _source("echo_hidden_inputs"), sandbox=sandbox)
    hidden = [c for c in result.checks if c.visibility == "hidden" and not c.skipped]
    public = [c for c in result.checks if c.visibility == "public"]
    assert hidden and all("INPUTS-ECHO" not in c.message for c in hidden)
    assert all(not re.search(r"E_m?\d", c.message) for c in hidden)
    assert all("returned shape" not in c.message for c in hidden)
    assert any("INPUTS-ECHO" in c.message for c in public)  # public feedback stays useful
    values = _by_name(result)["tensor_fusion.hidden_values"].message
    assert "raised ValueError (its message is not shown for hidden inputs)" in values


def test_hidden_error_keeps_only_the_kind():
    assert hidden_error("raised ValueError: 0.1, 0.2 (fusion.py, line 3)").startswith(
        "raised ValueError"
    )
    assert "E_123" not in hidden_error("raised E_123_456: x")
    assert hidden_error("exceeded 5 s CPU 0.123") == "exceeded the CPU time limit"
    assert hidden_error("called sys.exit('0.5')") == "ended its process"
    assert hidden_error("anything 0.5") == "failed (the message is not shown for hidden inputs)"


# ----------------------------------------------------------------- configuration


def test_without_bubblewrap_nothing_runs_unless_no_sandbox(monkeypatch, tmp_path):
    monkeypatch.setitem(isolation._probe_cache, "bwrap", "bubblewrap (bwrap) is not installed")
    path = HOSTILE / "no_bwrap_reads_reference.py"
    refused = CliRunner().invoke(app, ["check", "fusion", str(path), "--hidden", "--json"])
    assert refused.exit_code == 1, refused.output
    assert "--no-sandbox" in refused.output and "required" in refused.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)
        opted = CliRunner().invoke(
            app, ["check", "fusion", str(path), "--hidden", "--json", "--no-sandbox"]
        )
    assert opted.exit_code == 1, opted.output  # graded: the functions it lacks fail
    document = json.loads(opted.stdout)
    assert document["sandbox"] == "rlimits-only"  # said in the JSON…
    checks = {c["name"]: c for c in document["checks"]}
    assert checks["tensor_fusion.values"]["passed"]  # control: without it the attack works
    table = CliRunner().invoke(app, ["check", "fusion", str(path), "--no-sandbox"])
    assert "WITHOUT a sandbox" in table.output  # …and in the table


def test_a_course_folder_that_is_the_python_prefix_stays_hidden(monkeypatch, tmp_path):
    """A course made into a venv in place: its folder is the prefix the box binds."""
    from mmexam.sandbox import client

    course = tmp_path / "course"
    for part in ("graders", "question_bank", "lib", "bin"):
        (course / part).mkdir(parents=True)
    (course / "COURSE-SECRET.txt").write_text("key")
    real = client.python_paths
    monkeypatch.setattr(client, "python_paths", lambda: [*real(), str(course)])
    source = _source("read_course_in_prefix")
    args = (torch.ones(1, 1), torch.ones(1, 1))
    with Sandbox() as open_box, open_box.open(source, "fusion.py") as student:
        student.call("tensor_fusion", *args)
        assert "LEAKED" in student.stdout  # control: bound and not hidden, it is found
    with Sandbox(hide=[course]) as box, box.open(source, "fusion.py") as student:
        outcome = student.call("tensor_fusion", *args)
        assert outcome.ok, outcome.error
        assert "LEAKED" not in student.stdout, student.stdout


def test_grading_hides_the_course_build_and_submissions(tmp_path):
    from mmexam.grade.engine import GradeOptions, secret_folders

    options = GradeOptions(
        submissions=tmp_path / "subs",
        variants=tmp_path / "build" / "variants.json",
        out=tmp_path / "grades",
        manual=tmp_path / "manual",
        graders=tmp_path / "course" / "graders",
    )
    hidden = set(secret_folders(options))
    want = {"subs", "build", "grades", "manual", "course", "course/graders"}
    assert {(tmp_path / w).resolve() for w in want} <= hidden
    assert os.path.sep not in {str(p) for p in hidden}


def test_the_worker_pool_refuses_without_bubblewrap(monkeypatch):
    """What `mmexam grade` meets: its workers are never started without the opt-out."""
    from mmexam.errors import SandboxError
    from mmexam.sandbox import map_in_workers

    monkeypatch.setitem(isolation._probe_cache, "bwrap", "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxError, match="not installed — install bubblewrap .* --no-sandbox"):
        list(map_in_workers(len, ["ab"], jobs=1))
