"""Load on `mmexam serve`: save latency with hundreds of students typing and check runs queued.

Builds an exam for a generated roster (`--students`, default 300), starts
`mmexam serve` on loopback (SQLite in the build folder; then a throwaway
PostgreSQL server when /usr/lib/postgresql/15/bin is there), logs every
student in, and for `--seconds` (default 120) has each student save every
`--every` seconds (default 5) a realistic change: a short answer of a few
hundred characters, a code file of a few kilobytes, or a letter, with a random
phase so saves do not come in lockstep. Meanwhile `--checks` students (default
30) keep a public-check run queued at all times (each asks again as soon as its
last run is finished). It prints, per database: saves made, failed saves, p50 /
p99 / max save latency as the client measured it, check runs finished, and the
CPU the server process used (its sandboxes' CPU separately).

Short run: `benchmarks/serve_load.py --seconds 20 --students 100`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PG_BIN = Path("/usr/lib/postgresql/15/bin")
EXAMPLE_CODE = Path(__file__).resolve().parent.parent / "examples" / "submissions" / "s2024001"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    checks_done: int = 0
    window_start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # wall, server CPU, client CPU
    window_end: tuple[float, float, float] = (0.0, 0.0, 0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_exam(root: Path, students: int) -> Path:
    from mmexam.build.exam import build_exam as build
    from mmexam.paths import DEFAULT_BANK

    roster = root / "roster.csv"
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name"])
        for n in range(students):
            writer.writerow([f"s{n:05d}", f"Student {n}"])
    out = root / "build"
    build(DEFAULT_BANK, out, seed=0, roster=roster, formats=("html",), key=False)
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def descendants_cpu(pid: int) -> float:
    """CPU of the live processes below `pid` (the sandboxes), including their reaped children."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    total = 0.0
    for child in parents:
        up = parents.get(child)
        while up and up != pid:
            up = parents.get(up)
        if up == pid:
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(f) for f in fields[11:15]) / TICKS
            except OSError:
                pass
    return total


def start_server(build: Path, database: str | None, port: int) -> tuple[subprocess.Popen, dict]:
    command = [sys.executable, "-m", "mmexam", "serve", str(build), "--port", str(port)]
    command += ["--staff-password", "bench", "--demo", "--minutes", "600"]
    if database:
        command += ["--database", database]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    codes = {}
    assert process.stdout is not None
    for line in process.stdout:
        found = re.match(r"\s+(s\d+)\s+(\S+)\s", line)
        if found:
            codes[found.group(1)] = found.group(2)
        if line.startswith("staff page"):
            break
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, codes


async def log_in(url: str, sid: str, code: str) -> Paper:
    client = httpx.AsyncClient(base_url=url, timeout=180)  # logins wait behind scrypt
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    await client.post("/login", data={"csrf": csrf, "student": sid, "code": code})
    paper = (await client.get("/paper")).text
    token = re.search(r'"csrf": "([^"]+)"', paper).group(1)  # type: ignore[union-attr]
    fields: dict[str, list[str]] = {}
    for key, kind in re.findall(r'data-key="([^"]+)" data-kind="([^"]+)"', paper):
        fields.setdefault(kind, []).append(key)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    port = int(url.rsplit(":", 1)[1])
    return Paper(client, token, fields, port, RawConnection(port, cookie))


WORDS = (  # noqa: SIM905 — a sentence reads better than a list of words
    "the fusion layer projects each modality into a shared space then the contrastive loss "
    "pulls matching pairs together while pushing apart the other pairs in the batch so the "
    "temperature controls how sharp the softmax is and gated cross attention keeps the frozen "
    "language model intact at initialisation because tanh of zero is zero"
).split()


@dataclass
class Paper:
    """A logged-in student's client and the fields of their paper, by kind."""

    client: httpx.AsyncClient
    token: str
    fields: dict[str, list[str]]
    port: int = 0
    raw: RawConnection | None = None


