"""`practice check`: the public checks on a student's file, as the real grading runs them.

The same engine, sandbox and messages as `mmexam check`
(`mmexam.checks.run_checks` with `hidden=False`). With a bundle, the
expected outputs are replayed from the bundle's fixtures, so no reference
code is needed; without one, the shipped graders' public checks run directly.
"""

from __future__ import annotations

from pathlib import Path

from mmexam.errors import PracticeError


def fixtures_for(task: str, bundle: Path) -> Path:
    """The bundle's fixture folder for `task`, or a `PracticeError` naming the tasks it has."""
    from mmexam.practice.bundle import load_bundle

    entry = load_bundle(bundle).task(task)
    if entry is None:
        tasks = ", ".join(t.task for t in load_bundle(bundle).tasks) or "none"
        raise PracticeError(f"{bundle}: the bundle has no code task '{task}' — its tasks: {tasks}")
    folder = Path(bundle) / entry.fixtures
    if not (folder / f"{task}.json").is_file():
        raise PracticeError(
            f"{folder / (task + '.json')}: missing from the bundle — export the bundle again"
        )
    return folder


def bundle_modules(task: str, bundle: Path) -> tuple[Path, ...]:
    """The trusted module file the bundle holds for `task` (the sandbox builds its modules)."""
    trusted = fixtures_for(task, bundle) / f"{task}.modules.py"
    return (trusted,) if trusted.is_file() else ()


def practice_checks(
    task: str,
    source: str,
    *,
    filename: str,
    bundle: Path | None,
    sandbox,
    function: str | None = None,
):
    """Run the public checks of `task` on `source`: a `TaskResult`, exactly as `mmexam check`.

    `function`: only that function's checks."""
    from mmexam.checks import run_checks

    fixtures = fixtures_for(task, bundle) if bundle is not None else None
    return run_checks(
        task,
        source,
        hidden=False,
        sandbox=sandbox,
        fixtures=fixtures,
        filename=filename,
        function=function,
    )
