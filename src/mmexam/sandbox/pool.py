"""Grade many submissions on all cores: worker processes that each own one `Sandbox`.

`map_in_workers(fn, items)` starts `jobs` worker processes (spawned, so each
imports torch exactly once and never inherits the caller's threads). Each
worker owns one `Sandbox` — one sandboxed zygote — and runs `fn(sandbox, item)`
for the items it is handed. Results travel back as plain data (pickled
between trusted processes only; student code never touches this channel).

Iteration order: results are yielded **in input order** by default
(`ordered=True`); pass `ordered=False` to get them as they complete.

A worker that dies (or overruns `item_timeout`) is replaced; only the item
it was working on is reported as failed, every other item is still graded.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from mmexam.errors import SandboxError
from mmexam.sandbox.client import Sandbox
from mmexam.sandbox.isolation import Limits, SandboxWarning, isolation_status, probe_bwrap

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class WorkResult(Generic[R]):
    """What `fn(sandbox, item)` returned for the item at `index`, or why it failed."""

    index: int
    ok: bool
    value: R | None = None
    error: str | None = None  # "worker crashed (signal 9)", "ValueError: ... (in fn)"


def _worker_main(
    conn: Connection,
    fn: Callable[[Sandbox, Any], Any],
    limits: Limits,
    device: str,
    require_sandbox: bool,
    modules: tuple[str, ...],
    hide: tuple[str, ...] = (),
) -> None:
    # Ctrl-C reaches every process of the terminal's group: the caller alone reports
    # it and stops the workers, each closing its sandbox (no traceback per worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)
        sandbox = Sandbox(
            limits, require_sandbox=require_sandbox, device=device, modules=modules, hide=hide
        )
    try:
        conn.send(("ready", None, None))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            index, item = message
            try:
                value = fn(sandbox, item)
            except Exception as exc:  # noqa: BLE001 — reported as that item's failure
                frames = traceback.extract_tb(exc.__traceback__)
                where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
                conn.send(("error", index, f"{type(exc).__name__}: {exc}{where}"))
            else:
                conn.send(("ok", index, value))
    finally:
        sandbox.close()


class _Worker:
    def __init__(self, context: Any, target_args: tuple) -> None:
        parent, child = context.Pipe(duplex=True)
        self.conn: Connection = parent
        self.process = context.Process(target=_worker_main, args=(child, *target_args), daemon=True)
        self.process.start()
        child.close()
        self.busy: int | None = None  # index of the item in flight
        self.since = 0.0

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def why_dead(self) -> str:
        self.process.join(timeout=2)
        code = self.process.exitcode
        if code is None:
            return "worker stopped answering"
        if code < 0:
            return f"worker crashed (signal {-code})"
        return f"worker exited with status {code}"


def map_in_workers(
    fn: Callable[[Sandbox, T], R],
    items: Iterable[T],
    jobs: int | None = None,
    limits: Limits | None = None,
    *,
    device: str = "cpu",
    require_sandbox: bool = True,
    ordered: bool = True,
    item_timeout: float | None = None,
    modules: Sequence[str | os.PathLike[str]] = (),
    hide: Sequence[str | os.PathLike[str]] = (),
) -> Iterator[WorkResult[R]]:
    """Run `fn(sandbox, item)` for every item in `jobs` sandboxed worker processes.

    `fn` and the items must be picklable (a module-level function, plain
    data). Yields one `WorkResult` per item: in input order when `ordered`,
    else as each completes. A crashed or timed-out worker is restarted and
    only its in-flight item fails. `modules`: the trusted module files each
    worker's `Sandbox` is given; `hide`: folders each worker's sandbox hides.
    """
    isolation, warning = isolation_status()
    if isolation != "bwrap":
        if require_sandbox:
            raise SandboxError(
                f"the sandbox is required but unavailable: {probe_bwrap()} — install bubblewrap "
                "(apt install bubblewrap), or pass --no-sandbox to run student code without it"
            )
        warnings.warn(str(warning), SandboxWarning, stacklevel=2)
    elif warning is not None:  # bubblewrap without control groups: rlimits only
        warnings.warn(warning, SandboxWarning, stacklevel=2)
    todo = list(enumerate(items))
    if not todo:
        return
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    context = multiprocessing.get_context("spawn")
    modules = tuple(os.path.abspath(m) for m in modules)
    hidden = tuple(os.path.abspath(h) for h in hide)
    crew = _Crew(context, (fn, limits or Limits(), device, require_sandbox, modules, hidden), jobs)
    crew.pending = list(reversed(todo))
    done: dict[int, WorkResult[R]] = {}
    next_out = 0
    remaining = len(todo)
    try:
        while remaining:
            for result in crew.step(item_timeout):
                remaining -= 1
                if not ordered:
                    yield result
                    continue
                done[result.index] = result
                while next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
    finally:
        crew.stop()


class _Crew:
    """The worker processes of one `map_in_workers` call, and the items they have yet to do."""

    def __init__(self, context: Any, args: tuple, jobs: int) -> None:
        self.context = context
        self.args = args
        self.workers = [_Worker(context, args) for _ in range(jobs)]
        self.ready: set[int] = set()
        self.pending: list[tuple[int, Any]] = []  # (index, item), the next one last

    def hand_out(self, worker: _Worker) -> None:
        if self.pending and worker.busy is None:
            index, item = self.pending.pop()
            worker.busy = index
            worker.since = time.monotonic()
            worker.conn.send((index, item))

    def step(self, item_timeout: float | None) -> list[WorkResult]:
        """Wait for the next events; the items they finished (a broken worker's fails)."""
        conns = {w.conn: w for w in self.workers}
        sentinels = {w.process.sentinel: w for w in self.workers}
        timeout = None
        if item_timeout is not None:
            busy = [w.since for w in self.workers if w.busy is not None]
            if busy:
                timeout = max(0.0, min(busy) + item_timeout - time.monotonic())
        events = wait([*conns, *sentinels], timeout=timeout)
        finished: list[WorkResult] = []
        broken: list[tuple[_Worker, str]] = []
        for event in events:
            if event in conns:
                self._receive(conns[event], finished, broken)
            elif event in sentinels:
                worker = sentinels[event]
                if worker not in [b for b, _ in broken]:
                    broken.append((worker, worker.why_dead()))
        if item_timeout is not None:
            now = time.monotonic()
            for worker in self.workers:
                late = worker.busy is not None and now - worker.since > item_timeout
                if late and worker not in [b for b, _ in broken]:
                    broken.append((worker, f"took longer than {item_timeout:g} s"))
        for worker, why in broken:
            if worker.busy is not None:
                finished.append(WorkResult(index=worker.busy, ok=False, error=why))
            elif id(worker) not in self.ready:
                # A worker that dies before it is ready cannot start a sandbox at all.
                raise SandboxError(f"a grading worker could not start: {why}")
            worker.kill()
            self.workers[self.workers.index(worker)] = _Worker(self.context, self.args)
        return finished

    def _receive(
        self, worker: _Worker, finished: list[WorkResult], broken: list[tuple[_Worker, str]]
    ) -> None:
        try:
            kind, index, payload = worker.conn.recv()
        except (EOFError, OSError):
            broken.append((worker, worker.why_dead()))
            return
        if kind == "ready":
            self.ready.add(id(worker))
            self.hand_out(worker)
            return
        worker.busy = None
        if kind == "ok":
            finished.append(WorkResult(index=index, ok=True, value=payload))
        else:
            finished.append(WorkResult(index=index, ok=False, error=payload))
        self.hand_out(worker)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
