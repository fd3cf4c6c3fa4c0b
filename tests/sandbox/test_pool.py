"""map_in_workers: one Sandbox per worker process; a crashed worker costs only its item."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mmexam.sandbox import Limits, map_in_workers

pytestmark = pytest.mark.sandbox

LIMITS = Limits(
    cpu_seconds_per_call=1.0,
    cpu_seconds_per_submission=6.0,
    wall_seconds_per_submission=60.0,
    memory_mb=512,
    max_processes=32,
    output_bytes=4096,
)


def test_map_in_workers_restarts_a_crashed_worker_and_fails_only_its_item():
    sys.path.insert(0, str(Path(__file__).parent))
    import sandbox_jobs

    results = list(map_in_workers(sandbox_jobs.fuse, list(range(8)), jobs=2, limits=LIMITS))
    assert [r.index for r in results] == list(range(8))  # ordered by default
    by_index = {r.index: r for r in results}
    assert not by_index[3].ok and by_index[3].error == "worker exited with status 3"
    assert (
        not by_index[4].ok and "ValueError: a bug in the grader's own function" in by_index[4].error
    )
    for i in (0, 1, 2, 5, 6, 7):
        assert by_index[i].ok, by_index[i].error
        assert by_index[i].value["ok"] and by_index[i].value["first"] == float(i)
    assert len({by_index[i].value["pid"] for i in (0, 1, 2, 5, 6, 7)}) >= 2
