"""kill -9 the server in the middle of a stream of saves: every acknowledged save survives."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mmexam.serve.db import Database, database_url

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(build, url: str, port: int) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mmexam", "serve", str(build), "--port", str(port)]
        + ["--database", url, "--staff-password", "pw", "--demo", "--check-workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    codes = {}
    assert process.stdout is not None
    for line in process.stdout:
        found = re.match(r"\s+(s\d+)\s+(\S+)\s", line)
        if found:
            codes[found.group(1)] = found.group(2)
        if line.startswith("staff page"):
            break
    else:
        raise AssertionError("the server did not start")
    for _ in range(600):  # until it listens
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, codes


def children(pid: int) -> list[int]:
    """The child processes of `pid` (every thread's), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def gone_within(pids: list[int], seconds: float) -> None:
    """Every process of `pids` ends within `seconds` (the server that started them is dead)."""
    deadline = time.monotonic() + seconds
    while [pid for pid in pids if Path(f"/proc/{pid}").exists()]:
        if time.monotonic() > deadline:
            raise AssertionError(f"check workers outlived the server: {pids}")
        time.sleep(0.1)


def login(port: int, sid: str, code: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"csrf": csrf, "student": sid, "code": code})
    token = re.search(r'"csrf": "([^"]+)"', client.get("/paper").text).group(1)
    return client, token


def test_acknowledged_saves_survive_kill_9(built, db_url, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(built, build)
    port = free_port()
    server, codes = start_server(build, db_url, port)
    students = sorted(codes)[:6]
    sessions = [login(port, sid, codes[sid]) for sid in students]
    acked: list[tuple[str, str, str]] = []  # (student, key, value) the server answered 200 to
    lock = threading.Lock()
    enough = threading.Event()

    def writer(n: int) -> None:
        client, token = sessions[n]
        k = 0
        while True:
            k += 1
            value = f"{students[n]}-{k}-" + "x" * 200
            key = "2.1" if k % 2 else "file:fusion.py"
            try:
                response = client.post(
                    "/api/save",
                    json={"changes": [{"key": key, "value": value}]},
                    headers={"x-csrf-token": token},
                )
            except httpx.TransportError:
                return  # the server is gone
            if response.status_code == 200:
                with lock:
                    acked.append((students[n], key, value))
                    if len(acked) >= 300:
                        enough.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(len(students))]
    for thread in threads:
        thread.start()
    enough.wait(timeout=300)
    workers = children(server.pid)  # the public checks' worker processes
    assert workers, "the server started no check workers"
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    server.stdout.close()
    gone_within(workers, seconds=10)  # killed with it, not left holding their sandboxes
    for thread in threads:
        thread.join()
    for client, _ in sessions:
        client.close()
    assert len(acked) >= 300

    db = Database(database_url(db_url, build / "serve.sqlite"))
    for sid in students:
        stored = [r.value for r in db.history(sid)]
        mine = [value for who, _, value in acked if who == sid]
        missing = [v for v in mine if v not in stored]
        assert not missing, f"{sid}: {len(missing)} acknowledged saves lost"
        # and the stored order is the order they were acknowledged in
        positions = [stored.index(v) for v in mine]
        assert positions == sorted(positions)
    db.close()

    # the restarted server serves the saved answers
    server, codes = start_server(build, db_url, port)
    try:
        client, _ = login(port, students[0], codes[students[0]])
        last = [v for who, key, v in acked if who == students[0] and key == "2.1"][-1]
        page = client.get("/paper").text
        assert last in page or f"{students[0]}-" in page
        client.close()
    finally:
        starting = children(server.pid)  # workers that may not have finished starting
        server.kill()
        server.wait()
        server.stdout.close()
    gone_within(starting, seconds=60)
