"""Running: one student's file, opened in the sandbox, judged check by check.

Each planned call is made in the sandbox (`StudentModule.call`; gradients are
computed there too, via `vjp=`), and what comes back is judged here, in the
trusted process, structure first (exists, signature, raised, type, shape,
dtype, device), then values (`mmexam.checks.judges`). A wrong answer is data
(a `CheckResult` with `passed=False` and a message), never an exception.

Scoring: each check is worth its points when every one of its calls passes,
zero otherwise (partial credit is per check). Checks that a wrong function
can pass (inputs left unchanged, the same output twice, an invariance such as
symmetry, a lower bound, a closed-form answer that is a constant: a constant
function passes them all) earn their points only when the same function's
value checks passed in the same run; otherwise they fail "not credited"
(their own failure, if any, is reported instead). Device checks run only in a
CUDA sandbox; elsewhere they are listed as skipped and count 0 of 0.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexam.checks.judges import Caller
from mmexam.checks.plan import Plan
from mmexam.checks.planner import plans
from mmexam.checks.results import CheckResult, TaskResult
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
) -> TaskResult:
    """Grade one student file for `task` in the sandbox and return every check's result.

    `hidden=False` runs only the public checks. `fixtures` replays exported
    public checks instead of planning from graders/ (then `hidden` must be
    False). `graders`: the course's graders/ folder (default: the shipped
    sample's). Without `sandbox`, one is opened for this call and closed after.
    """
    from mmexam.paths import GRADERS

    graders = graders or GRADERS
    if fixtures is not None and hidden:
        raise GradeError(
            f"{fixtures}: practice fixtures hold only the public checks — run without --hidden"
        )
    selected = [
        p
        for p in plans(task, fixtures=fixtures, graders=graders)
        if hidden or p.visibility == "public"
    ]
    filename = filename or f"{task}.py"
    own = sandbox is None
    if sandbox is None:
        from mmexam.paths import trusted_modules
        from mmexam.sandbox import Sandbox

        sandbox = Sandbox(modules=trusted_modules(graders))
    try:
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
    )


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
            results.append(_result(plan, f"could not load {filename}: {load_error}", hint=False))
            continue
        if plan.function not in blocked:
            why = _missing_or_wrong(plan, module, defined, filename)
            if why:
                blocked[plan.function] = why
        if plan.function in blocked:
            results.append(_result(plan, blocked[plan.function], hint=False))
            continue
        results.append(_result(plan, plan.judge.judge(Caller(plan, module, on_cuda, made))))
    return _withhold_unearned(selected, results)


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
        unmet = failing.get(plan.function)
        if result.passed and not result.skipped and unmet and plan.judge.waits_for_values():
            message = (
                f"{plan.function}: not credited: {plan.function} does not yet match the "
                f"reference (see {' and '.join(unmet)}) — this check "
                f"({plan.property}) earns its {plan.points:g} point"
                f"{'s' if plan.points != 1 else ''} once the values match"
            )
            result = result.model_copy(update={"passed": False, "score": 0.0, "message": message})
        out.append(result)
    return out


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


def _result(plan: Plan, failure: str | None, *, hint: bool = True) -> CheckResult:
    passed = failure is None
    if failure is None:
        n = len(plan.calls)
        message = f"passed: {plan.property} ({n} case{'s' if n != 1 else ''})"
    else:
        message = failure
        if plan.hint and hint:
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
    )
