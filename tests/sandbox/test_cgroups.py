"""The control groups' housekeeping that needs no kernel: stale groups of dead runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mmexam.sandbox import cgroups


def _dead_pid() -> int:
    """The pid of a process that has exited (a run killed with kill -9, say)."""
    code = "import os; print(os.getpid())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout)


def _stale_run(parent: Path, pid: int, n: int) -> Path:
    box = parent / f"mmexam-{pid}-{n}"
    for leaf in ("zygote", "student"):
        (box / leaf).mkdir(parents=True)
    return box


def test_stale_groups_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    dead = _stale_run(tmp_path, _dead_pid(), 1)
    mine = _stale_run(tmp_path, os.getpid(), 2)
    cgroups._remove_stale(cgroups._Hierarchy(1, {"cpu": tmp_path}), "mmexam")
    assert not dead.exists()
    assert mine.exists()


def test_a_stale_group_another_worker_removes_first_is_no_error(tmp_path, monkeypatch):
    """Two workers of one run start together and both clear the groups a killed run left:
    the group one of them lists may be gone by the time it looks inside."""
    first = _stale_run(tmp_path, _dead_pid(), 1)
    second = _stale_run(tmp_path, _dead_pid(), 2)
    iterdir = Path.iterdir

    def the_other_worker_was_faster(self: Path):
        if self == first:
            shutil.rmtree(self)
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", the_other_worker_was_faster)
    cgroups._remove_stale(cgroups._Hierarchy(1, {"cpu": tmp_path}), "mmexam")
    assert not first.exists() and not second.exists()
