"""The sandbox runs student code in a separate, limited process and returns plain tensors.

Every test here uses the real sandbox (bubblewrap where installed). The
hostile fixtures in tests/fixtures/hostile/ each declare on their second
line what they must get: `error` (the call fails), `load_error` (the import
fails), `wrong` (whatever comes back is not the right answer), `honest`
(the attack achieved nothing and the honest code's answer comes back) or
`any` (an attack on the students after it or beside it, which may slow or
kill itself: tests/sandbox/test_between_students.py judges those). A
file whose attack works says so with "LEAKED" in its error.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmexam.errors import SandboxError
from mmexam.sandbox import Limits, ModuleSpec, Sandbox, SandboxWarning, isolation
from mmexam.sandbox.channel import Conn

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
REFERENCE = REPO / "graders" / "fusion" / "reference.py"
LIMITS = Limits(
    cpu_seconds_per_call=1.0,
    cpu_seconds_per_submission=6.0,
    wall_seconds_per_submission=60.0,
    memory_mb=512,
    max_processes=32,
    output_bytes=4096,
)
HOST_FILES = [
    Path("/tmp/mmexam-hostile-escape.txt"),
    Path("/tmp/mmexam-hostile-thread-marker"),
    REPO / "escape-from-sandbox.txt",
    Path("/usr/escape-from-sandbox.txt"),
    Path("/etc/escape-from-sandbox.txt"),
]

FUSION = """
import torch

def tensor_fusion(x_a, x_b):
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    return (za[:, :, None] * zb[:, None, :]).reshape(x_a.shape[0], -1)

def pair(x0, x1, t):
    return (1 - t) * x0 + t * x1, x1 - x0

def scale_in_place(x):
    x.mul_(2)
    return x

def euler_sample(x0, velocity, steps):
    x = x0
    for k in range(steps):
        x = x + velocity(x, k / steps) / steps
    return x

def as_float(x):
    return float(x.sum())
"""


def expected_fusion(x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
    za = torch.cat([x_a, torch.ones(x_a.shape[0], 1, dtype=x_a.dtype)], dim=1)
    zb = torch.cat([x_b, torch.ones(x_b.shape[0], 1, dtype=x_b.dtype)], dim=1)
    return torch.einsum("bi,bj->bij", za, zb).reshape(x_a.shape[0], -1)


TRUSTED = """
import torch
from torch import nn


class Drift(nn.Module):
    def __init__(self, A, c, b):
        super().__init__()
        self.register_buffer("A", A)
        self.register_buffer("c", c)
        self.register_buffer("b", b)

    def forward(self, x, t):
        return x @ self.A.T + t * self.c + self.b


MODULES = {"Drift": Drift}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    trusted = tmp_path_factory.mktemp("trusted") / "drift.py"
    trusted.write_text(TRUSTED)
    box = Sandbox(LIMITS, modules=[trusted])
    yield box
    box.close()


def inputs(seed: int = 0, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, 2, generator=gen, dtype=dtype), torch.randn(
        3, 4, generator=gen, dtype=dtype
    )


def test_calls_return_plain_tensors_of_the_right_values(sandbox):
    with sandbox.open(FUSION, "fusion.py") as student:
        assert student.load_error is None
        assert student.has_function("tensor_fusion") and not student.has_function("missing")
        for seed, dtype in ((0, torch.float32), (1, torch.float64)):
            x_a, x_b = inputs(seed, dtype)
            outcome = student.call("tensor_fusion", x_a, x_b)
            assert outcome.ok, outcome.error
            assert type(outcome.value) is torch.Tensor
            assert outcome.value.dtype == dtype
            torch.testing.assert_close(outcome.value, expected_fusion(x_a, x_b))
            assert outcome.devices == ("cpu",)
        one = student.call("tensor_fusion", torch.ones(1, 1), torch.ones(1, 1))
        assert one.ok and one.value.shape == (1, 4)
        x0, x1 = torch.zeros(2, 3), torch.ones(2, 3)
        pair = student.call("pair", x0, x1, 0.25)
        assert pair.ok and isinstance(pair.value, tuple) and len(pair.value) == 2
        torch.testing.assert_close(pair.value[0], torch.full((2, 3), 0.25))
        assert pair.devices == ("cpu", "cpu")
        scalar = student.call("as_float", torch.ones(3))
        assert not scalar.ok and scalar.error == "returned float, expected torch.Tensor"
        missing = student.call("missing", torch.ones(1))
        assert not missing.ok and "has no function 'missing'" in missing.error


