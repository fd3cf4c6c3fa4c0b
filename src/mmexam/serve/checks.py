"""The "Run public checks" button: a server-wide queue of sandboxed check runs.

A student's code is checked exactly as `mmexam practice check` / `mmexam check`
do it: `mmexam.checks.run_checks(task, source, hidden=False)` in the same
sandbox, so the messages are the same. Runs wait in one bounded queue per
server process and are taken by a fixed pool of worker threads, each with its
own sandbox (a zygote that imported torch once); a student has at most one run
queued or running at a time, and a full queue refuses new runs instead of
growing. Every run is recorded in the database (queued, running, done or
failed, with the `TaskResult`), so any server process can show its result.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmexam.serve.db import Database

MAX_QUEUED = 200


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
    ) -> None:
        self.db = db
        self.workers = max(1, workers)
        self.clock = clock
        self._runner = runner or _run_public_checks
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.warnings: list[str] = []

    def start(self) -> None:
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

    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, student: str, task: str, source: str) -> int:
        """Queue a run; its id. `Busy` if the student has one already or the queue is full."""
        with self._lock:
            if student in self._busy:
                raise Busy("a check run of yours is already queued or running — wait for it")
            if self._queue.full():
                raise Busy("the check queue is full — try again in a minute")
            run_id = self.db.add_check_run(student, task, self.clock())
            self._busy.add(student)
            self._queue.put_nowait(Job(run_id, student, task, source))
            return run_id

    def _work(self) -> None:
        sandbox = None
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                try:
                    if sandbox is None:
                        sandbox = self._open_sandbox()
                    self.db.update_check_run(job.run_id, "running")
                    result = self._runner(sandbox, job.task, job.source)
                    self.db.update_check_run(
                        job.run_id, "done", result.model_dump_json(), self.clock()
                    )
                except Exception as error:  # noqa: BLE001 — the grader failed, not the student
                    if sandbox is not None:
                        sandbox.close()
                        sandbox = None
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
        finally:
            if sandbox is not None:
                sandbox.close()

    def _open_sandbox(self) -> Any:
        if self._runner is not _run_public_checks:
            return None
        from mmexam.paths import trusted_modules
        from mmexam.sandbox import Sandbox

        # Checks yield the CPU to saves: this thread's nice value is inherited by the
        # sandbox's zygote it starts, and by every child forked from that.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sandbox = Sandbox(modules=trusted_modules())
        for warning in caught:
            if str(warning.message) not in self.warnings:
                self.warnings.append(str(warning.message))
        return sandbox


def _run_public_checks(sandbox: Any, task: str, source: str) -> Any:
    from mmexam.checks import run_checks

    return run_checks(task, source, hidden=False, sandbox=sandbox, filename=f"{task}.py")
