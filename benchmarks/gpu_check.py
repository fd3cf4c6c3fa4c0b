"""The device checks on a lent GPU machine, as one prepared script (about 2 minutes).

On the GPU machine (its python3 holds a CUDA build of torch; no bwrap there):

    PYTHONPATH=src python3 benchmarks/gpu_check.py

If `import pydantic` fails there (nothing can be installed from the network
on that machine), carry wheels made here beforehand and install them first:

    pip download --only-binary=:all: --python-version 3.12 \\
        --platform manylinux2014_x86_64 -d .gpu-wheels pydantic
    # on the GPU machine:
    python3 -m pip install --no-index --find-links .gpu-wheels pydantic

What it runs, each through the real sandbox with `device="cuda"` (rlimits
only, the GPU lane): every task's reference with all hidden checks (the
device checks must run and pass); buggy fixtures that create a tensor on the
CPU (on CUDA their checks must fail, the device check among them, with a
message naming both devices); a few other buggy fixtures (must lose points); sandbox facts on the GPU lane (the device a returned
tensor had, CUDA starting in a forked child, a GPU memory bomb stopped by the
memory limit, a segfault and an infinite loop contained, the next file
graded normally). Prints one line per item and a summary; exits 1 when any
expectation fails.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
TASKS = ("fusion", "contrastive", "mllm", "generation")
CPU_BUGS = (("fusion", "tensor_fusion__cpu_ones"), ("contrastive", "clip_loss__cpu_labels"))
OTHER_BUGS = (
    ("fusion", "tensor_fusion__missing_one"),
    ("contrastive", "info_nce__no_temperature"),
    ("generation", "q_sample__no_sqrt"),
    ("generation", "vae_loss__kl_sign"),
)

results: list[tuple[bool, str]] = []


def record(ok: bool, line: str) -> None:
    results.append((ok, line))
    print(("ok    " if ok else "FAIL  ") + line, flush=True)


def main() -> int:
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA build "
        f"{torch.version.cuda}",
        flush=True,
    )
    # No torch.cuda call in this process before the sandbox forks its children.
    from mmexam.checks import run_checks
    from mmexam.paths import trusted_modules
    from mmexam.sandbox import Limits, Sandbox, SandboxWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)
        limits = Limits(cpu_seconds_per_call=5.0, memory_mb=2048)
        sandbox = Sandbox(limits, device="cuda", modules=trusted_modules(), require_sandbox=False)
    print(f"isolation: {sandbox.isolation} ({sandbox.warning or 'bwrap'})", flush=True)
    try:
        for task in TASKS:
            source = (REPO / "graders" / task / "reference.py").read_text()
            started = time.perf_counter()
            result = run_checks(task, source, sandbox=sandbox)
            device = [c for c in result.checks if c.kind == "device"]
            failed = [c.name for c in result.checks if not c.passed]
            ok = result.score == result.max_score and device and not any(c.skipped for c in device)
            record(
                bool(ok),
                f"{task} reference: {result.score:g}/{result.max_score:g}, "
                f"{len(device)} device checks run, failed: {failed or 'none'} "
                f"({time.perf_counter() - started:.1f} s)",
            )
        for task, name in CPU_BUGS:
            source = (REPO / "tests/fixtures/buggy" / task / f"{name}.py").read_text()
            result = run_checks(task, source, sandbox=sandbox)
            # The fixture defines only the buggy function; the task's other functions
            # are missing and fail every check, so look at the buggy function alone.
            function = name.split("__", 1)[0]
            # On the GPU lane every check runs on CUDA tensors, so a tensor made on
            # the CPU breaks each of them; the message must say which devices clashed.
            failed = [c for c in result.checks if c.function == function and not c.passed]
            caught = any(c.kind == "device" for c in failed) and all(
                "cpu" in c.message and "cuda" in c.message for c in failed
            )
            record(
                caught,
                f"{task}/{name}: fails {[c.name for c in failed]} "
                f"— {failed[0].message.splitlines()[0] if failed else 'nothing failed'}",
            )
        for task, name in OTHER_BUGS:
            source = (REPO / "tests/fixtures/buggy" / task / f"{name}.py").read_text()
            result = run_checks(task, source, sandbox=sandbox)
            record(
                result.score < result.max_score,
                f"{task}/{name}: {result.score:g}/{result.max_score:g}",
            )
        sandbox_facts(sandbox, torch)
    finally:
        sandbox.close()
    bad = sum(not ok for ok, _ in results)
    print(f"summary: {len(results) - bad} of {len(results)} as expected", flush=True)
    return 1 if bad else 0


PROBES = """
import ctypes, os, time, torch

def where(x):
    return x * 2

def bomb(x):
    hoard = []
    while True:
        hoard.append(torch.empty(1024, 1024, 256, device=x.device))  # 1 GiB each

def host_bomb(x):
    hoard = []
    while True:
        hoard.append(bytearray(256 * 1024 * 1024))

def crash(x):
    ctypes.string_at(0)

def spin(x):
    while True:
        pass
"""


def sandbox_facts(sandbox, torch) -> None:
    x = torch.ones(3)
    with sandbox.open(PROBES, "probes.py") as probes:
        started = time.perf_counter()
        first = probes.call("where", x)
        cuda_start = time.perf_counter() - started
        record(
            first.ok and first.devices == ("cuda:0",) and torch.equal(first.value, x * 2),
            f"a returned tensor lived on {first.devices} and came back as a plain CPU "
            f"tensor; first call with CUDA start-up {cuda_start:.2f} s ({first.error})",
        )
        gpu = probes.call("bomb", x, memory_mb=1024)
        record(not gpu.ok and "memory" in (gpu.error or ""), f"GPU memory bomb: {gpu.error}")
        host = probes.call("host_bomb", x)
        record(not host.ok and "memory" in (host.error or ""), f"host memory bomb: {host.error}")
        crash = probes.call("crash", x)
        record(not crash.ok and "signal 11" in (crash.error or ""), f"segfault: {crash.error}")
        spin = probes.call("spin", x)
        record(not spin.ok and "exceeded" in (spin.error or ""), f"infinite loop: {spin.error}")
        after = probes.call("where", x)
        record(
            after.ok,
            f"a call after all that, in a fresh child: ok={after.ok} "
            f"({probes.children} children for this file)",
        )


if __name__ == "__main__":
    sys.exit(main())
