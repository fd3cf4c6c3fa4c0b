"""What a student reads about a task's failed checks: one block per broken function.

Pure functions over the result model (`TaskResult`, `CheckResult`), shared by
`mmexam check`, `mmexam practice check` and the grade feedback files:

- `group_failures` puts every check that failed because its function did not
  run — the file did not import, the function is missing or cannot be called
  with the starter's arguments, or it crashed (raised, ran out of time or
  memory, ended its process) — into one `Broken` block per function (one for
  the whole file when it did not import), with the points it costs; checks that
  pay only once the values match ('not credited') join their function's block.
  Every other failure is shown on its own (`failure_text`).
- `failure_text` is one failed check's feedback: the message (in the voice of
  torch.testing.assert_close, with its hint), then for a failed value check the
  expected and returned values, the student's line that returned them and a
  snippet that calls the function on the failing inputs (`mmexam.checks.repro`).

Who sees a snippet: a public check's inputs are the practice inputs, so its
snippet, values and line are shown everywhere. A hidden check's inputs must not
reach a student before grading is done: `mmexam check` and `practice check`
never show them (`reveal_hidden=False`), and only the grade feedback files,
written after grading, do (`reveal_hidden=True`) — by then they are feedback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from mmexam.checks.repro import show_values, snippet
from mmexam.checks.results import CheckResult, TaskResult
from mmexam.fmt import fmt_points


@dataclass(frozen=True)
class Broken:
    """A function (or, with `function` None, the whole file) whose checks could not judge it."""

    function: str | None
    error: str
    checks: tuple[str, ...]
    points: float
    also: tuple[str, ...] = ()  # other errors of the same function, on other checks

    def text(self) -> str:
        """'<function>: <error> — costs N points (checks a, b)', then any other error."""
        count = len(self.checks)
        names = ", ".join(self.checks)
        which = f"check {names}" if count == 1 else f"checks {names}"
        if self.function is None:
            which = f"all {count} checks" if count > 1 else which
            head = self.error
        else:
            head = f"{self.function}: {_plain_error(self.error, self.function)}"
        points = fmt_points(self.points)
        lines = [f"{head} — costs {points} point{'s' if self.points != 1 else ''} ({which})"]
        lines += [f"  also: {error}" for error in self.also]
        return "\n".join(lines)


@dataclass(frozen=True)
class Grouped:
    """A task's failures: the broken blocks, then the checks shown one by one."""

    broken: tuple[Broken, ...]
    failed: tuple[CheckResult, ...]
    in_blocks: frozenset[str]  # names of the checks a block reports

    def verdict(self, check: CheckResult) -> str:
        """The table's word for a check: passed, skipped, FAILED, crashed or not run."""
        if check.skipped:
            return "skipped"
        if check.passed:
            return "passed"
        if check.name in self.in_blocks:
            return {"crashed": "crashed", "not_credited": "FAILED"}.get(
                check.cause or "", "not run"
            )
        return "FAILED"


def group_failures(result: TaskResult) -> Grouped:
    """The failed checks of `result`, one block per broken function (see the module)."""
    failed = [c for c in result.checks if not c.passed and not c.skipped]
    blocks: list[Broken] = []
    in_blocks: set[str] = set()
    not_loaded = [c for c in failed if c.cause == "not_loaded"]
    if not_loaded or (result.load_error and failed):
        mine = not_loaded or failed
        error = (
            f"{result.filename} could not be loaded: {result.load_error}"
            if result.load_error
            else mine[0].error
        )
        blocks.append(Broken(None, error, _names(mine), _cost(mine)))
        in_blocks.update(c.name for c in mine)
    by_function: dict[str, list[CheckResult]] = {}
    for c in failed:
        if c.cause in ("crashed", "missing") and c.name not in in_blocks:
            by_function.setdefault(c.function, []).append(c)
    for function, broken in by_function.items():
        credited = [c for c in failed if c.function == function and c.cause == "not_credited"]
        mine = [c for c in failed if c in broken or c in credited]
        errors = _distinct_errors(broken)
        blocks.append(Broken(function, errors[0], _names(mine), _cost(mine), tuple(errors[1:])))
        in_blocks.update(c.name for c in mine)
    rest = tuple(c for c in failed if c.name not in in_blocks)
    return Grouped(tuple(blocks), rest, frozenset(in_blocks))


def _names(checks: list[CheckResult]) -> tuple[str, ...]:
    return tuple(c.name for c in checks)


def _cost(checks: list[CheckResult]) -> float:
    return round(sum(c.max_score - c.score for c in checks), 6)


def _distinct_errors(checks: list[CheckResult]) -> list[str]:
    """The checks' errors, each once, public ones first; a hidden check's error that only
    repeats a public one's kind ('raised ValueError (its message is not shown…)') is
    not said again."""
    from mmexam.checks.judges import hidden_error

    public = [c.error for c in checks if c.visibility == "public"]
    hidden = [c.error for c in checks if c.visibility == "hidden"]
    kinds = {hidden_error(e) for e in public}
    out = list(dict.fromkeys(public))
    out += [e for e in dict.fromkeys(hidden) if e not in kinds and e not in out]
    return out or ["failed"]


def _plain_error(error: str, function: str) -> str:
    """An error without a message that only repeats the function's name (what the
    starter's `raise NotImplementedError("tensor_fusion")` says)."""
    return re.sub(rf"^(raised \w+): {re.escape(function)}( \(|$)", r"\1\2", error)


def failure_text(
    check: CheckResult,
    filename: str,
    *,
    reveal_hidden: bool = False,
    inputs_file: Callable[[CheckResult], str | None] | None = None,
) -> str:
    """One failed check's feedback: its message, then, for a failed value check whose
    inputs may be shown (module docstring), the expected and returned outputs, the
    student's line and a snippet. `inputs_file(check)`: where large inputs were saved
    (relative to the student's folder), for the snippet to load them."""
    message, hint_mark, hint = check.message.partition("\n  Hint: ")
    lines = [message]
    repro = check.repro
    if repro is None or (check.visibility == "hidden" and not reveal_hidden):
        return check.message
    names = repro.names or []
    for i, (expected, got) in enumerate(zip(repro.expected, repro.got)):
        if expected.shape == got.shape and math.prod(got.shape) == 1:
            continue  # the message already says 'Expected 1.01, got 1.11'
        label = f" ({names[i]})" if i < len(names) else ""
        if len(repro.expected) > 1 and not label:
            label = f" (output {i})"
        lines.append(f"  Expected{label}: {show_values(expected)}")
        lines.append(f"  Got{label}:      {show_values(got)}")
    if repro.line is not None:
        lines.append(f"  Your line: {filename}, line {repro.line}: {repro.code}")
    if hint_mark:
        lines.append(f"  Hint: {hint}")
    code = snippet(repro, filename, inputs_file=inputs_file(check) if inputs_file else None)
    if code is not None:
        lines.append(
            f"  Try it (paste into python started in the folder of {filename}; case {repro.case}):"
        )
        lines += ["    " + line for line in code.split("\n")]
    return "\n".join(lines)
