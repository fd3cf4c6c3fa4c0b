"""One student's file imported in a sandboxed child: `StudentModule`, the trusted side.

Made by `Sandbox.open`. Calls travel to the child as frames (`wire.py`);
what comes back is hostile input, read with deadlines and caps
(`channel.py`) and rebuilt into plain tensors here. After the first file of
a name, the calls the grader made are replayed ahead of time (`Script`) and
their replies read as the grader asks for them.
"""

from __future__ import annotations

import mmap
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from mmexam.errors import SandboxError
from mmexam.safetext import printable
from mmexam.sandbox.calls import (
    Call,
    CallOutcome,
    Encoder,
    Plan,
    Script,
    rebuild,
    same_call,
)
from mmexam.sandbox.channel import BadFrame, Closed, Timeout
from mmexam.sandbox.isolation import STUDENT_CPUS
from mmexam.sandbox.wire import (
    BATCH,
    LOAD,
    MAX_SOURCE,
    OUT_OF_MEMORY,
    REPLAY,
    TENSOR,
    TUPLE,
    TensorFormatError,
    decode_tensors,
    pack_frame,
)

if TYPE_CHECKING:
    from mmexam.sandbox.client import ChildProc, Sandbox


class _Pipeline:
    """A script sent ahead: which reply comes next."""

    def __init__(self, script: Script, child: ChildProc, seq0: int) -> None:
        self.script = script
        self.child = child
        self.seq0 = seq0
        self.next = 0  # index in script.calls of the next reply to read

    @property
    def left(self) -> int:
        return len(self.script.calls) - self.next


_DIRECT: dict[tuple, tuple[Call, dict, Plan, bytes, bytes]] = {}
_DIRECT_BYTES = 64 << 20  # the most the cache below holds, in encoded bytes


def _encode_direct(call: Call, filename: str) -> tuple[dict, Plan, bytes, bytes]:
    """A call made on its own (not replayed): its request, plan, tensors and arena image.

    Kept per (file name, call): the memory checks of a worker's students are the same
    calls on the same argument objects, and encoding their inputs is most of their
    cost on the trusted side. An entry holds its call, so the arguments' ids it is
    found by stay theirs."""
    key = (filename, call.function, call.memory_mb, tuple(map(id, call.args)))
    known = _DIRECT.get(key)
    if known is not None and same_call(known[0], call):
        return known[1], known[2], known[3], known[4]
    encoder = Encoder()
    meta, plan = encoder.call(call, filename)
    entry = (call, meta, plan, encoder.blob(), encoder.arena_image())
    if sum(len(e[3]) + len(e[4]) for e in _DIRECT.values()) > _DIRECT_BYTES:
        _DIRECT.clear()
    _DIRECT[key] = entry
    return entry[1], entry[2], entry[3], entry[4]


