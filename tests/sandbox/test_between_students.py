"""One student cannot touch the next one or the one beside: a fresh box, and limits for the box.

Each attack of tests/fixtures/hostile/ aimed at other students is graded
first; then a victim — a correct, reference-like file — is graded after it
in the same sandbox (the same worker), and beside it in a parallel worker.
The victim's grade must be exactly what it gets without the attacker. The
memory attacks must leave the box's total memory (read from its control
group) under its limit.

These tests need bubblewrap and control groups (root, cgroup v1 or v2
controllers); CI runs as root, so there they run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmexam.errors import SandboxError
from mmexam.sandbox import Limits, Sandbox, isolation, map_in_workers

pytestmark = pytest.mark.sandbox

HERE = Path(__file__).resolve().parent
HOSTILE = HERE.parent / "fixtures" / "hostile"
REFERENCE = HERE.parents[1] / "graders" / "fusion" / "reference.py"
# A real file is more than one page: one that fits in the page the last student's
# source freed would not notice a full /tmp.
VICTIM = REFERENCE.read_text() + "\n# a reference-like student file\n" * 300
LIMITS = Limits(
    cpu_seconds_per_call=2.0,
    wall_seconds_per_submission=40.0,
    memory_mb=512,
    max_processes=32,
    output_bytes=4096,
)
MB = 1 << 20


def _need_a_box(sandbox: Sandbox) -> None:
    if sandbox.isolation != "bwrap":
        pytest.skip("needs bubblewrap (apt install bubblewrap)")
    if sandbox.cgroups is None:
        pytest.skip(f"needs control groups: {isolation.isolation_status()[1]}")


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(LIMITS)
    _need_a_box(box)
    yield box
    box.close()


def grade(sandbox: Sandbox, owner: str, source: str) -> list[tuple[str, bool, float]]:
    """Every check of fusion for `source`, as one student: (check, passed, score)."""
    from mmexam.checks import run_checks

    with sandbox.session(owner):
        result = run_checks("fusion", source, sandbox=sandbox)
    return [(c.name, c.passed, c.score) for c in result.checks]


def attack(sandbox: Sandbox, owner: str, name: str) -> None:
    """The attacker's turn: its file imported and called once, as one student."""
    x_a, x_b = torch.randn(3, 2), torch.randn(3, 4)
    with (
        sandbox.session(owner),
        sandbox.open((HOSTILE / f"{name}.py").read_text(), "fusion.py") as m,
    ):
        if m.load_error is None:
            outcome = m.call("tensor_fusion", x_a, x_b)
            assert "LEAKED" not in str(outcome.error)


@pytest.fixture(scope="module")
def alone(sandbox):
    """The victim's grade with no attacker before it."""
    return grade(sandbox, "victim-alone", VICTIM)


ATTACKERS = [
    "fill_tmp",
    "tmp_solution_drop",
    "sysv_shm_leave",
    "sysv_shm_fill",
    "memfd_bomb",
    "fork_memory_bomb",
    "detached_busy_loops",
]


@pytest.mark.parametrize("name", ATTACKERS)
def test_the_next_student_in_the_same_worker_gets_the_same_grade(sandbox, alone, name):
    attack(sandbox, f"attacker-{name}", name)
    usage = sandbox.box_usage()
    assert usage is not None and usage["student_processes"] == 0, "a process outlived its student"
    after = grade(sandbox, f"victim-after-{name}", VICTIM)
    assert after == alone
    assert sum(score for _, _, score in after) > 0


@pytest.mark.parametrize(
    ("dropper", "taker"),
    [("tmp_solution_drop", "tmp_solution_pickup"), ("sysv_shm_leave", "sysv_shm_pickup")],
)
def test_nothing_left_in_tmp_or_ipc_reaches_the_next_student(sandbox, dropper, taker):
    taker_source = (HOSTILE / f"{taker}.py").read_text()
    before = grade(sandbox, f"{taker}-alone", taker_source)
    attack(sandbox, f"{dropper}-first", dropper)
    after = grade(sandbox, f"{taker}-after", taker_source)
    assert after == before
    assert sum(score for _, _, score in after) == 0, "the solution left behind was found"


@pytest.mark.parametrize("name", ["memfd_bomb", "fork_memory_bomb"])
def test_the_box_total_memory_is_bounded(name):
    with Sandbox(LIMITS) as box:
        _need_a_box(box)
        attack(box, name, name)
        usage = box.box_usage()
    assert usage is not None
    assert usage["student_limit_bytes"] == (LIMITS.memory_mb + 256) * MB
    # What the attack reached is bounded by the group's limit, not by rlimits per
    # process (6 GB of memfd; 8 x 400 MB of forks).
    assert usage["student_peak_bytes"] <= usage["student_limit_bytes"]
    assert usage["box_peak_bytes"] <= usage["box_limit_bytes"]
    assert usage["box_peak_bytes"] < 3 * 1024 * MB


