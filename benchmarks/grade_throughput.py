"""Throughput of the sandboxed code grader: workers + zygote vs a fresh process per submission.

    python benchmarks/grade_throughput.py                 # 500 submissions, all cores
    python benchmarks/grade_throughput.py --count 100 --jobs 2 --baseline 4
    python benchmarks/grade_throughput.py --count 200 --baseline-src /tmp/pre8/src --rounds 2

Builds `--count` synthetic submissions, each with one file per code task
(fusion, contrastive, mllm, generation):

- correct files: copies of graders/<task>/reference.py;
- buggy files: the reference with one seeded mutation (an operator swapped,
  a constant changed, a `dim=` moved) in one function;
- hostile files: a fusion.py from tests/fixtures/hostile/ (crash, exit,
  memory bomb, forged frames, monkeypatching, reading graders/, ...), the
  other tasks honest. Attacks that can only be stopped by the wall clock
  (sleeping, fork bombs, ignored signals) are left out: each would hold one
  worker for the 15 s wall-clock limit of a call and says nothing about speed.

Every submission is graded with all hidden checks (`run_checks`), its four
files sharing one sandboxed child (`Sandbox.session`), in `map_in_workers`
(one Sandbox per worker). Then, in the same run, a sample is graded the
naive way: a fresh Python process per submission (import torch, start a
sandbox, run the same checks), `--jobs` at a time; its rate is extrapolated
from the sample. Printed: submissions per second of both, and the ratio.

With `--baseline-src DIR` it compares two versions of mmexam instead: the
worker phase runs in a fresh process with `PYTHONPATH=DIR` (an older
checkout, e.g. a `git worktree` of the commit before a change) and with the
mmexam this script imports, alternately, `--rounds` times each, on the same
submissions. Each run's CPU time is read from a control group of its own
where there is one (everything it started, sandboxes included); the
throughput loss of the current version against the baseline is printed.

`--move-wait-ms MS` makes every move of a process into a control group
(`Cgroup.add`) wait MS longer first, in a version that has control groups.
On a default kernel a move waits for an RCU grace period (13.6 ms on average,
measured on the CI machine); a machine where any cgroup hierarchy was ever
mounted with `favordynmods` does not wait (Linux 6.18 keeps that switch on
until the next boot). The option prices that wait in on such a machine; it
changes nothing else.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("fusion", "contrastive", "mllm", "generation")
HOSTILE = (
    "infinite_loop",
    "memory_bomb",
    "segfault",
    "sys_exit",
    "os_exit",
    "kill_parent",
    "fake_protocol_fd",
    "fake_stdout",
    "monkeypatch_torch",
    "eq_always_true",
    "tensor_subclass",
    "numpy_array",
    "huge_output",
    "network",
    "read_graders_absolute",
    "write_outside",
    "close_all_fds",
)


# ---------------------------------------------------------------- submissions


class _Mutator(ast.NodeTransformer):
    """Change the `target`-th mutable node of one function (seeded)."""

    SWAPS: dict = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}  # noqa: RUF012

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.done = ""

    def _hit(self) -> bool:
        self.seen += 1
        return self.seen - 1 == self.target

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) in self.SWAPS and self._hit():
            node.op = self.SWAPS[type(node.op)]()
            self.done = "operator swapped"
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) in (int, float) and not isinstance(node.value, bool) and self._hit():
            self.done = f"constant {node.value!r} changed"
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)
        if node.arg == "dim" and self._hit():
            node.value = ast.UnaryOp(ast.USub(), node.value)
            self.done = "dim negated"
        return node


def mutate(source: str, rng: random.Random) -> str:
    """The reference with one seeded bug in one function."""
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    for _ in range(20):
        function = rng.choice(functions)
        counter = _Mutator(-1)
        counter.visit(ast.parse(ast.unparse(function)))
        if counter.seen == 0:
            continue
        mutator = _Mutator(rng.randrange(counter.seen))
        index = tree.body.index(function)
        tree.body[index] = mutator.visit(function)
        if mutator.done:
            return ast.unparse(ast.fix_missing_locations(tree))
    return source


def build(count: int, seed: int) -> list[dict]:
    """`count` submissions: {"id", "kind", "files": {task: source}}."""
    rng = random.Random(seed)
    references = {t: (REPO / "graders" / t / "reference.py").read_text() for t in TASKS}
    hostile = {
        name: (REPO / "tests/fixtures/hostile" / f"{name}.py").read_text() for name in HOSTILE
    }
    kinds = ["hostile"] * min(len(HOSTILE), max(1, count // 30))
    kinds += ["buggy"] * (count * 35 // 100)
    kinds += ["correct"] * (count - len(kinds))
    rng.shuffle(kinds)
    submissions = []
    hostile_names = list(HOSTILE)
    for k, kind in enumerate(kinds):
        files = dict(references)
        label = kind
        if kind == "buggy":
            task = rng.choice(TASKS)
            files[task] = mutate(references[task], rng)
            label = f"buggy {task}"
        elif kind == "hostile":
            name = hostile_names.pop(0)
            files["fusion"] = hostile[name]
            label = f"hostile {name}"
        submissions.append({"id": f"s{k:04d}", "kind": kind, "label": label, "files": files})
    return submissions


# ---------------------------------------------------------------- grading


def grade(sandbox, submission: dict) -> dict:
    """All hidden checks of all four files of one submission (runs in a worker)."""
    from mmexam.checks import run_checks

    scores = {}
    before = sandbox.cpu_seconds()
    with sandbox.session(submission["id"]):
        for task, source in submission["files"].items():
            result = run_checks(task, source, sandbox=sandbox, filename=f"{task}.py")
            scores[task] = [result.score, result.max_score]
    # The zygote's and children's CPU time (bwrap's PID namespace hides it from rusage).
    sandbox_cpu = max(0.0, sandbox.cpu_seconds() - before)
    return {"id": submission["id"], "scores": scores, "sandbox_cpu": sandbox_cpu}


ONE_PROCESS = """
import json, sys
from mmexam.checks import run_checks
from mmexam.paths import trusted_modules
from mmexam.sandbox import Sandbox
submission = json.load(sys.stdin)
with Sandbox(modules=trusted_modules()) as sandbox:
    scores = {}
    for task, source in submission["files"].items():
        result = run_checks(task, source, sandbox=sandbox, filename=task + ".py")
        scores[task] = [result.score, result.max_score]
    print(json.dumps({"scores": scores, "sandbox_cpu": sandbox.cpu_seconds()}))