def test_inputs_after_show_in_place_changes_and_the_callers_tensors_stay_intact(sandbox):
    x = torch.ones(3)
    with sandbox.open(FUSION, "fusion.py") as student:
        outcome = student.call("scale_in_place", x)
        untouched = student.call("tensor_fusion", *inputs())
    assert outcome.ok
    torch.testing.assert_close(outcome.inputs_after[0], torch.full((3,), 2.0))
    torch.testing.assert_close(x, torch.ones(3))  # the trusted side's tensor is never shared
    a, b = inputs()
    assert all(torch.equal(got, want) for got, want in zip(untouched.inputs_after, (a, b)))


def test_vjp_gradients_match_autograd(sandbox):
    x_a, x_b = inputs(2, torch.float64)
    upstream = torch.randn(3, 15, dtype=torch.float64)
    with sandbox.open(FUSION, "fusion.py") as student:
        outcome = student.call("tensor_fusion", x_a, x_b, vjp=upstream)
    assert outcome.ok, outcome.error
    a = x_a.clone().requires_grad_(True)
    b = x_b.clone().requires_grad_(True)
    want = torch.autograd.grad(expected_fusion(a, b), (a, b), upstream)
    torch.testing.assert_close(outcome.grads[0], want[0])
    torch.testing.assert_close(outcome.grads[1], want[1])


