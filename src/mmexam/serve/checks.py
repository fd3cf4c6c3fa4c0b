"""The "Run public checks" button: a server-wide queue of sandboxed check runs.

A student's code is checked exactly as `mmexam practice check` / `mmexam check`
do it: `mmexam.checks.run_checks(task, source, hidden=False)` in the same
sandbox, so the messages are the same. Runs wait in one bounded queue per
server process and are taken by a fixed pool of worker threads, each feeding its
own worker process and sandbox (a zygote that imported torch once), so the
checks never hold the server's GIL; a student has at most one run
queued or running at a time (in any server process sharing the database), and
a full queue refuses new runs instead of growing. Every run is recorded in the database (queued, running, done or
failed, with the `TaskResult`), so any server process can show its result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmexam.serve.db import Database

MAX_QUEUED = 200
STALE_RUN = 600.0
"""A run still "queued" or "running" after this many seconds was lost (its server died)."""


@dataclass(frozen=True)
class Job:
    run_id: int
    student: str
    task: str
    source: str


class Busy(Exception):
    """This student already has a run, or the queue is full; the message says which."""


class CheckQueue:
    """A bounded queue of check runs and the worker threads that run them."""

    def __init__(
        self,
        db: Database,
        workers: int = 2,
        *,
        runner: Callable[[Any, str, str], Any] | None = None,
        clock: Callable[[], float] = time.time,
        graders: Path | None = None,
        tasks: list[str] | None = None,
        require_sandbox: bool = True,
    ) -> None:
        self.db = db
        self.require_sandbox = require_sandbox
        self.workers = max(1, workers)
        self.clock = clock
        self.graders = graders
        self.tasks = tasks or []
        self._runner = runner
        self._pool: ProcessPoolExecutor | None = None
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.warnings: list[str] = []

    def start(self) -> None:
        if self._runner is None:
            self._pool = self._new_pool()
            # each worker imports torch and starts its sandbox now, before the exam,
            # so the first student's check does not wait for it (nor the saves around it)
            for _ in range(self.workers):
                self._pool.submit(_warm_up, self.graders, tuple(self.tasks), self.require_sandbox)
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"mmexam-check-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, student: str, task: str, source: str) -> int:
        """Queue a run; its id. `Busy` if the student has one already or the queue is full."""
        with self._lock:
            if student in self._busy or self.db.active_check_run(student, self.clock() - STALE_RUN):
                raise Busy("a check run of yours is already queued or running — wait for it")
            if self._queue.full():
                raise Busy("the check queue is full — try again in a minute")
            run_id = self.db.add_check_run(student, task, self.clock())
            self._busy.add(student)
            self._queue.put_nowait(Job(run_id, student, task, source))
            return run_id

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self.db.update_check_run(job.run_id, "running")
                if self._pool is not None:
                    done = self._pool.submit(
                        _check_in_worker, job.task, job.source, self.graders, self.require_sandbox
                    ).result()
                    result_json, warning = done
                    if warning and warning not in self.warnings:
                        self.warnings.append(warning)
                else:
                    assert self._runner is not None
                    result_json = self._runner(None, job.task, job.source).model_dump_json()
                self.db.update_check_run(job.run_id, "done", result_json, self.clock())
            except Exception as error:  # noqa: BLE001 — the grader failed, not the student
                if isinstance(error, BrokenProcessPool):
                    self._pool = self._new_pool()
                self.db.update_check_run(
                    job.run_id,
                    "failed",
                    f"the checks could not run ({type(error).__name__}: {error}); "
                    "try again, and tell the staff if it persists",
                    self.clock(),
                )
            finally:
                with self._lock:
                    self._busy.discard(job.student)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )


# ---------------------------------------------------------------- worker processes
# The checks run in their own processes: planning and judging import torch and hold
# the GIL for long stretches, which must never stall the server's event loop. A worker
# lowers its own priority (and so its sandbox's), so saves win the CPU over checks.

_sandbox: Any = None
_warning: str | None = None


def _init_worker() -> None:
    from mmexam.sandbox.confine import PR_SET_PDEATHSIG, prctl

    # A server killed outright (kill -9, a crash) leaves no one to stop its workers, and
    # each holds a sandbox with torch imported: they go with it, even one whose server
    # died while it was still starting (before this line).
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(0)
    with contextlib.suppress(OSError):
        os.nice(10)


def _warm_up(graders: Path | None, tasks: tuple[str, ...], require_sandbox: bool) -> None:
    """Start the sandbox's zygote (torch imported) and plan the exam's tasks' checks."""
    from mmexam.checks import plans
    from mmexam.paths import GRADERS

    _open_sandbox(graders, require_sandbox).zygote_info()
    for task in tasks:
        plans(task, graders=graders or GRADERS)


def _open_sandbox(graders: Path | None, require_sandbox: bool) -> Any:
    global _sandbox, _warning
    if _sandbox is None:
        from mmexam.paths import GRADERS, trusted_modules
        from mmexam.sandbox import Sandbox

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _sandbox = Sandbox(
                modules=trusted_modules(graders or GRADERS), require_sandbox=require_sandbox
            )
        _warning = str(caught[0].message) if caught else None
    return _sandbox


def _check_in_worker(
    task: str, source: str, graders: Path | None, require_sandbox: bool
) -> tuple[str, str | None]:
    global _sandbox
    from mmexam.checks import run_checks

    sandbox = _open_sandbox(graders, require_sandbox)
    try:
        result = run_checks(
            task, source, hidden=False, sandbox=sandbox, filename=f"{task}.py", graders=graders
        )
    except Exception:
        sandbox.close()
        _sandbox = None
        raise
    return result.model_dump_json(), _warning
