"""Running: one student's file, opened in the sandbox, judged check by check.

Each planned call is made in the sandbox (`StudentModule.call`; gradients are
computed there too, via `vjp=`), and what comes back is judged here, in the
trusted process, structure first (exists, signature, raised, type, shape,
dtype, device), then values (`mmexam.checks.judges`). A wrong answer is data
(a `CheckResult` with `passed=False` and a message), never an exception.

Scoring: each check is worth its points when every one of its calls passes,
zero otherwise (partial credit is per check). Checks that a wrong function
can pass (inputs left unchanged, the same output twice, an invariance such as
symmetry, a lower bound, a closed-form property that one wrong line meets: every
check of kind property, mutation, determinism or device) earn their points only
when the same function's value checks ran and passed in the same run; otherwise
they fail "not credited"
(their own failure, if any, is reported instead). Device checks run only in a
CUDA sandbox; elsewhere they are listed as skipped and count 0 of 0.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexam.checks.judges import Caller, Close, hidden_error
from mmexam.checks.plan import Call, Plan
from mmexam.checks.planner import of_function, plans
from mmexam.checks.repro import make_repro
from mmexam.checks.results import Cause, CheckResult, TaskResult
from mmexam.checks.tasks import FunctionInfo, accepts, defined_functions
from mmexam.errors import GradeError

if TYPE_CHECKING:
    from mmexam.sandbox import Sandbox, StudentModule


def run_checks(
    task: str,
    source: str,
    *,
    hidden: bool = True,
    sandbox: Sandbox | None = None,
    fixtures: Path | None = None,
    filename: str | None = None,
    graders: Path | None = None,
    salt: str | None = None,
    function: str | None = None,
) -> TaskResult:
    """Grade one student file for `task` in the sandbox and return every check's result.

    `hidden=False` runs only the public checks. `fixtures` replays exported
    public checks instead of planning from graders/ (then `hidden` must be
    False). `graders`: the course's graders/ folder (default: the shipped
    sample's). Without `sandbox`, one is opened for this call and closed after.
    With `hidden` (grading) the public checks draw fresh inputs, salted with `salt`
    (default: `grading_salt()`), that no practice bundle holds. `function`: only the
    checks of that function (an unknown name is a GradeError listing the functions).
    """
    from mmexam.paths import GRADERS

    graders = graders or GRADERS
    if fixtures is not None and hidden:
        raise GradeError(
            f"{fixtures}: practice fixtures hold only the public checks — run without --hidden"
        )
    if not hidden or fixtures is not None:
        salt = ""
    elif salt is None:
        salt = grading_salt()
    selected = of_function(
        [
            p
            for p in plans(task, fixtures=fixtures, graders=graders, salt=salt)
            if hidden or p.visibility == "public"
        ],
        function,
    )
    filename = filename or f"{task}.py"
    own = sandbox is None
    isolation = "bwrap"
    if sandbox is None:
        from mmexam.paths import trusted_modules
        from mmexam.sandbox import Sandbox

        sandbox = Sandbox(modules=trusted_modules(graders))
    try:
        isolation = str(getattr(sandbox, "isolation", "bwrap"))
        module = sandbox.open(source, filename)
        load_error = module.load_error
        try:
            results = _run_plans(selected, module, source, filename, sandbox)
        finally:
            module.close()
    finally:
        if own:
            sandbox.close()
    return TaskResult(
        task=task,
        filename=filename,
        score=round(sum(r.score for r in results), 6),
        max_score=round(sum(r.max_score for r in results), 6),
        checks=results,
        load_error=load_error,
        sandbox=isolation,
    )


SALT_VARIABLE = "MMEXAM_CHECK_SALT"


@functools.cache
def grading_salt() -> str:
    """The salt of this grading process's public-check inputs: $MMEXAM_CHECK_SALT when
    set (to reproduce a run, or share one salt between workers), else drawn once per
    process — never one a practice bundle was made with."""
    import os
    import secrets

    return os.environ.get(SALT_VARIABLE) or secrets.token_hex(8)


def _run_plans(
    selected: list[Plan], module: StudentModule, source: str, filename: str, sandbox: Any
) -> list[CheckResult]:
    on_cuda = str(getattr(sandbox, "device", "cpu")).startswith("cuda")
    load_error = module.load_error
    defined = _defined_functions(source) or {}
    blocked: dict[str, str] = {}  # function -> why none of its checks can run
    made: dict[tuple, Any] = {}  # calls already made in this run, for checks sharing inputs
    results = []
    for plan in selected:
        if plan.kind == "device" and not on_cuda:
            results.append(_skipped(plan, "skipped: the sandbox has no CUDA device"))
            continue
        if load_error is not None:
            message = f"could not load {filename}: {load_error}"
            results.append(_result(plan, message, cause="not_loaded", error=message))
            continue
        if plan.function not in blocked:
            why = _missing_or_wrong(plan, module, defined, filename)
            if why:
                blocked[plan.function] = why
        if plan.function in blocked:
            why = blocked[plan.function]
            results.append(_result(plan, why, cause="missing", error=why))
            continue
        caller = _Recording(plan, module, on_cuda, made)
        results.append(_judged(plan, caller, plan.judge.judge(caller), source))
    return _withhold_unearned(selected, results)


class _Recording(Caller):
    """A `Caller` that remembers the last call its judge made and what came back: after a
    failure, the failing one (judges stop at the first)."""

    last: tuple[Call, Any] | None = None

    def first(self, call: Call, vjp: Any = None) -> tuple[Any, str | None]:
        outcome, failure = super().first(call, vjp)
        self.last = (call, outcome)
        return outcome, failure

    def again(self, call: Call, args: tuple) -> tuple[Any, str | None]:
        outcome, failure = super().again(call, args)
        self.last = (call, outcome)
        return outcome, failure


def _judged(plan: Plan, caller: _Recording, failure: str | None, source: str) -> CheckResult:
    """The result of a judged plan: a failed call that did not come back (it raised, ran
    out of time, ended its process) is a crash, without the hint (it is about values);
    a failed value check keeps its failing call (`Repro`)."""
    if failure is None or caller.last is None:
        return _result(plan, failure)
    call, outcome = caller.last
    if not outcome.ok:
        error = outcome.error or "failed"
        error = error if plan.visibility == "public" else hidden_error(error)
        limited = call.memory_mb is not None and "memory" in error.lower()
        if not limited:  # running out of a check's own memory limit is its verdict
            return _result(plan, failure, cause="crashed", error=error)
    repro = None
    if plan.kind == "value" and isinstance(plan.judge, Close) and outcome.ok:
        repro = make_repro(plan, call, outcome, source, plan.judge.names)
    return _result(plan, failure).model_copy(update={"repro": repro})


def _withhold_unearned(selected: list[Plan], results: list[CheckResult]) -> list[CheckResult]:
    """A passed check that a constant could pass (`Judge.waits_for_values`) pays nothing
    while its function's value checks fail."""
    failing: dict[str, list[str]] = {}  # function -> its value checks that did not pass
    for plan, result in zip(selected, results):
        if plan.kind == "value" and not result.skipped:
            failing.setdefault(plan.function, [])
            if not result.passed:
                failing[plan.function].append(plan.name)
    out = []
    for plan, result in zip(selected, results):
        gated = plan.kind in GATED_KINDS or plan.judge.waits_for_values()
        # No value check ran: nothing shows the values are right.
        unmet = failing.get(plan.function, ["a value check, and none ran"])
        if result.passed and not result.skipped and unmet and gated:
            message = (
                f"{plan.function}: not credited: {plan.function} does not yet match the "
                f"reference (see {' and '.join(unmet)}) — this check "
                f"({plan.property}) earns its {plan.points:g} point"
                f"{'s' if plan.points != 1 else ''} once the values match"
            )
            update = {"passed": False, "score": 0.0, "message": message, "cause": "not_credited"}
            result = result.model_copy(update=update)
        out.append(result)
    return out