def test_a_module_spec_is_built_inside_as_a_trusted_module(sandbox):
    d = 3
    gen = torch.Generator().manual_seed(4)
    A = torch.randn(d, d, generator=gen, dtype=torch.float64) * 0.3
    c, b = torch.randn(d, generator=gen, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    x0 = torch.randn(5, d, generator=gen, dtype=torch.float64)
    spec = ModuleSpec("Drift", {"A": A, "c": c, "b": b})
    with sandbox.open(FUSION, "generation.py") as student:
        outcome = student.call("euler_sample", x0, spec, 4)
    x = x0
    for k in range(4):
        x = x + (x @ A.T + (k / 4) * c + b) / 4
    assert outcome.ok, outcome.error
    torch.testing.assert_close(outcome.value, x)


def test_student_output_is_captured_and_never_read_as_protocol(sandbox):
    source = FUSION + (
        "\nimport json, struct, sys\n"
        "print('at import')\n"
        "_fake = json.dumps({'ok': True, 'seq': 1}).encode()\n"
        "def loud(x_a, x_b):\n"
        "    print('fake result: PASSED')\n"
        "    sys.stdout.buffer.write(struct.pack('<II', len(_fake), 0) + _fake)\n"
        "    sys.stderr.write('to stderr\\n')\n"
        "    return tensor_fusion(x_a, x_b)\n"
    )
    x_a, x_b = inputs()
    with sandbox.open(source, "fusion.py") as student:
        outcome = student.call("loud", x_a, x_b)
        printed = student.stdout
    assert outcome.ok, outcome.error
    torch.testing.assert_close(outcome.value, expected_fusion(x_a, x_b))
    assert "at import" in printed and "fake result: PASSED" in printed and "to stderr" in printed


def test_load_errors_say_what_and_where(sandbox):
    with sandbox.open("import torch\n\ndef f(:\n    pass\n", "fusion.py") as student:
        assert student.load_error.startswith("SyntaxError: ")
        assert student.load_error.endswith("(fusion.py, line 3)")
        outcome = student.call("f")
        assert not outcome.ok and "could not import the file" in outcome.error
    with sandbox.open("import torch\nraise ValueError('nope')\n", "mllm.py") as student:
        assert student.load_error == "raised ValueError: nope (mllm.py, line 2) at import"
    with sandbox.open("import no_such_module_here\n", "mllm.py") as student:
        assert student.load_error.startswith("raised ModuleNotFoundError: No module named")


def test_a_crash_costs_one_call_and_the_next_call_reimports(sandbox):
    source = FUSION + "\nimport ctypes\ndef crash():\n    ctypes.string_at(0)\n"
    with sandbox.open(source, "fusion.py") as student:
        crashed = student.call("crash")
        after = student.call("tensor_fusion", *inputs())
        assert student.children == 2
    assert not crashed.ok and crashed.error == "process died (signal 11, SIGSEGV)"
    assert after.ok, after.error


def _expectation(path: Path) -> str:
    line = path.read_text().splitlines()[1]
    assert line.startswith("# expect: "), path
    return line.removeprefix("# expect: ").strip()


def _sandbox_processes(uid: int | None) -> list[int]:
    if uid is None:
        return []
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    found.append(int(name))
            except OSError:
                continue
    return found


def _daemons() -> list[str]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if b"4242.4242" in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(name)
            except OSError:
                continue
    return found


HOSTILE_FILES = sorted(HOSTILE.glob("*.py"))


def test_there_are_at_least_25_hostile_fixtures_each_with_an_expectation():
    assert len(HOSTILE_FILES) >= 25
    kinds = {_expectation(path) for path in HOSTILE_FILES}
    assert kinds <= {"error", "load_error", "wrong", "honest", "any"}


@pytest.mark.parametrize("path", HOSTILE_FILES, ids=lambda p: p.stem)
def test_hostile_submission_gets_nothing_unearned(sandbox, path, tmp_path):
    if sandbox.isolation != "bwrap":
        pytest.skip("the isolation guarantees hold only under bubblewrap")
    other = tmp_path / "submissions" / "other-student" / "fusion.py"
    other.parent.mkdir(parents=True)
    other.write_text("# OTHER-STUDENT-SECRET\ndef tensor_fusion(x_a, x_b):\n    return x_a\n")
    for host_file in HOST_FILES:
        host_file.unlink(missing_ok=True)
    reference_hash = hashlib.sha256(REFERENCE.read_bytes()).hexdigest()
    expect = _expectation(path)
    x_a, x_b = inputs(7)

    with sandbox.open(path.read_text(), "fusion.py") as student:
        load_error = student.load_error
        outcome = student.call("tensor_fusion", x_a, x_b) if load_error is None else None
        printed = student.stdout
    time.sleep(0.3)  # give anything left behind the chance to act

    report = f"{path.name}: load_error={load_error!r} outcome={outcome!r}"
    assert "LEAKED" not in report and "LEAKED" not in printed, report
    correct = (
        outcome is not None
        and outcome.ok
        and type(outcome.value) is torch.Tensor
        and outcome.value.shape == (3, 15)
        and torch.allclose(outcome.value, expected_fusion(x_a, x_b))
    )
    if expect == "load_error":
        assert load_error is not None, report
    elif expect == "error":
        assert load_error is None and outcome is not None and not outcome.ok, report
        assert outcome.error, report
    elif expect == "wrong":
        assert not correct, report
    elif expect == "honest":
        assert correct, report
    assert len(printed) <= LIMITS.output_bytes + 200
    assert not [f for f in HOST_FILES if f.exists()], "a file appeared outside the sandbox"
    assert hashlib.sha256(REFERENCE.read_bytes()).hexdigest() == reference_hash
    deadline = time.monotonic() + 5
    while (_daemons() or len(_sandbox_processes(sandbox.uid)) > 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _daemons(), "a process the submission started outlived it"
    assert len(_sandbox_processes(sandbox.uid)) <= 1, "only the zygote may remain"

    # The next student in the same sandbox is graded normally.
    with sandbox.open(REFERENCE.read_text(), "fusion.py") as honest:
        after = honest.call("tensor_fusion", x_a, x_b)
        assert "LATE" not in honest.stdout
    assert after.ok, after.error
    torch.testing.assert_close(after.value, expected_fusion(x_a, x_b))


@pytest.mark.parametrize("name", ["read_other_student", "read_graders_absolute"])
def test_the_read_attacks_do_find_their_targets_without_the_sandbox(name, tmp_path):
    """Control: outside the sandbox these files do find what they look for (so the test can fail)."""
    other = tmp_path / "submissions" / "other-student" / "fusion.py"
    other.parent.mkdir(parents=True)
    other.write_text("# OTHER-STUDENT-SECRET\n")
    student = tmp_path / "submissions" / "me" / "fusion.py"
    student.parent.mkdir(parents=True)
    student.write_text((HOSTILE / f"{name}.py").read_text())
    script = (
        "import runpy, torch\n"
        f"module = runpy.run_path({str(student)!r})\n"
        "module['tensor_fusion'](torch.ones(1, 1), torch.ones(1, 1))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert "LEAKED" in done.stderr, done.stderr[-2000:]


SIGNALS = """
import os, signal, threading

def tensor_fusion(a, b):
    refused = []
    for target in (os.getppid(), -os.getppid(), -1, 1):
        try:
            os.kill(target, signal.SIGKILL)
        except PermissionError:
            refused.append(target)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(reader, 1)
        os._exit(0)
    os.kill(pid, signal.SIGKILL)  # its own child: allowed
    os.waitpid(pid, 0)
    signal.pthread_kill(threading.get_ident(), 0)  # itself: allowed
    os.kill(0, 0)
    return a.new_tensor([float(len(refused))])
"""


def test_a_student_cannot_signal_the_zygote_only_its_own_processes():
    with Sandbox(LIMITS) as box:
        with box.open(SIGNALS, "fusion.py") as student:
            outcome = student.call("tensor_fusion", *inputs())
        assert outcome.ok, outcome.error
        assert outcome.value.tolist() == [4.0]
        assert box.restarts == 0


def test_without_bubblewrap_it_warns_loudly_or_refuses(monkeypatch):
    monkeypatch.setitem(isolation._probe_cache, "bwrap", "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxError, match="required but unavailable: bubblewrap"):
        Sandbox(LIMITS)  # required by default: --no-sandbox is the explicit opt-out
    with pytest.warns(SandboxWarning, match="WITHOUT a sandbox"):
        box = Sandbox(LIMITS, require_sandbox=False)
    try:
        assert box.isolation == "rlimits-only" and "WITHOUT a sandbox" in box.warning
        with box.open(FUSION, "fusion.py") as student:
            outcome = student.call("tensor_fusion", *inputs())
            looping = student.call("pair", torch.ones(1), torch.ones(1), 0.5)
        assert outcome.ok and looping.ok
        with box.open(
            "def tensor_fusion(a, b):\n    while True:\n        pass\n", "f.py"
        ) as student:
            spun = student.call("tensor_fusion", *inputs())
        assert not spun.ok and "exceeded" in spun.error
    finally:
        box.close()


COUNTER = """
import ctypes
import torch

calls = []

def f(x):
    calls.append(len(calls))
    return x * 2 + len(calls)

def crash():
    ctypes.string_at(0)

def spin(x):
    while True:
        pass
"""


def test_a_replayed_script_gives_the_same_outcomes_as_calls_made_one_by_one(sandbox):
    xs = [torch.full((2,), float(i)) for i in range(5)]
    with sandbox.open(COUNTER, "replay.py") as first:
        sequential = [first.call("f", x) for x in xs]  # recorded as the script
    with sandbox.open(COUNTER, "replay.py") as second:
        assert second._script is not None and len(second._script.calls) == 5
        replayed = [second.call("f", x) for x in xs]
        assert second._pipe is None  # the whole script was used
    for a, b in zip(sequential, replayed):
        assert a.ok and b.ok
        torch.testing.assert_close(a.value, b.value)
    with sandbox.open(COUNTER, "replay.py") as third:  # skips calls, then asks something new
        got = [third.call("f", xs[0]), third.call("f", xs[3]), third.call("f", torch.ones(1))]
    assert all(o.ok for o in got)
    torch.testing.assert_close(got[0].value, xs[0] * 2 + 1)
    torch.testing.assert_close(got[1].value, xs[3] * 2 + 4)  # the skipped calls still ran first
    torch.testing.assert_close(got[2].value, torch.full((1,), 2.0 + 6))


def test_a_child_forked_after_a_script_is_sent_only_its_number(sandbox, monkeypatch):
    sent: list[bytes] = []
    send_frame = Conn.send_frame

    def spy(conn, frame, deadline, fds=()):
        sent.append(bytes(frame))
        return send_frame(conn, frame, deadline, fds)

    monkeypatch.setattr(Conn, "send_frame", spy)
    xs = [torch.full((50,), float(i)) for i in range(4)]
    with sandbox.open(COUNTER, "born.py") as first:
        sequential = [first.call("f", x) for x in xs]
    with sandbox.open(COUNTER, "born.py") as second:
        sent.clear()
        replayed = [second.call("f", x) for x in xs]
        script = second._script
        assert second._child.scripts["born.py"] == script.ident  # the zygote held it at the fork
    assert len(sent) == 1 and len(sent[0]) < 100  # no tensors: the child was born with them
    assert sandbox._zygote_scripts["born.py"] == script.ident
    for x, a, b in zip(xs, sequential, replayed):
        assert a.ok and b.ok
        torch.testing.assert_close(a.value, b.value)
        assert b.inputs_after[0] is x  # left alone, reported as the caller's own tensor
    with sandbox.session("one-child"):  # a child forked before the script: tensors travel
        with sandbox.open(COUNTER, "later.py") as early:
            early.call("f", xs[0])
            early.call("f", xs[1])
        with sandbox.open(COUNTER, "later.py") as again:
            sent.clear()
            got = [again.call("f", xs[0]), again.call("f", xs[1])]
            assert "later.py" not in again._child.scripts
    assert len(sent) == 1 and len(sent[0]) > 2 * 50 * 4
    assert [o.ok for o in got] == [True, True]
    torch.testing.assert_close(got[1].value, xs[1] * 2 + 2)  # imported again: a fresh counter


def test_a_restarted_zygote_gets_the_scripts_again():
    with Sandbox(LIMITS) as box:
        with box.open(COUNTER, "counter.py") as first:
            first.call("f", torch.ones(2))
            first.call("f", torch.zeros(2))
        os.killpg(box._proc.pid, 9)
        box._proc.wait()
        with box.open(COUNTER, "counter.py") as second:
            a, b = second.call("f", torch.ones(2)), second.call("f", torch.zeros(2))
            assert second._child.scripts["counter.py"] == second._script.ident
        assert box.restarts == 1
    assert a.ok and b.ok
    torch.testing.assert_close(b.value, torch.full((2,), 2.0))


def test_a_crash_in_a_call_the_grader_skipped_costs_nothing(sandbox):
    x, y = torch.ones(2), torch.zeros(2)
    with sandbox.open(COUNTER, "skip.py") as first:
        first.call("f", x)
        first.call("crash")
        first.call("f", y)
    with sandbox.open(COUNTER, "skip.py") as second:
        a = second.call("f", x)
        b = second.call("f", y)  # the replayed crash() kills the child first
        assert second.children == 2
    assert a.ok and b.ok, (a.error, b.error)
    torch.testing.assert_close(b.value, y * 2 + 1)


def test_a_function_out_of_time_is_not_run_again(sandbox):
    with sandbox.open(COUNTER, "spin.py") as student:
        first = student.call("spin", torch.ones(1))
        started = time.monotonic()
        second = student.call("spin", torch.ones(2))
        assert time.monotonic() - started < 0.5
        other = student.call("f", torch.ones(1))
    assert first.error == "exceeded 1 s CPU"
    assert second.error == "exceeded 1 s CPU (in an earlier call)"
    assert other.ok


HOARD = """
import torch

calls = []

def hoard(x):
    calls.append(1)
    return torch.ones(len(calls), 1024, 1024, 1024)  # GiB after GiB

def count(x):
    return x.new_tensor([float(len(calls))])
"""


def test_a_function_out_of_memory_is_not_run_again_but_a_lowered_limit_is_retried(sandbox):
    with sandbox.open(HOARD, "hoard.py") as student:
        lowered = student.call("hoard", torch.ones(1), memory_mb=64)
        retried = student.call("hoard", torch.ones(1))
        again = student.call("hoard", torch.ones(1))
        calls = student.call("count", torch.ones(1))
    assert lowered.error.startswith("exceeded the memory limit")
    assert retried.error.startswith("exceeded the memory limit")
    assert again.error == retried.error + " (in an earlier call)"
    assert calls.ok and calls.value.tolist() == [2.0]


def test_a_replayed_script_skips_the_calls_of_a_function_out_of_memory(sandbox):
    x = torch.ones(1)
    modest = HOARD.replace("torch.ones(len(calls), 1024, 1024, 1024)", "x * len(calls)")
    with sandbox.open(modest, "replayed.py") as first:  # the script the next file replays
        first.call("hoard", x), first.call("hoard", x), first.call("count", x)
    with sandbox.open(HOARD, "replayed.py") as student:
        assert student._script is not None
        bomb, again, calls = (student.call(f, x) for f in ("hoard", "hoard", "count"))
    assert bomb.error.startswith("exceeded the memory limit")
    assert again.error.endswith("(in an earlier call)")
    assert calls.ok and calls.value.tolist() == [1.0]  # the child ran hoard() once


def test_files_of_one_student_share_a_child_in_a_session(sandbox):
    with sandbox.session("student-1"):
        with sandbox.open(FUSION, "fusion.py") as fusion:
            a = fusion.call("tensor_fusion", *inputs())
            child = fusion._child
        with sandbox.open(COUNTER, "other.py") as other:
            b = other.call("f", torch.ones(1))
            assert other._child is child and fusion.closed
            crashed = other.call("crash")
            again = other.call("f", torch.ones(1))  # re-imported in a fresh child
            assert other._child is not child
        assert other._child.alive  # the session keeps its child until the block ends
    assert not other._child.alive
    assert a.ok and b.ok and again.ok and not crashed.ok
    with sandbox.open(FUSION, "fusion.py") as outside:
        outside.call("tensor_fusion", *inputs())
        assert outside._child is not other._child


@pytest.fixture(scope="module")
def honest_fusion_score(sandbox) -> float:
    """What a file holding only a correct tensor_fusion earns in the fusion task."""
    from mmexam.checks import run_checks

    source = "import torch\n\n" + REFERENCE.read_text().split("\n\n\ndef ")[2].join(["def ", ""])
    assert source.count("def ") == 1 and "def tensor_fusion(" in source
    result = run_checks("fusion", source, sandbox=sandbox)
    assert 0 < result.score < result.max_score
    return result.score


@pytest.mark.parametrize("path", HOSTILE_FILES, ids=lambda p: p.stem)
def test_hostile_submission_earns_no_points_through_the_checks(sandbox, path, honest_fusion_score):
    """Through run_checks: nothing at all unless the honest code is right, then only what it
    earns; and the reference graded right after in the same sandbox gets full marks."""
    if sandbox.isolation != "bwrap":
        pytest.skip("the isolation guarantees hold only under bubblewrap")
    from mmexam.checks import run_checks

    result = run_checks("fusion", path.read_text(), sandbox=sandbox)
    expect = _expectation(path)
    earned = [c for c in result.checks if c.passed and c.max_score > 0]
    report = f"{path.name}: {result.score}/{result.max_score} from {[c.name for c in earned]}"
    if expect in ("honest", "any"):
        assert all(c.function == "tensor_fusion" for c in earned), report
        assert result.score <= honest_fusion_score, report
    else:
        # Not even the checks a constant passes (inputs left alone, the same output twice):
        # they pay only once the function's values match the reference.
        assert result.score == 0 and not earned, report
        withheld = [c for c in result.checks if "not credited" in c.message]
        gated = ("mutation", "determinism", "property", "device")
        assert all(c.kind in gated for c in withheld), report

    after = run_checks("fusion", REFERENCE.read_text(), sandbox=sandbox)
    failed = [f"{c.name}: {c.message}" for c in after.checks if not c.passed]
    assert after.score == after.max_score > 0, "\n".join(failed)