class StudentModule:
    """One student's file imported in a sandboxed child; call its functions.

    A call that crashes or times out kills the child; the next call re-imports
    the file in a new child (while the file's budget lasts), so one
    crash costs one check, not the task. A function that ran out of time (or
    killed the sandbox) once is not run again for this file: its later calls
    fail at once with the same message.
    """

    def __init__(self, sandbox: Sandbox, source: str, filename: str) -> None:
        self._sandbox = sandbox
        self._limits = sandbox.limits
        self._token = object()
        self.filename = os.path.basename(filename) or "submission.py"
        self._source = source.encode("utf-8", "surrogateescape")
        self._lines = self._source.count(b"\n") + 1  # a reported line must lie within
        self._cpu_start = sandbox.student_cpu_seconds()  # None: no control groups
        wall = (
            self._limits.cpu_seconds_per_submission
            if self._cpu_start is None
            else self._limits.wall_seconds_per_submission
        )
        self._opened = time.monotonic()
        self._deadline = self._opened + wall
        self._child: ChildProc | None = None
        self._segments: list[tuple[ChildProc, int, int | None]] = []
        self._log: list[Call] = []
        self._pipe: _Pipeline | None = None
        self._script = sandbox._scripts.get(self.filename)
        self._next = self._script  # the script segment the next pipeline would replay
        self._out_of_time: dict[str, str] = {}
        self._arena: int | None = None  # the memfd of the batch in flight (wire.ARENA)
        self._arena_map: mmap.mmap | None = None  # the trusted side's read-only map of it
        self.closed = False
        self.functions: tuple[str, ...] = ()
        self.load_error: str | None = None
        self.children = 0  # how many children this file was imported in (1 unless it crashed)
        if len(self._source) > MAX_SOURCE:
            self.load_error = f"the file is larger than {MAX_SOURCE >> 10} KiB"
            return
        self.load_error = self._load()

    # -- the child ---------------------------------------------------------------

    def _load(self, retry: bool = True) -> str | None:
        """Import the file in the child this module may use; the import error, or None."""
        # Starting (or restarting) the zygote is the sandbox's time, not the student's.
        started, restarts = time.monotonic(), self._sandbox.restarts
        ready = self._sandbox._ready is not None
        child = self._sandbox._child_for(self)
        if not ready or self._sandbox.restarts != restarts:
            self._deadline += time.monotonic() - started
        self.children += 1
        self._child = child
        self._close_segment()
        self._segments.append((child, len(child.conn.out), None))
        fresh = child.loads == 0  # no student code has run in this child yet
        child.loads += 1
        reply, error = self._roundtrip(
            child, {"kind": LOAD, "filename": self.filename}, self._source, 1 << 20
        )
        if error is not None:
            return error + " at import"
        assert reply is not None
        meta, _ = reply
        if meta.get("internal") is not None:
            self._end(child)
            if not fresh:  # this student's own code ran there first (filled its folder)
                return "the file could not be written in the sandbox (its /tmp was full)"
            # The box failed before any student code ran: the grader's failure, not a score.
            if not retry:
                raise SandboxError(f"the sandbox could not start a child: {meta['internal']}")
            self._sandbox.restart()
            return self._load(retry=False)
        if not isinstance(meta.get("ok"), bool):
            self._end(child)
            return "sent a reply the grader cannot read at import"
        functions = meta.get("functions")
        if isinstance(functions, list):
            self.functions = tuple(f[:200] for f in functions if isinstance(f, str))
        if not meta["ok"]:
            message = meta.get("error")
            self._end(child, grace=0.5)
            return printable(str(message)[:2000]) if message else "the file could not be imported"
        child.loaded[self.filename] = self
        return None

    def _ready_child(self) -> tuple[ChildProc | None, str | None]:
        """The live child holding this file, importing it again if the last one died."""
        child = self._child
        mine = child is not None and child.alive and child.loaded.get(self.filename) is self
        if mine and self._sandbox._child is child:
            return child, None
        error = self._load()
        if error is not None:
            return None, f"could not re-import after a crash: {error}"
        return self._child, None

    def _close_segment(self) -> None:
        if self._segments and self._segments[-1][2] is None:
            child, start, _ = self._segments[-1]
            self._segments[-1] = (child, start, len(child.conn.out))

    def _end(self, child: ChildProc, grace: float = 0.0, timeout_reason: str | None = None) -> str:
        """Stop `child`; return why it ended, in words."""
        self._close_segment()
        if self._pipe is not None and self._pipe.child is child:
            self._pipe = None
        status = self._sandbox._end_child(child, grace)
        if timeout_reason:
            return timeout_reason
        if status.get("crashed_sandbox"):
            return "process died and took the sandbox with it (the sandbox was restarted)"
        limits = self._limits
        if status.get("reason") == "memory":
            return f"exceeded {limits.memory_mb} MB of memory"
        sig = status.get("signal")
        cpu = status.get("cpu") or 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds_per_call):
            return f"exceeded {limits.cpu_seconds_per_call:g} s CPU"
        if sig == signal.SIGXFSZ:
            return f"wrote a file larger than {limits.file_mb} MB"
        if sig is not None:
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = "unknown"
            return f"process died (signal {sig}, {name})"
        exit_code = status.get("exit")
        if exit_code is not None:
            return f"process exited with status {exit_code} (os._exit?)"
        return "process ended"

    def _per_call(self) -> float:
        return self._limits.seconds_per_call + (15.0 if self._sandbox.device != "cpu" else 0.0)

    def _roundtrip(
        self, child: ChildProc, meta: dict, blob: bytes, max_blob: int, fds: tuple[int, ...] = ()
    ) -> tuple[tuple[dict, bytearray] | None, str | None]:
        """Send one request and read its reply; on any failure end the child and say why."""
        seq = child.next_seq()
        frame = pack_frame({**meta, "seq": seq}, blob)
        spent = self._budget_spent()
        if spent is not None:
            self._end(child)
            return None, spent
        deadline = min(self._deadline, time.monotonic() + self._per_call())
        return self._read(child, frame, seq, deadline, max_blob, fds)

    def _read(
        self,
        child: ChildProc,
        frame: bytes | None,
        seq: int,
        deadline: float,
        max_blob: int,
        fds: tuple[int, ...] = (),
    ) -> tuple[tuple[dict, bytearray] | None, str | None]:
        """Read the reply `seq` (sending `frame` and `fds` first, if any) before `deadline`."""
        try:
            if frame is not None:
                reply = child.conn.exchange(frame, deadline, max_blob, fds)
            else:
                reply = child.conn.receive(deadline, max_blob)
            if reply[0].get("seq") != seq:
                raise BadFrame("sent a reply out of order (a forged or stale frame)")
            return reply, None
        except Timeout:
            if deadline >= self._deadline:
                reason = self._wall_message()
            else:
                reason = f"exceeded {self._per_call():g} s wall-clock time for one call"
            why = self._end(child)
            if why.startswith("exceeded") and "CPU" in why:
                reason = why
            return None, reason
        except Closed:
            return None, self._end(child, grace=1.0)
        except BadFrame as exc:
            self._end(child)
            return None, str(exc)

    def _budget_spent(self) -> str | None:
        """Why the file may run no more calls (its CPU or wall-clock budget is spent), or None.

        CPU is the student group's, read from outside, counted from this file's open();
        the group is read only once its quota could have spent the budget.
        """
        now = time.monotonic()
        if now >= self._deadline:
            return self._wall_message()
        budget = self._limits.cpu_seconds_per_submission
        if self._cpu_start is not None and (now - self._opened) * STUDENT_CPUS >= budget:
            used = self._sandbox.student_cpu_seconds()
            if used is not None and used - self._cpu_start >= budget:
                return f"exceeded {budget:g} s CPU time for the whole file"
        return None

    def _wall_message(self) -> str:
        if self._cpu_start is None:  # no control groups: the wall clock stands in for CPU
            seconds = self._limits.cpu_seconds_per_submission
            return f"exceeded {seconds:g} s wall-clock time for the whole file"
        seconds = self._limits.wall_seconds_per_submission
        return f"exceeded {seconds:g} s wall-clock time for the whole file (waiting, not computing)"

    # -- public ------------------------------------------------------------------

    def has_function(self, name: str) -> bool:
        """Whether the imported file defines a callable `name`."""
        return self.load_error is None and name in self.functions

    @property
    def stdout(self) -> str:
        """What the student code printed (stdout and stderr), capped at Limits.output_bytes."""
        parts = []
        for child, start, end in self._segments:
            if child.alive:
                child.conn.drain()
            chunk = child.conn.out[start:end]
            parts.append(chunk.decode("utf-8", "replace"))
            if child.conn.dropped and end is None:
                parts.append(f"\n[... {child.conn.dropped} more bytes of output not kept]\n")
        text = printable("".join(parts))
        cap = self._limits.output_bytes
        return text if len(text) <= cap + 200 else text[:cap] + "\n[... output cut]\n"

    def call(
        self,
        function: str,
        *args: Any,
        memory_mb: int | None = None,
        vjp: Any = None,
        result_bytes: int | None = None,
        **kwargs: Any,
    ) -> CallOutcome:
        """Call `function(*args, **kwargs)` in the sandbox and return what came back.

        `memory_mb` lowers the memory limit for this call (never above
        `Limits.memory_mb`). With `vjp` (the upstream gradient: a tensor, or a
        tuple with one per output) every floating-point tensor argument
        requires grad inside the sandbox, the output is backpropagated with
        `vjp`, and `outcome.grads` is shaped like `args` with each tensor
        replaced by its gradient (None where none reached it). `memory_mb` and
        `vjp` are therefore never passed on to the student's function.
        `result_bytes` caps what the grader reads of the reply (the size the
        caller expects, values, changed inputs and gradients together) below
        the sandbox's own limit: a larger reply is refused before it is read.
        """
        if memory_mb is not None:
            memory_mb = min(int(memory_mb), self._limits.memory_mb)
        cap = None if result_bytes is None else max(0, int(result_bytes))
        return self._call(Call(function, tuple(args), dict(kwargs), memory_mb, vjp, cap))

    def _call(self, call: Call) -> CallOutcome:
        start = time.monotonic()
        if self.closed:
            return CallOutcome(ok=False, error="the module is closed")
        if self.load_error is not None:
            return CallOutcome(ok=False, error=f"could not import the file: {self.load_error}")
        if call.function not in self.functions:
            return CallOutcome(ok=False, error=f"has no function '{call.function}'")
        if call.function in self._out_of_time:
            return CallOutcome(
                ok=False, error=f"{self._out_of_time[call.function]} (in an earlier call)"
            )
        self._log.append(call)
        outcome = self._from_pipeline(call)
        if outcome is None:
            outcome = self._direct(call)
        outcome.seconds = time.monotonic() - start
        if not outcome.ok and outcome.error and _not_again(outcome.error, call.memory_mb):
            self._out_of_time[call.function] = outcome.error
        return outcome

    def _direct(self, call: Call) -> CallOutcome:
        child, error = self._ready_child()
        if child is None:
            return CallOutcome(ok=False, error=error)
        meta, plan, blob, image = _encode_direct(call, self.filename)
        fds = self._new_arena(image)
        # A call with its own memory limit runs alone (never in a script), so the student
        # group's peak, measured from outside, is this call's.
        mark = None if call.memory_mb is None else self._sandbox.memory_mark()
        reply, error = self._roundtrip(
            child, {"kind": BATCH, "calls": [meta]}, blob, self._max_reply(call), fds
        )
        used = None if mark is None else self._sandbox.memory_since(mark)
        if error is not None:
            return CallOutcome(ok=False, error=error)
        assert reply is not None
        outcome = self._outcome(child, reply, call, plan)
        if used is not None and call.memory_mb is not None and used > call.memory_mb << 20:
            outcome.ok, outcome.value, outcome.grads = False, None, None
            outcome.error = (
                f"exceeded {call.memory_mb} MB of memory in this call "
                f"({used >> 20} MB, measured outside the sandbox)"
            )
        return outcome

    def _max_reply(self, call: Call | None = None) -> int:
        """The largest reply read for `call`: the caller's cap, never above the limit's."""
        limit = (self._limits.result_mb << 20) * 3 + (1 << 20)
        if call is None or call.max_bytes is None:
            return limit
        return min(limit, call.max_bytes)

    def _from_pipeline(self, call: Call) -> CallOutcome | None:
        """The outcome from the replayed script, or None when it must be made on its own."""
        script = self._next
        if self._pipe is None:
            if script is None or not same_call(script.calls[0], call):
                if call.memory_mb is None:  # a call made on its own between segments
                    self._next = None
                return None
            child, error = self._ready_child()
            if child is None:
                return None
            seq0 = child.next_seq(len(script.calls))
            if child.scripts.get(self.filename) == script.ident:  # the child was born with it
                frame = pack_frame({"kind": REPLAY, "file": self.filename, "seq": seq0})
            else:
                frame = pack_frame({"kind": BATCH, "calls": script.metas, "seq": seq0}, script.blob)
            deadline = min(self._deadline, time.monotonic() + self._per_call())
            try:
                child.conn.send_frame(frame, deadline, self._new_arena(script.arena))
            except (Timeout, Closed):
                self._end(child)
                return None
            self._pipe = _Pipeline(script, child, seq0)
        pipe = self._pipe
        calls = pipe.script.calls
        match = next(
            (
                j
                for j in range(pipe.next, min(len(calls), pipe.next + 64))
                if same_call(calls[j], call)
            ),
            None,
        )
        if match is None or not pipe.child.alive:
            self._abort_pipeline()
            self._next = None
            return None
        child = pipe.child
        while pipe.next <= match:
            spent = self._budget_spent()
            if spent is not None:
                self._pipe = None
                self._end(child)
                return CallOutcome(ok=False, error=spent)
            j = pipe.next
            pipe.next += 1
            deadline = min(self._deadline, time.monotonic() + self._per_call())
            reply, error = self._read(
                child, None, pipe.seq0 + j, deadline, self._max_reply(calls[j])
            )
            if j < match:
                if error is not None:  # a call the grader skipped broke the child
                    self._pipe = None
                    return None
                continue
            if pipe.next >= len(calls):  # the segment is done: the next one replays next
                self._pipe = None
                self._next = self._sandbox.next_script(self.filename, pipe.script)
            if error is not None:
                self._pipe = None
                return CallOutcome(ok=False, error=error)
            assert reply is not None
            return self._outcome(child, reply, call, pipe.script.plans[j])
        return None

    def _abort_pipeline(self) -> None:
        """Stop replaying: read the few replies left, or end the child if many are."""
        pipe = self._pipe
        self._pipe = None
        if pipe is None or not pipe.child.alive:
            return
        if pipe.left > 16:
            self._end(pipe.child)
            return
        for j in range(pipe.next, len(pipe.script.calls)):
            deadline = min(self._deadline, time.monotonic() + self._per_call())
            cap = self._max_reply(pipe.script.calls[j])
            _, error = self._read(pipe.child, None, pipe.seq0 + j, deadline, cap)
            if error is not None:
                return

    def _outcome(self, child: ChildProc, reply, call: Call, plan: Plan) -> CallOutcome:
        try:
            return self._parse(reply, call, plan)
        except Exception as exc:  # noqa: BLE001 — a hostile reply must be one clean failure
            self._end(child)
            detail = str(exc) if isinstance(exc, BadFrame) else "malformed reply"
            return CallOutcome(ok=False, error=f"sent a reply the grader cannot read ({detail})")

    def _parse(self, reply, call: Call, plan: Plan) -> CallOutcome:
        meta, blob = reply
        ok = meta.get("ok")
        if not isinstance(ok, bool):
            raise BadFrame("no status")
        try:
            tensors = decode_tensors(blob, (self._limits.result_mb << 20) * 3)
        except TensorFormatError as exc:
            raise BadFrame(f"tensors are not valid safetensors: {exc}") from None
        error = meta.get("error")
        error = None if error is None else printable(str(error)[:2000])
        after = self._changed_inputs(plan)
        mutated = meta.get("mutated", [])
        if not isinstance(mutated, list):
            raise BadFrame("bad mutation list")
        for key in mutated:  # only arguments outside the arena (the GPU lane): its word
            if key not in plan.leaves or f"m{key}" not in tensors:
                raise BadFrame("unknown mutated argument")
            if self._arena is None or key not in {k for k, _, _, _ in plan.arena}:
                after[key] = tensors[f"m{key}"]
        held = len(blob) + sum(t.numel() * t.element_size() for t in after.values())
        if after:
            inputs_after = rebuild(plan.args_node, call.args, after, lambda t: t)
            kwargs_after = rebuild(plan.kwargs_node, call.kwargs, after, lambda t: t)
        else:  # nothing changed: the arguments as they were sent
            inputs_after, kwargs_after = call.args, dict(call.kwargs)
        if not ok:
            return CallOutcome(
                ok=False,
                error=error or "failed",
                inputs_after=inputs_after,
                kwargs_after=kwargs_after,
                held_bytes=held,
            )
        value, devices = self._value(meta, tensors)
        grads = None
        if plan.n_out:
            grad_map = {k: tensors[f"g{k}"] for k in plan.leaves if f"g{k}" in tensors}
            grads = rebuild(plan.args_node, call.args, grad_map, lambda t: None)
        line = meta.get("line")  # the child's word, cosmetic: kept only if it is a line here
        return CallOutcome(
            ok=True,
            value=value,
            devices=devices,
            inputs_after=inputs_after,
            kwargs_after=kwargs_after,
            grads=grads,
            line=line if type(line) is int and 1 <= line <= self._lines else None,
            held_bytes=held,
        )

    # -- the arena: the inputs as the trusted side sees them after a call ----------

    def _new_arena(self, image: bytes) -> tuple[int, ...]:
        """A sealed memfd holding `image` for the next batch (wire.ARENA); () where none
        can be made (the child then reports changed inputs itself: the GPU lane)."""
        self._drop_arena()
        if not image or self._sandbox.device != "cpu" or not hasattr(os, "memfd_create"):
            return ()
        import fcntl

        fd = os.memfd_create("mmexam-arena", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(image)
            while view:
                view = view[os.write(fd, view) :]
            # No resizing by the child: a shrunk file would make every read short.
            fcntl.fcntl(
                fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
            )
        except OSError:
            os.close(fd)
            return ()
        self._arena = fd
        self._arena_map = mmap.mmap(fd, len(image), prot=mmap.PROT_READ)
        return (fd,)

    def _drop_arena(self) -> None:
        if self._arena_map is not None:
            self._arena_map.close()
            self._arena_map = None
        if self._arena is not None:
            os.close(self._arena)
            self._arena = None

    def _changed_inputs(self, plan: Plan) -> dict:
        """The call's tensor arguments whose arena bytes differ from what was sent, as
        they are now (read by the trusted side: the child's report plays no part)."""
        import torch

        after: dict[str, Any] = {}
        if self._arena_map is None:
            return after
        arena = self._arena_map  # read through the map: a memcpy, no system call
        for key, offset, original, want in plan.arena:
            now = arena[offset : offset + len(want)]
            if now != want:
                if len(now) != len(want):
                    raise BadFrame("the arena was cut short")
                flat = torch.frombuffer(bytearray(now), dtype=original.dtype)
                after[key] = flat.reshape(original.shape)
        return after

    @staticmethod
    def _value(meta: dict, tensors: dict) -> tuple[Any, tuple[str, ...]]:
        """The returned tensor (or tuple of them) a successful reply names, and their devices."""
        import torch

        node = meta.get("value")
        if isinstance(node, dict) and TENSOR in node:
            names = [node[TENSOR]]
        elif isinstance(node, dict) and isinstance(node.get(TUPLE), list) and node[TUPLE]:
            names = node[TUPLE]
        else:
            raise BadFrame("no value")
        if not all(isinstance(n, str) and n in tensors and n.startswith("r") for n in names):
            raise BadFrame("value names unknown tensors")
        outputs = [tensors[n] for n in names]
        assert all(type(t) is torch.Tensor for t in outputs)
        value = outputs[0] if TENSOR in node else tuple(outputs)
        devices = meta.get("devices")
        if not isinstance(devices, list) or len(devices) != len(outputs):
            raise BadFrame("bad devices")
        devices = tuple(printable(str(d)[:40]) for d in devices)
        return value, devices

    def close(self) -> None:
        """Detach from the child (ending it, outside a session); keep what it printed."""
        if self.closed:
            return
        self._abort_pipeline()
        self._close_segment()
        child = self._child
        if child is not None and child.alive and child.key is self._token:
            self._end(child)
        if self.load_error is None and not any(c.function in self._out_of_time for c in self._log):
            self._sandbox.remember(self.filename, self._log)
        self._drop_arena()
        self.closed = True

    def __enter__(self) -> StudentModule:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _not_again(error: str, memory_mb: int | None) -> bool:
    """Errors that cost seconds each time: a function that caused one is not called again.

    Running out of memory counts only under the file's own limit: a check that
    lowers the limit for one call (`memory_mb`) is meant to be failed by some
    correct-valued functions, which must still get their other checks.
    """
    timeout = error.startswith("exceeded") and ("s CPU" in error or "wall-clock" in error)
    memory = memory_mb is None and (
        error.startswith(OUT_OF_MEMORY) or error.endswith("MB of memory")
    )
    return timeout or memory or "took the sandbox with it" in error