"""


def baseline(sample: list[dict], jobs: int) -> tuple[float, float]:
    """Seconds for grading `sample`, one fresh Python process per submission, `jobs` at a time,
    and the CPU seconds their sandboxes reported."""
    start = time.perf_counter()
    sandbox_cpu = 0.0
    running: list[subprocess.Popen] = []
    queue = list(sample)
    while queue or running:
        while queue and len(running) < jobs:
            proc = subprocess.Popen(
                [sys.executable, "-c", ONE_PROCESS],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            proc.stdin.write(json.dumps(queue.pop(0)))
            proc.stdin.close()
            running.append(proc)
        running[0].wait()
        sandbox_cpu += json.loads(running.pop(0).stdout.read())["sandbox_cpu"]
    return time.perf_counter() - start, sandbox_cpu


MOVE_WAIT = "MMEXAM_BENCH_MOVE_WAIT_MS"


def _add_move_wait() -> None:
    """In a run with `--move-wait-ms`: every move into a control group waits that long
    first (a sleep, like the kernel's wait: no CPU). A version without control groups
    moves nothing and is left alone."""
    wait = float(os.environ.get(MOVE_WAIT) or 0) / 1000
    try:
        from mmexam.sandbox.cgroups import Cgroup
    except ImportError:
        return
    if not wait or getattr(Cgroup.add, "waits", False):
        return
    add = Cgroup.add

    def waiting_add(self, pid: int) -> None:
        time.sleep(wait)
        add(self, pid)

    waiting_add.waits = True
    Cgroup.add = waiting_add


def _cpu() -> float:
    """CPU seconds of this process and every finished descendant."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _run_version(args: argparse.Namespace, src: str, hierarchy) -> dict:
    """One worker phase in a fresh process importing mmexam from `src`."""
    from mmexam.sandbox.cgroups import Cgroup

    group = Cgroup.create(hierarchy, prefix="mmexam-bench") if hierarchy else None
    command = [sys.executable, __file__, "--count", str(args.count), "--jobs", str(args.jobs)]
    command += ["--seed", str(args.seed), "--json"]
    load = os.getloadavg()[0]
    done = subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": src, MOVE_WAIT: str(args.move_wait_ms)},
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=None if group is None else lambda: group.add(os.getpid()),
    )
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-4000:])
        raise SystemExit(f"the run with {src} failed")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if group is not None:
        result["cpu"] = group.cpu_seconds()  # every process of the run, sandboxes included
        group.remove()
    result["load"] = (load + os.getloadavg()[0]) / 2
    return result


