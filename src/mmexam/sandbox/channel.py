"""Talking to a child from the trusted side: deadline-bound, capped, hostile input.

Every frame the child sends is hostile input: lengths are capped before
anything is read, JSON is validated, and what the child prints meanwhile is
drained into a capped buffer.
"""

from __future__ import annotations

import json
import os
import select
import socket
import time

from mmexam.sandbox.wire import HEADER, MAX_META


class Timeout(Exception):
    """The deadline passed before the child answered."""


class Closed(Exception):
    """The child closed its end (it died, or exited)."""


class BadFrame(Exception):
    """The child sent something that is not a frame within the limits."""


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{n / 1024:.0f} KB"


class Conn:
    """The protocol socket and the stdout pipe of one child, read with deadlines and caps."""

    def __init__(self, sock: socket.socket, out_fd: int, out_cap: int) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.out_fd = out_fd
        self.out_cap = out_cap
        self.out = bytearray()
        self.dropped = 0
        sock.setblocking(False)
        os.set_blocking(out_fd, False)
        self.poller = select.poll()
        self.poller.register(out_fd, select.POLLIN)
        self.poller.register(self.fd, select.POLLIN)
        self.out_open = True
        self.pending = bytearray()  # bytes read past the last frame
        self.scratch = memoryview(bytearray(1 << 20))  # recv() would allocate its size each time

    def _read_out(self) -> None:
        while self.out_open:
            try:
                chunk = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.poller.unregister(self.out_fd)
                self.out_open = False
                return
            room = self.out_cap - len(self.out)
            if room > 0:
                self.out += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def exchange(
        self, frame: bytes, deadline: float, max_blob: int, fds: tuple[int, ...] = ()
    ) -> tuple[dict, bytearray]:
        """Send one frame (with `fds`), then read one frame back before `deadline`."""
        self.send_frame(frame, deadline, fds)
        return self.receive(deadline, max_blob)

    def send_frame(self, frame: bytes, deadline: float, fds: tuple[int, ...] = ()) -> None:
        """Send all of `frame` before `deadline` (`fds` with its first bytes), draining the
        child's output meanwhile."""
        view = memoryview(frame)
        sent = 0
        while True:
            try:
                if fds and not sent:
                    sent += socket.send_fds(self.sock, [view], list(fds))
                else:
                    sent += self.sock.send(view[sent:])
            except BlockingIOError:
                pass
            except OSError:
                raise Closed from None
            if sent >= len(view):
                return
            self.poller.modify(self.fd, select.POLLOUT)
            try:
                self._wait(deadline)
            finally:
                self.poller.modify(self.fd, select.POLLIN)

    def _wait(self, deadline: float) -> list[tuple[int, int]]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout
        events = self.poller.poll(left * 1000 + 1)
        if any(fd == self.out_fd for fd, _ in events):
            self._read_out()
        return events

    def receive(self, deadline: float, max_blob: int) -> tuple[dict, bytearray]:
        """Read the next frame before `deadline`.

        The reply's lengths are checked against MAX_META and `max_blob` before
        anything is allocated; what the child prints meanwhile is drained.
        Bytes past the frame stay buffered for the next one (batches stream).
        """
        pending = self.pending
        while True:
            if len(pending) >= HEADER.size:
                meta_len, blob_len = HEADER.unpack_from(pending)
                if meta_len > MAX_META or blob_len > max_blob:
                    raise BadFrame(
                        f"sent a reply of {_size(meta_len + blob_len)}, more than the "
                        f"{_size(max_blob)} the grader reads for this call"
                    )
                end = HEADER.size + meta_len + blob_len
                if len(pending) >= end:
                    meta_bytes = pending[HEADER.size : HEADER.size + meta_len]
                    blob = pending[HEADER.size + meta_len : end]  # a copy, writable: no second one
                    del pending[:end]
                    try:
                        meta = json.loads(meta_bytes.decode("utf-8"))
                    except Exception:  # noqa: BLE001 — ValueError, RecursionError (deep nesting)…
                        raise BadFrame("sent a reply that is not valid JSON") from None
                    if not isinstance(meta, dict):
                        raise BadFrame("sent a reply that is not a JSON object")
                    return meta, blob
                want = end - len(pending)
            else:
                want = HEADER.size - len(pending)
            scratch = self.scratch
            try:
                n = self.sock.recv_into(scratch, min(max(want, 65536), len(scratch)))
            except BlockingIOError:
                self._wait(deadline)
                continue
            except OSError:
                raise Closed from None
            if not n:
                raise Closed
            pending += scratch[:n]

    def drain(self, seconds: float = 0.0) -> None:
        """Read what the child printed, waiting up to `seconds` for the pipe to close."""
        deadline = time.monotonic() + seconds
        while self.out_open:
            self._read_out()
            left = deadline - time.monotonic()
            if left <= 0 or not self.out_open:
                return
            select.select([self.out_fd], [], [], left)

    def stdout(self) -> str:
        text = self.out.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output not kept]\n"
        return text

    def close(self) -> None:
        self.sock.close()
        try:
            os.close(self.out_fd)
        except OSError:
            pass
