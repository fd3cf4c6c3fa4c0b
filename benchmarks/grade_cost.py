"""Where grading CPU goes: a fixed cost per student plus a cost per sandboxed call.

    python benchmarks/grade_cost.py               # 30 students per set of files
    python benchmarks/grade_cost.py --count 10 --target 25

Grades correct submissions (copies of graders/<task>/reference.py), one
student at a time in one `Sandbox`, for several sets of task files (each
file alone, two, all four). For each set it measures the CPU time of this
process (the trusted side: encoding calls, reading and judging replies) and
of the sandbox (the zygote and its children: fork, imports, the calls,
exit), and counts the calls the checks made. A least-squares line through
the sets splits the CPU into a cost per student and a cost per call.

Baseline, in the same run: the same checks' calls made directly in this
process (the reference functions on the same inputs, backward passes
included), with no sandbox and no fork.

Last, the arithmetic of a throughput target: CPU per submission at the
target on this machine's CPUs, and how many calls per submission fit in it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("fusion", "contrastive", "mllm", "generation")
SETS = (("mllm",), ("contrastive",), ("fusion",), ("generation",), ("fusion", "mllm"), TASKS)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def counting_sandbox():
    """A Sandbox that counts the calls made through the modules it opens."""
    from mmexam.paths import trusted_modules
    from mmexam.sandbox import Sandbox

    class CountingSandbox(Sandbox):
        calls = 0

        def open(self, source, filename):
            module = super().open(source, filename)
            call = module.call

            def counted(*args, **kwargs):
                self.calls += 1
                return call(*args, **kwargs)

            module.call = counted
            return module

    return CountingSandbox(modules=trusted_modules())


def sandboxed(sandbox, files: tuple[str, ...], sources: dict, count: int) -> dict:
    """CPU per student (worker and sandbox) and calls per student, for one set of files."""
    from mmexam.checks import run_checks

    def student(name: str) -> None:
        with sandbox.session(name):
            for task in files:
                run_checks(task, sources[task], sandbox=sandbox, filename=f"{task}.py")

    for k in range(3):  # the first students teach the sandbox each file's script
        student(f"warm-{'-'.join(files)}-{k}")
    calls0, sandbox0, own0 = sandbox.calls, sandbox.cpu_seconds(), _own_cpu()
    for k in range(count):
        student(f"{'-'.join(files)}-{k}")
    return {
        "calls": (sandbox.calls - calls0) / count,
        "worker": (_own_cpu() - own0) / count,
        "sandbox": (sandbox.cpu_seconds() - sandbox0) / count,
    }


def direct_seconds_per_call(repeats: int = 5) -> tuple[float, int]:
    """CPU seconds per call when every check's calls are made directly in this process,
    through the same reference caller the planner uses (backward passes included)."""
    import torch

    from mmexam.checks import plans
    from mmexam.checks.judges import GradClose
    from mmexam.checks.planner import load_file, reference_caller

    torch.set_num_threads(1)
    work = []
    made: set[tuple] = set()
    for task in TASKS:
        reference = load_file(REPO / "graders" / task / "reference.py", f"reference_{task}")
        caller = reference_caller(reference)
        for plan in plans(task):
            if plan.kind in ("device", "mutation"):
                continue  # device: no CUDA here; mutation: judged on another check's call
            wrt = plan.judge.wrt if isinstance(plan.judge, GradClose) else ()
            for call in plan.calls:
                vjp = plan.judge.upstream(call)
                # Like the grader, a check planned on an earlier check's inputs reads that
                # call's outcome instead of calling again (the second call of a pair is new).
                key = (plan.function, id(call.args), call.memory_mb)
                if vjp is not None or key not in made:
                    if vjp is None:
                        made.add(key)
                    work.append((caller, plan.function, call.args, vjp, wrt))
                if call.args2 is not None:
                    work.append((caller, plan.function, call.args2, None, ()))

    times = []
    for _ in range(repeats):
        start = _own_cpu()
        for caller, function, args, vjp, wrt in work:
            caller(function, args, vjp, wrt)
        times.append((_own_cpu() - start) / len(work))
    return statistics.median(times), len(work)


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares a + b*x through (x, y) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return mean_y - b * mean_x, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="students per set of files")
    parser.add_argument("--target", type=float, default=25.0, help="submissions per second")
    args = parser.parse_args()

    from mmexam.sandbox import isolation_status

    sources = {t: (REPO / "graders" / t / "reference.py").read_text() for t in TASKS}
    cpus = os.cpu_count() or 1
    print(
        f"correct submissions, {args.count} students per set of files, one at a time; "
        f"isolation: {isolation_status()[0]}; {cpus} CPUs"
    )
    rows = []
    start = time.perf_counter()
    with counting_sandbox() as sandbox:
        for files in SETS:
            row = sandboxed(sandbox, files, sources, args.count)
            rows.append(row)
            total = row["worker"] + row["sandbox"]
            print(
                f"  {' + '.join(files):40} {row['calls']:4.0f} calls  {total * 1e3:6.1f} ms "
                f"(sandbox {row['sandbox'] * 1e3:5.1f}, worker {row['worker'] * 1e3:5.1f})"
            )
    print(f"  ({time.perf_counter() - start:.0f} s)")

    per_student, per_call = fit([(r["calls"], r["worker"] + r["sandbox"]) for r in rows])
    sandbox_fixed, sandbox_call = fit([(r["calls"], r["sandbox"]) for r in rows])
    worker_fixed, worker_call = fit([(r["calls"], r["worker"]) for r in rows])
    print(
        f"fit: {per_student * 1e3:.1f} ms per student + {per_call * 1e6:.0f} µs per call "
        f"(sandbox {sandbox_fixed * 1e3:.1f} ms + {sandbox_call * 1e6:.0f} µs, "
        f"worker {worker_fixed * 1e3:.1f} ms + {worker_call * 1e6:.0f} µs)"
    )

    direct, n_direct = direct_seconds_per_call()
    print(
        f"baseline: the same checks' calls made directly in this process, no sandbox: "
        f"{direct * 1e6:.0f} µs per call ({n_direct} calls for the four files)"
    )
    print(f"ratio: a sandboxed call costs {per_call / direct:.1f}x a direct one")

    calls = rows[-1]["calls"]
    budget = cpus / args.target
    fits = (budget - per_student) / per_call
    print(
        f"target: {args.target:g} submissions/s on {cpus} CPUs is {budget * 1e3:.0f} ms of CPU "
        f"per submission; at these costs {max(fits, 0):.0f} calls per submission fit, "
        f"and the four files' checks make {calls:.0f} "
        f"({per_student * 1e3 + calls * per_call * 1e3:.0f} ms, before any hostile file's cost)"
    )


if __name__ == "__main__":
    main()
