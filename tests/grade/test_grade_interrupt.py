"""Ctrl-C during `mmexam grade`: one line, exit status 130, every worker and sandbox gone,
and the next run resumes from the students already graded. Also `--device`."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmexam.build.exam import build_exam
from mmexam.paths import DEFAULT_BANK
from mmexam.sandbox import isolation_status

pytestmark = [pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MMEXAM = [sys.executable, "-m", "mmexam"]


@pytest.fixture(scope="module")
def example_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    build_exam(
        DEFAULT_BANK,
        root / "build",
        seed=json.loads((EXAMPLES / "expected.json").read_text())["seed"],
        roster=EXAMPLES / "roster.csv",
        formats=("html",),
        key=False,
    )
    shutil.copytree(EXAMPLES / "submissions", root / "submissions")
    return root


def grade_args(root: Path, *more: str) -> list[str]:
    args = [
        *MMEXAM,
        "grade",
        str(root / "submissions"),
        "--variants",
        str(root / "build" / "variants.json"),
    ]
    args += ["--out", str(root / "grades"), "--manual", str(root / "manual"), "--jobs", "2"]
    if isolation_status()[0] != "bwrap":
        args.append("--no-sandbox")
    return [*args, *more]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited: only its parent's wait is missing


def _takes_ctrl_c() -> None:
    """A terminal's foreground job takes SIGINT. Tests started in the background (a shell's
    `&`, as CI may run them) ignore it, and a child would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(example_class):
    root = example_class
    graded = root / "grades" / "graded"
    run = subprocess.Popen(
        grade_args(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=_takes_ctrl_c,  # noqa: PLW1509
    )
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    # grading has started: a few results saved, and the workers still at the others
    while time.monotonic() < deadline and run.poll() is None:
        workers |= descendants(run.pid)
        if graded.is_dir() and len(list(graded.glob("*.json"))) >= 4 and workers:
            break
        time.sleep(0.05)
    assert run.poll() is None, "grading finished before it could be interrupted"
    workers |= descendants(run.pid)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err + out[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted; run again to resume"
    ], err
    saved = [json.loads(p.read_text()) for p in graded.glob("*.json")]
    assert 0 < len(saved) < 13
    complete = sum(1 for r in saved if not r.get("retry"))  # a grader failure is redone
    assert complete >= 1
    time.sleep(1)
    assert not [pid for pid in workers if alive(pid)], "processes left after Ctrl-C"

    again = subprocess.run(
        grade_args(root), capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr
    summary = again.stdout.replace("\n", " ")
    reused = int(summary.split(" reused ", 1)[1].split()[0])
    # (fewer than `complete` only when a grader file changed in between: its students redone)
    assert 1 <= reused <= complete, summary
    assert len(list(graded.glob("*.json"))) == 13

    # graded on cpu: no check that needs CUDA shows in the results, one note says so
    for path in graded.glob("*.json"):
        result = json.loads(path.read_text())
        checks = [c for item in result["items"] for c in item.get("checks", [])]
        assert not [c for c in checks if c["kind"] == "device"], path
    assert "--device cuda" in summary


def test_device_cuda_without_a_gpu_is_a_usage_error(example_class, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    root = example_class
    args = grade_args(root, "--device", "cuda")
    args[args.index("--out") + 1] = str(tmp_path / "grades")
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: --device cuda: this machine has no CUDA device — grade with --device cpu"
    ]
    assert not (tmp_path / "grades").exists()