GATED_KINDS = frozenset({"property", "mutation", "determinism", "device"})
"""Kinds of check a wrong function can pass — a property with a closed form is met by a
one-line wrong function (`return x_a * x_b` for the interaction term), inputs left alone
and the same output twice by a constant: they pay only once the function's value checks
pass in the same run, whatever their judge."""


@functools.lru_cache(maxsize=32)
def _defined_functions(source: str) -> dict[str, FunctionInfo] | None:
    """`defined_functions` (an ast parse), once per distinct source: regrading, and the
    same file graded for several checks or students, parse it once."""
    return defined_functions(source)


def _missing_or_wrong(
    plan: Plan, module: Any, defined: dict[str, FunctionInfo], filename: str
) -> str | None:
    wanted = f"{plan.function}({', '.join(plan.params)})"
    if not module.has_function(plan.function):
        return f"{filename} has no function {plan.function} — define def {wanted}"
    info = defined.get(plan.function)
    n_args = len(plan.calls[0].args) if plan.calls else len(plan.params)
    if info is not None and not accepts(info, n_args):
        return (
            f"wrong signature: {plan.function}({', '.join(info.params)}) cannot be called "
            f"with the {n_args} arguments {wanted} — keep the starter's signature"
        )
    return None


def _skipped(plan: Plan, message: str) -> CheckResult:
    return CheckResult(
        name=plan.name,
        function=plan.function,
        kind=plan.kind,
        score=0.0,
        max_score=0.0,
        passed=True,
        message=message,
        visibility=plan.visibility,
        skipped=True,
    )


def _result(
    plan: Plan, failure: str | None, *, cause: Cause | None = "wrong", error: str = ""
) -> CheckResult:
    """A check's result; the hint is added only where the function ran (`cause` 'wrong')."""
    passed = failure is None
    if failure is None:
        n = len(plan.calls)
        message = f"passed: {plan.property} ({n} case{'s' if n != 1 else ''})"
        cause = None
    else:
        message = failure
        if plan.hint and cause == "wrong":
            message += f"\n  Hint: {plan.hint}"
    return CheckResult(
        name=plan.name,
        function=plan.function,
        kind=plan.kind,
        score=plan.points if passed else 0.0,
        max_score=plan.points,
        passed=passed,
        message=message,
        visibility=plan.visibility,
        cause=cause,
        error=error,
    )