def compare(args: argparse.Namespace) -> None:
    """The worker phase of two versions of mmexam, alternately, on the same submissions."""
    import mmexam
    from mmexam.sandbox.cgroups import probe

    versions = {
        "before": str(Path(args.baseline_src).resolve()),
        "after": str(Path(mmexam.__file__).resolve().parents[1]),
    }
    hierarchy, why = probe()
    print(
        f"before: {versions['before']}\nafter:  {versions['after']}\n"
        f"{args.count} submissions, {args.jobs} workers, {args.rounds} round(s), "
        f"{os.cpu_count()} CPUs; CPU "
        + ("read from a control group per run" if hierarchy else f"from rusage ({why})")
    )
    if args.move_wait_ms:
        print(f"each move into a control group waits {args.move_wait_ms} ms more")
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        for label, src in versions.items():
            result = _run_version(args, src, hierarchy)
            runs[label].append(result)
            print(
                f"  round {round_ + 1} {label:6}: {result['rate']:.2f} submissions/s, "
                f"{result['cpu'] / args.count * 1e3:.0f} ms CPU per submission, "
                f"full marks {result['full_marks']}, failures {result['failures']}, "
                f"load average {result['load']:.1f}"
            )
    summary = {}
    for label, results in runs.items():
        rate = sum(r["rate"] for r in results) / len(results)
        cpu = sum(r["cpu"] for r in results) / len(results) / args.count
        summary[label] = (rate, cpu)
        print(f"{label:6}: {rate:.2f} submissions/s, {cpu * 1e3:.0f} ms CPU per submission (mean)")
    (rate_b, cpu_b), (rate_a, cpu_a) = summary["before"], summary["after"]
    print(
        f"throughput loss: {(1 - rate_a / rate_b) * 100:+.1f}% in submissions/s, "
        f"{(cpu_a / cpu_b - 1) * 100:+.1f}% CPU per submission (goal: under 10%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="synthetic submissions")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument(
        "--baseline", type=int, default=4, help="submissions in the baseline sample"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-src", help="compare with the mmexam in this src folder")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each version (compare)")
    parser.add_argument("--json", action="store_true", help="worker phase only, one JSON line")
    parser.add_argument(
        "--move-wait-ms",
        type=float,
        default=0.0,
        help="extra wait per move of a process into a control group (see above)",
    )
    args = parser.parse_args()
    if args.baseline_src:
        compare(args)
        return

    from mmexam.paths import trusted_modules
    from mmexam.sandbox import isolation_status, map_in_workers

    isolation, _ = isolation_status()
    submissions = build(args.count, args.seed)
    kinds = {k: sum(s["kind"] == k for s in submissions) for k in ("correct", "buggy", "hostile")}
    print(
        f"{args.count} submissions x {len(TASKS)} files ({kinds}), {args.jobs} workers, "
        f"isolation: {isolation}, {os.cpu_count()} CPUs",
        file=sys.stderr if args.json else sys.stdout,
    )

    cpu0 = _cpu()
    sandbox_cpu = 0.0
    start = time.perf_counter()
    first = None
    results = {}
    failures = 0
    workers = map_in_workers(
        grade, submissions, args.jobs, ordered=False, modules=trusted_modules()
    )
    for item in workers:
        first = first or time.perf_counter()
        if item.ok:
            results[item.value["id"]] = item.value["scores"]
            sandbox_cpu += item.value["sandbox_cpu"]
        else:
            failures += 1
            print(f"  worker failure on {submissions[item.index]['id']}: {item.error}")
    total = time.perf_counter() - start
    cpu = _cpu() - cpu0 + sandbox_cpu
    rate = args.count / total
    steady = (args.count - 1) / max(time.perf_counter() - first, 1e-9)

    def full(scores: dict) -> bool:
        return all(s == m for s, m in scores.values())

    by_kind = {"correct": [], "buggy": [], "hostile": []}
    for s in submissions:
        if s["id"] in results:
            by_kind[s["kind"]].append(full(results[s["id"]]))
    if args.json:
        marks = f"{sum(by_kind['correct'])}/{len(by_kind['correct'])}"
        print(json.dumps({"rate": rate, "cpu": cpu, "failures": failures, "full_marks": marks}))
        return
    print(
        f"  correct submissions with full marks: {sum(by_kind['correct'])}/{len(by_kind['correct'])}"
    )
    print(
        f"  buggy submissions that lost points:  "
        f"{sum(not f for f in by_kind['buggy'])}/{len(by_kind['buggy'])} "
        "(a mutation may not change behaviour)"
    )
    hostile_fusion = [
        (s["label"], results[s["id"]]["fusion"])
        for s in submissions
        if s["kind"] == "hostile" and s["id"] in results
    ]
    print(
        "  hostile fusion.py scores: "
        + ", ".join(
            f"{label.removeprefix('hostile ')} {score:g}/{most:g}"
            for label, (score, most) in hostile_fusion
        )
    )
    print(
        f"workers: {args.count} submissions in {total:.1f} s = {rate:.1f} submissions/s "
        f"({steady:.1f}/s after the first result; worker start-up included in the first figure)"
    )
    print(f"  that is {rate * len(TASKS):.1f} task files/s ({len(TASKS)} files per submission)")
    print(
        f"  CPU time of all processes (workers {cpu - sandbox_cpu:.1f} s, zygotes and children "
        f"{sandbox_cpu:.1f} s): {cpu:.1f} s = "
        f"{cpu / args.count * 1e3:.0f} ms per submission; on {os.cpu_count()} idle CPUs that is "
        f"{os.cpu_count() * args.count / cpu:.1f} submissions/s (load average now "
        f"{os.getloadavg()[0]:.1f}: other programs share these CPUs)"
    )

    sample = [s for s in submissions if s["kind"] != "hostile"][: args.baseline]
    cpu0 = _cpu()
    seconds, base_sandbox_cpu = baseline(sample, args.jobs)
    base_cpu = (_cpu() - cpu0 + base_sandbox_cpu) / len(sample)
    base_rate = len(sample) / seconds
    print(
        f"baseline: a fresh Python process per submission, {args.jobs} at a time: "
        f"{len(sample)} submissions in {seconds:.1f} s = {base_rate:.2f} submissions/s "
        f"(extrapolated: {args.count / base_rate:.0f} s for all {args.count})"
    )
    print(f"  CPU time per submission: {base_cpu * 1e3:.0f} ms")
    print(
        f"ratio: {rate / base_rate:.1f}x faster in wall-clock time, "
        f"{base_cpu / (cpu / args.count):.1f}x less CPU per submission "
        "(targets: >= 25 submissions/s, >= 20x)"
    )
    if failures:
        sys.exit(1)


# Spawned workers import this file as their main module: the wait reaches them here.
_add_move_wait()

if __name__ == "__main__":
    main()