class RawConnection:
    """One keep-alive HTTP/1.1 connection with the student's cookie: a POST costs the
    load generator a few tens of microseconds, not the milliseconds of a full client
    library, so the latency measured is the server's, not the generator's queueing."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCookie: {self.cookie}\r\n"
            f"X-CSRF-Token: {token}\r\n\r\n"
        )
        try:
            self.writer.write(head.encode() + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            length = 0
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await self.reader.readexactly(length)
            return int(status_line.split()[1])
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError):
            self.writer.close()
            self.writer = None
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def payload(rng: random.Random, k: int, paper: Paper, starter: str) -> dict:
    """One realistic save: most often a short answer growing, sometimes code, sometimes a letter."""
    roll, fields = rng.random(), paper.fields
    if roll < 0.5 and fields.get("short_answer"):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 220)))
        return {"key": rng.choice(fields["short_answer"]), "value": text}
    if roll < 0.8 and fields.get("code"):
        edit = f"\n# edit {k}\n" + "    x = torch.zeros(3)\n" * rng.randint(1, 20)
        return {"key": rng.choice(fields["code"]), "value": starter + edit}
    return {"key": rng.choice(fields["mcq"]), "value": rng.choice("abcd")}


async def student_loop(
    paper: Paper,
    seed: int,
    every: float,
    until: float,
    outcome: Outcome,
    starter: str,
) -> None:
    rng = random.Random(seed)
    assert paper.raw is not None
    next_at = time.monotonic() + rng.uniform(0, every)
    k = 0
    while True:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= until:
            return
        next_at += every  # a fixed rate: a slow answer does not slow the student down
        k += 1
        body = json.dumps({"changes": [payload(rng, k, paper, starter)]}).encode()
        started = time.perf_counter()
        try:
            status = await paper.raw.post("/api/save", body, paper.token)
            ok, reason = status == 200, str(status)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            ok, reason = False, type(error).__name__
        elapsed = time.perf_counter() - started
        if ok:
            outcome.latencies.append(elapsed)
        else:
            outcome.failed += 1
            outcome.errors[reason] = outcome.errors.get(reason, 0) + 1


async def check_loop(paper: Paper, until: float, outcome: Outcome, source: str) -> None:
    client = paper.client
    task = paper.fields["code"][0].removeprefix("file:").removesuffix(".py")
    while time.monotonic() < until:
        response = await client.post(
            "/api/check",
            json={"task": task, "source": source},
            headers={"x-csrf-token": paper.token},
        )
        if response.status_code != 202:
            await asyncio.sleep(1)
            continue
        run = response.json()["run"]
        while time.monotonic() < until:
            await asyncio.sleep(1)
            state = (await client.get(f"/api/check/{task}")).json()
            if state.get("id") == run and state["status"] in ("done", "failed"):
                outcome.checks_done += 1
                break


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def solution(paper: Paper, starter: str) -> str:
    """What a checking student sends: a worked solution (an example student's file) when
    there is one for their task, so the checks compute; else the starter."""
    task_file = paper.fields["code"][0].removeprefix("file:")
    example = EXAMPLE_CODE / task_file
    return example.read_text() if example.is_file() else starter


async def load(
    url: str, codes: dict, args: argparse.Namespace, starter: str, server_pid: int
) -> Outcome:
    students = sorted(codes)[: args.students]
    sessions = []
    for n in range(0, len(students), 20):  # log in 20 at a time (scrypt on the server)
        batch = students[n : n + 20]
        sessions += await asyncio.gather(*(log_in(url, sid, codes[sid]) for sid in batch))
    checking = [await log_in(url, sid, codes[sid]) for sid in students[: args.checks]]
    outcome = Outcome()
    outcome.window_start = (time.monotonic(), cpu_seconds(server_pid), client_cpu())
    until = time.monotonic() + args.seconds
    jobs = [
        student_loop(paper, n, args.every, until, outcome, starter)
        for n, paper in enumerate(sessions)
    ]
    checkers = [check_loop(paper, until, outcome, solution(paper, starter)) for paper in checking]
    await asyncio.gather(*jobs, *checkers)
    outcome.window_end = (time.monotonic(), cpu_seconds(server_pid), client_cpu())
    for paper in sessions:
        if paper.raw is not None:
            paper.raw.close()
        await paper.client.aclose()
    return outcome


def start_postgres(root: Path) -> tuple[str, list[str], Path] | None:
    if not (PG_BIN / "initdb").exists():
        return None
    data, sock = root / "pgdata", root / "pgsock"
    sock.mkdir()
    user: list[str] = []
    if os.getuid() == 0:
        for path in (root, sock):
            shutil.chown(path, "nobody", "nogroup")
        user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(root)}
    subprocess.run(
        [*user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "mmexam", "--auth=trust"],
        check=True,
        capture_output=True,
        env=env,
    )
    port = free_port()
    options = f"-k {sock} -p {port} -c listen_addresses='' -c max_connections=200"
    subprocess.run(
        [*user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w"]
        + ["-l", str(root / "pg.log"), "start"],
        check=True,
        capture_output=True,
        env=env,
    )
    return f"postgresql://mmexam@/postgres?host={sock}&port={port}", user, data


def measure(build: Path, database: str | None, label: str, args: argparse.Namespace) -> None:
    port = free_port()
    server, codes = start_server(build, database, port)
    starter = (build / "starter" / "fusion.py").read_text()
    try:
        outcome = asyncio.run(load(f"http://127.0.0.1:{port}", codes, args, starter, server.pid))
        sandboxes = descendants_cpu(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    wall, cpu, client = (b - a for a, b in zip(outcome.window_start, outcome.window_end))
    lat = sorted(outcome.latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    print(
        f"{label}: {args.students} students saving every {args.every:g} s + {args.checks} "
        f"check runs kept queued, {wall:.0f} s\n"
        f"  saves: {len(lat)} ok, {outcome.failed} failed {outcome.errors or ''}\n"
        f"  save latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(lat) * 1000:.1f} ms\n"
        f"  check runs finished: {outcome.checks_done}\n"
        f"  server process CPU: {cpu:.1f} s ({100 * cpu / wall:.0f}% of one core); "
        f"its check workers and sandboxes: {sandboxes:.1f} s; "
        f"load generator: {client:.1f} s\n"
        f"  machine load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument(
        "--every", type=float, default=5.0, help="Seconds between a student's saves."
    )
    parser.add_argument("--checks", type=int, default=30, help="Check runs kept queued.")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only.")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="Run everything at this nice value (e.g. -10, as root): on a machine shared with "
        "other jobs, it stands in for a machine that serves the exam alone.",
    )
    args = parser.parse_args()
    # SIGTERM runs the clean-up below too (the servers stopped, the temporary folder removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.nice:
        os.nice(args.nice)
        print(f"running at nice {os.nice(0)} (the server, its checks at +10 from there)")
    root = Path(tempfile.mkdtemp(prefix="mmexam-serve-load-"))
    os.chmod(root, 0o755)
    try:
        started = time.perf_counter()
        build = build_exam(root, args.students)
        print(f"built {args.students} papers in {time.perf_counter() - started:.1f} s", flush=True)
        measure(build, None, "SQLite (WAL, synchronous=FULL)", args)
        pg = None if args.no_postgres else start_postgres(root)
        if pg is None:
            print("PostgreSQL: skipped (no /usr/lib/postgresql/15/bin or --no-postgres)")
        else:
            url, user, data = pg
            try:
                measure(build, url, "PostgreSQL 15 (fsync on)", args)
            finally:
                subprocess.run(
                    [*user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                    capture_output=True,
                    check=False,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