def test_a_memfd_bomb_is_told_it_ran_out_of_memory(sandbox):
    with sandbox.open((HOSTILE / "memfd_bomb.py").read_text(), "fusion.py") as m:
        outcome = m.call("tensor_fusion", torch.ones(1, 1), torch.ones(1, 1))
    assert not outcome.ok and outcome.error == f"exceeded {LIMITS.memory_mb} MB of memory"


LOWER_OOM_SCORE = """
def f(x):
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("0")
    except OSError:
        return x  # refused, as it must be
    return x * 0
"""


def _oom_score_adj(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def test_children_are_born_in_the_student_group_and_the_oom_killer_picks_them_not_the_zygote():
    """The zygote sits in the student's group (seated once); each child is born there, ranked
    first for the OOM killer, and cannot rank itself lower. Running the group out of memory
    costs the student's own child, never the zygote: with memfd, and with SysV segments that
    stay charged to the group after the child is dead, while the zygote cleans them up."""
    with Sandbox(LIMITS) as box:
        _need_a_box(box)
        groups = box._groups
        zygote_pid = box.zygote_info["pid"]
        (seated,) = groups._keep
        assert set(groups.student.procs()) == {seated}
        with box.open(LOWER_OOM_SCORE, "f.py") as student:
            assert student.call("f", torch.ones(2)).value.tolist() == [1.0, 1.0]
            children = set(groups.student.procs()) - {seated}
            assert len(children) == 1
            assert _oom_score_adj(children.pop()) == 1000 > _oom_score_adj(seated)
        for name in ("memfd_bomb", "sysv_shm_fill"):
            attack(box, f"attacker-{name}", name)
            assert box.restarts == 0 and box.zygote_info["pid"] == zygote_pid, name
        assert groups._keep == {seated}
        assert box.box_usage()["student_processes"] == 0


def test_a_child_that_cannot_start_is_the_graders_failure_and_is_retried(monkeypatch):
    """With the wipe turned off, a full /tmp stops the next child from writing its file:
    the grader retries in a fresh box; the student's grade does not change."""
    original = Sandbox._start

    def no_wipe(self: Sandbox) -> None:
        self._wipe = False
        original(self)

    monkeypatch.setattr(Sandbox, "_start", no_wipe)
    with Sandbox(LIMITS) as box:
        _need_a_box(box)
        alone = grade(box, "victim-alone", VICTIM)
        attack(box, "filler", "fill_tmp")
        restarts = box.restarts
        after = grade(box, "victim-after", VICTIM)
        assert after == alone
        assert box.restarts == restarts + 1


def test_a_box_that_fails_twice_raises_instead_of_scoring(monkeypatch):
    original = Sandbox._start

    def no_wipe(self: Sandbox) -> None:
        self._wipe = False
        original(self)
        # Every fresh box starts full, as if its /tmp could never be emptied.

    monkeypatch.setattr(Sandbox, "_start", no_wipe)
    monkeypatch.setattr(Sandbox, "restart", lambda self: None)
    with Sandbox(LIMITS) as box:
        _need_a_box(box)
        attack(box, "filler", "fill_tmp")
        with pytest.raises(SandboxError, match="could not start a child"):
            box.open(VICTIM, "fusion.py")


def test_leftovers_the_wipe_cannot_remove_restart_the_zygote(sandbox, monkeypatch):
    """The wipe's verification: anything still there means a fresh box for the next one."""
    restarts, dirty = sandbox.restarts, sandbox.dirty_restarts
    source = "import os\nos.makedirs('/tmp/x/y')\ndef f(x):\n    return x\n"
    with sandbox.open(source, "f.py") as m:
        assert m.call("f", torch.ones(1)).ok
    assert (sandbox.dirty_restarts, sandbox.restarts) == (dirty, restarts)  # emptied

    control = sandbox._control

    def wipe_failed(meta, *args, **kwargs):
        reply = control(meta, *args, **kwargs)
        return {**reply, "dirty": ["/tmp/x"]} if meta.get("kind") == "finish" else reply

    monkeypatch.setattr(sandbox, "_control", wipe_failed)
    with sandbox.open(source, "f.py") as m:
        assert m.call("f", torch.ones(1)).ok
    monkeypatch.undo()
    assert sandbox.dirty_restarts == dirty + 1
    with sandbox.open(source, "f.py") as m:
        assert m.call("f", torch.ones(1)).ok
    assert sandbox.restarts == restarts + 1


WIPE = """
import ctypes, json, os, sys
sys.path.insert(0, sys.argv[1])
from wipe import leftovers, wipe
tmp = sys.argv[2]
os.makedirs(os.path.join(tmp, "a", "locked", "deep"))
open(os.path.join(tmp, "a", "locked", "deep", "f"), "w").write("x")
os.chmod(os.path.join(tmp, "a", "locked"), 0)
open(os.path.join(tmp, "file"), "w").write("y")
os.symlink("/etc/passwd", os.path.join(tmp, "link"))
libc = ctypes.CDLL(None)
libc.shmget(1234, 1 << 20, 0o1600)
libc.semget(1234, 2, 0o1600)
libc.msgget(1234, 0o1600)
before = leftovers(tmp)
print(json.dumps([len(before), wipe(tmp), os.path.exists("/etc/passwd")]))
"""


def test_the_wipe_empties_tmp_and_every_sysv_object(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for a private IPC namespace (unshare --ipc)")
    box = Path(__file__).resolve().parents[2] / "src" / "mmexam" / "sandbox"
    done = subprocess.run(
        ["unshare", "--ipc", sys.executable, "-c", WIPE, str(box), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[6, [], true]"
    assert list(tmp_path.iterdir()) == []


def test_students_in_parallel_workers_do_not_change_each_others_grade():
    """The attackers spin, fork and allocate in one worker while the victim is graded
    in the other: the victim's grade is what it gets alone."""
    sys.path.insert(0, str(HERE))
    import sandbox_jobs

    alone = list(map_in_workers(sandbox_jobs.grade_fusion, [VICTIM], jobs=1, limits=LIMITS))
    assert alone[0].ok, alone[0].error
    items = [
        {"attack": "detached_busy_loops", "seconds": 12.0},
        {"victim": VICTIM},
        {"attack": "memfd_bomb", "seconds": 0.0},
        {"victim": VICTIM},
    ]
    results = list(map_in_workers(sandbox_jobs.between_students, items, jobs=2, limits=LIMITS))
    for result in results:
        assert result.ok, result.error
    victims = [r.value for r in results if "victim" in items[r.index]]
    assert victims == [alone[0].value] * 2
    spun = [r.value for r in results if items[r.index].get("attack") == "detached_busy_loops"]
    # However many processes spun, the attacker had at most one CPU's worth of time.
    assert spun[0]["student_cpu"] <= spun[0]["wall"] * 1.1 + 0.5


def test_without_control_groups_the_sandbox_says_so_and_falls_back_to_rlimits():
    script = (
        "import warnings\n"
        "from mmexam.sandbox import isolation_status, Sandbox, Limits\n"
        "print(isolation_status())\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    with Sandbox(Limits()) as box:\n"
        "        print(box.cgroups, len(caught), box.open('x = 1', 'a.py').load_error)\n"
    )
    env = {**os.environ, "MMEXAM_NO_CGROUPS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    if "rlimits-only" in done.stdout:
        pytest.skip("no bubblewrap here: the rlimits-only warning covers it")
    assert "no control groups for the sandbox (MMEXAM_NO_CGROUPS is set)" in done.stdout
    assert done.stdout.strip().endswith("None 1 None")


BUDGETED = Limits(
    cpu_seconds_per_call=2.0,
    cpu_seconds_per_submission=3.0,
    wall_seconds_per_submission=60.0,
    memory_mb=512,
    max_processes=32,
    output_bytes=4096,
)
PACED = """
import time
import torch

def spin(x):
    end = time.process_time() + 1.2
    while time.process_time() < end:
        pass
    return x

def wait(x):
    time.sleep(1.0)
    return x
"""


def test_the_file_budget_is_cpu_time_measured_from_outside_not_the_wall_clock():
    """Six calls that each wait 1 s (6 s of wall clock) fit a 3 s budget: only CPU counts.
    Calls that each compute 1.2 s do not: the fourth is refused (3.6 s of CPU spent)."""
    with Sandbox(BUDGETED) as box:
        _need_a_box(box)
        x = torch.ones(2)
        with box.open(PACED, "paced.py") as student:
            assert student.load_error is None
            waited = [student.call("wait", x) for _ in range(6)]
        assert all(outcome.ok for outcome in waited), [o.error for o in waited]
        with box.open(PACED, "paced.py") as student:
            spun = [student.call("spin", x) for _ in range(4)]
        assert [outcome.ok for outcome in spun] == [True, True, True, False]
        assert spun[3].error == "exceeded 3 s CPU time for the whole file"
