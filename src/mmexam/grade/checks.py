"""The checks engine: declare checks per code task, grade one student file, replay practice fixtures.

A task's checks live in `graders/<task>/checks.py` as a list `CHECKS` built
with the constructors below (`value`, `gradient`, `expect`, `symmetric`,
`at_least`, `converges`, `unchanged_inputs`, `deterministic`, `on_device`).
A check is declarative: a name, the function it calls, points, a visibility
("public" checks ship to students for practice, "hidden" ones only grade), a
kind, the property it checks, a hint tied to the lecture, and the seeded
inputs it calls the function with.

Grading happens in two steps:

1. *Plan* (trusted process, once per task per process): every check is
   turned into a `Plan` — concrete input tensors and the expected outputs.
   Every reference output goes through one function, `Context.reference`,
   which calls `graders/<task>/reference.py`; property checks compute their
   expectation in closed form and need no reference at all.
2. *Run* (per submission): the student's file is opened in the sandbox,
   each planned call is made there (`StudentModule.call`; gradients are
   computed in the sandbox too, via `vjp=`), and what comes back is judged
   here, in the trusted process, structure first (exists, signature, raised,
   type, shape, dtype, device), then values.

Because plans are plain tensors and JSON, `export_fixtures(task, out_dir)`
writes the public checks' plans to `<task>.json` + `<task>.safetensors`, and
`run_checks(..., fixtures=out_dir)` replays them without importing graders/
(this is what `mmexam practice check` uses). A wrong answer is data (a
`CheckResult` with `passed=False` and a message), never an exception.

Scoring: each check is worth its points when every one of its calls passes,
zero otherwise (partial credit is per check). Checks that a wrong function
can pass (inputs left unchanged, the same output twice, an invariance such as
symmetry, a lower bound, a closed-form answer that is a constant: a constant
function passes them all) earn their points only
when the same function's value checks passed in the same run; otherwise they
fail "not credited" (their own failure, if any, is reported instead). Device
checks run only in a CUDA sandbox; elsewhere they are listed as skipped and
count 0 of 0.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import math
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmexam.errors import GradeError
from mmexam.grade.tasks import (
    accepts,
    defined_functions,
    function_info,
    list_tasks,
    task_dir,
    task_functions,
)
from mmexam.paths import GRADERS

if TYPE_CHECKING:
    import torch

    from mmexam.grade.sandbox import Sandbox, StudentModule

__all__ = [
    "Call",
    "Check",
    "CheckResult",
    "Context",
    "Plan",
    "TaskResult",
    "at_least",
    "converges",
    "deterministic",
    "expect",
    "export_fixtures",
    "gradient",
    "list_tasks",
    "on_device",
    "plans",
    "rand",
    "randn",
    "run_checks",
    "standard_checks",
    "symmetric",
    "task_functions",
    "unchanged_inputs",
    "value",
]

Visibility = Literal["public", "hidden"]
Kind = Literal["value", "gradient", "property", "memory", "mutation", "determinism", "device"]
Judge = Literal[
    "close", "grad_close", "pair_close", "pair_equal", "at_least", "converges", "unchanged"
]

FIXTURE_FORMAT = 1


# --------------------------------------------------------------------------- results


class CheckResult(BaseModel):
    """The outcome of one check on one student's file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Check name, '<function>.<what>', e.g. 'tensor_fusion.values'.")
    function: str = Field(description="The task function the check calls.")
    kind: str = Field(
        default="value",
        description="value, gradient, property, memory, mutation, determinism or device.",
    )
    score: float = Field(description="Points earned: max_score if passed, else 0.")
    max_score: float = Field(description="Points the check is worth (0 when skipped).")
    passed: bool = Field(description="Whether every call of the check passed.")
    message: str = Field(description="Feedback in the voice of torch.testing.assert_close.")
    visibility: Visibility = Field(description="public (practice) or hidden (grading only).")
    skipped: bool = Field(
        default=False, description="True for device checks when the sandbox has no CUDA."
    )


class TaskResult(BaseModel):
    """All checks of one code task on one student's file."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="The code task: fusion, contrastive, mllm or generation.")
    score: float = Field(description="Sum of the checks' scores.")
    max_score: float = Field(description="Sum of the checks' max scores.")
    checks: list[CheckResult] = Field(description="One result per check, in declaration order.")
    load_error: str | None = Field(
        default=None, description="Why the file could not be loaded (then every check fails)."
    )


# --------------------------------------------------------------------------- declarations

Inputs = Callable[..., tuple]  # inputs(generator, dtype, **shape) -> positional args


@dataclass(frozen=True)
class Call:
    """One planned call of the student's function and what to judge it against."""

    label: str  # "B=3, dA=4, dB=5, float32"
    args: tuple
    expected: Any = None  # tensor, tuple of tensors, or (for gradients) grads aligned with args
    args2: tuple | None = None  # second call for pair judges (symmetry, determinism)
    vjp: Any = None  # upstream gradient for gradient checks
    memory_mb: int | None = None
    rtol: float = 0.0
    atol: float = 0.0


@dataclass(frozen=True)
class Plan:
    """A check made concrete: its calls with inputs and expected outputs (serialisable)."""

    name: str
    function: str
    points: float
    visibility: Visibility
    kind: Kind
    judge: Judge
    property: str
    hint: str
    params: tuple[str, ...]  # the function's parameter names (for messages)
    calls: tuple[Call, ...]
    options: dict = field(default_factory=dict)  # judge options: wrt, names, tol, lower


@dataclass(frozen=True)
class Check:
    """A declared check; `build(ctx)` makes its calls (inputs and expectations)."""

    name: str
    function: str
    points: float
    visibility: Visibility
    kind: Kind
    judge: Judge
    property: str
    hint: str
    build: Callable[[Context], list[Call]]
    options: dict = field(default_factory=dict)


class Context:
    """What a check's `build` may use: a seeded generator and the reference."""

    def __init__(
        self,
        task: str,
        check_name: str,
        reference: Callable[..., Any],
        earlier: dict[str, list[Call]] | None = None,
    ):
        import torch

        self.task = task
        self.generator = torch.Generator().manual_seed(zlib.crc32(check_name.encode()))
        self._reference = reference
        self.earlier = earlier if earlier is not None else {}  # check name -> its calls

    def first_call_of(self, check_name: str) -> Call | None:
        """The first planned call of an earlier check of the task (to share its inputs)."""
        calls = self.earlier.get(check_name)
        return calls[0] if calls else None

    def reference(self, function: str, *args: Any, vjp: Any = None, wrt: Sequence[int] = ()):
        """The one way reference outputs are made: call reference.<function>(*args).

        With `vjp` (an upstream gradient shaped like the output), return instead
        the gradients of <output, vjp> w.r.t. the arguments at positions `wrt`,
        as a tuple aligned with args (None elsewhere).
        """
        return self._reference(function, args, vjp, tuple(wrt))


def _cases(cases: Sequence[dict]) -> list[tuple[str, dict, Any]]:
    import torch

    out = []
    for case in cases:
        shape = {k: v for k, v in case.items() if k != "dtype"}
        dtype = getattr(torch, case.get("dtype", "float64"))
        label = ", ".join(
            [*(f"{k}={v}" for k, v in shape.items()), str(dtype).removeprefix("torch.")]
        )
        out.append((label, shape, dtype))
    return out


def _tol(dtype, tol: dict | None) -> tuple[float, float]:
    from mmexam.grade.compare import tolerance

    return tolerance(dtype, tol)


def value(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    points: float,
    visibility: Visibility = "public",
    hint: str = "",
    property: str = "matches the reference",
    tol: dict[str, tuple[float, float]] | None = None,
    memory_mb: int | None = None,
    kind: Kind = "value",
    names: tuple[str, ...] = (),
) -> Check:
    """Value equivalence with the reference on seeded random inputs, one call per case."""

    def build(ctx: Context) -> list[Call]:
        calls = []
        for label, shape, dtype in _cases(cases):
            args = inputs(ctx.generator, dtype, **shape)
            rtol, atol = _tol(dtype, tol)
            expected = ctx.reference(function, *args)
            calls.append(Call(label, args, expected, memory_mb=memory_mb, rtol=rtol, atol=atol))
        return calls

    return Check(
        name, function, points, visibility, kind, "close", property, hint, build, {"names": names}
    )


def on_device(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    points: float,
    visibility: Visibility = "hidden",
    hint: str = "create new tensors on the inputs' device and dtype "
    "(x.new_ones(...), torch.zeros_like(x), torch.arange(n, device=x.device)).",
    tol: dict[str, tuple[float, float]] | None = None,
    names: tuple[str, ...] = (),
) -> Check:
    """The value check on CUDA tensors: outputs on the inputs' device and close to the reference."""
    check = value(
        name,
        function,
        inputs=inputs,
        cases=cases,
        points=points,
        visibility=visibility,
        hint=hint,
        tol=tol,
        kind="device",
        names=names,
        property="works on CUDA tensors and returns tensors on the inputs' device",
    )
    return check


def gradient(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    wrt: Sequence[int],
    points: float,
    visibility: Visibility = "hidden",
    hint: str = "",
    tol: dict[str, tuple[float, float]] | None = None,
) -> Check:
    """Gradient equivalence: backward of <output, g> for a random upstream g, w.r.t. `wrt` args."""
    wrt_indices = tuple(wrt)

    def build(ctx: Context) -> list[Call]:
        import torch

        calls = []
        for label, shape, dtype in _cases(cases):
            args = inputs(ctx.generator, dtype, **shape)
            out = ctx.reference(function, *args)
            outs = out if isinstance(out, tuple) else (out,)
            ups = tuple(
                torch.randn(o.shape, generator=ctx.generator, dtype=torch.float64).to(o.dtype)
                for o in outs
            )
            upstream = ups if isinstance(out, tuple) else ups[0]
            grads = ctx.reference(function, *args, vjp=upstream, wrt=wrt_indices)
            rtol, atol = _tol(dtype, tol)
            calls.append(Call(label, args, grads, vjp=upstream, rtol=rtol, atol=atol))
        return calls

    return Check(
        name,
        function,
        points,
        visibility,
        "gradient",
        "grad_close",
        "its gradients match the reference's",
        hint,
        build,
        {"wrt": wrt_indices},
    )


def expect(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    expected: Callable[[tuple], Any],
    property: str,
    points: float,
    visibility: Visibility = "public",
    hint: str = "",
    tol: dict[str, tuple[float, float]] | None = None,
    names: tuple[str, ...] = (),
    needs_values: bool = False,
) -> Check:
    """A property with a closed-form answer (no reference): f(*args) == expected(args).

    `needs_values=True` when a constant meets the answer (a loss that is 0 at
    the prior): the check then pays only once the function's values match.
    """

    def build(ctx: Context) -> list[Call]:
        calls = []
        for label, shape, dtype in _cases(cases):
            args = inputs(ctx.generator, dtype, **shape)
            rtol, atol = _tol(dtype, tol)
            calls.append(Call(label, args, expected(args), rtol=rtol, atol=atol))
        return calls

    return Check(
        name,
        function,
        points,
        visibility,
        "property",
        "close",
        property,
        hint,
        build,
        {"names": names, **({"needs_values": True} if needs_values else {})},
    )


def symmetric(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    swap: Callable[[tuple], tuple],
    property: str,
    points: float,
    visibility: Visibility = "public",
    hint: str = "",
    tol: dict[str, tuple[float, float]] | None = None,
) -> Check:
    """f(*args) equals f(*swap(args)) (e.g. clip_loss symmetric in its arguments)."""

    def build(ctx: Context) -> list[Call]:
        calls = []
        for label, shape, dtype in _cases(cases):
            args = inputs(ctx.generator, dtype, **shape)
            rtol, atol = _tol(dtype, tol)
            calls.append(Call(label, args, args2=swap(args), rtol=rtol, atol=atol))
        return calls

    return Check(
        name, function, points, visibility, "property", "pair_close", property, hint, build
    )


def at_least(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    lower: float,
    property: str,
    points: float,
    visibility: Visibility = "public",
    hint: str = "",
) -> Check:
    """Every element of f(*args) is >= lower (e.g. a KL divergence is never negative)."""

    def build(ctx: Context) -> list[Call]:
        calls = []
        for label, shape, dtype in _cases(cases):
            args = inputs(ctx.generator, dtype, **shape)
            rtol, atol = _tol(dtype, None)
            calls.append(Call(label, args, rtol=rtol, atol=atol))
        return calls

    return Check(
        name,
        function,
        points,
        visibility,
        "property",
        "at_least",
        property,
        hint,
        build,
        {"lower": lower},
    )


def converges(
    name: str,
    function: str,
    *,
    inputs: Callable[..., list[tuple]],
    case: dict,
    exact: Callable[[tuple], Any],
    final_tol: float,
    property: str,
    points: float,
    visibility: Visibility = "public",
    hint: str = "",
) -> Check:
    """A sequence of calls (e.g. more and more Euler steps) whose error to `exact` shrinks.

    `inputs(generator, dtype, **case)` returns the list of argument tuples in
    order of refinement; every call must be closer to `exact(args)` than the
    one before (up to rounding), and the last within `final_tol`.
    """

    def build(ctx: Context) -> list[Call]:
        calls = []
        for label, shape, dtype in _cases([case]):
            for args in inputs(ctx.generator, dtype, **shape):
                steps = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
                suffix = f", steps={steps[0]}" if steps else ""
                calls.append(Call(label + suffix, args, exact(args)))
        return calls

    return Check(
        name,
        function,
        points,
        visibility,
        "property",
        "converges",
        property,
        hint,
        build,
        {"final_tol": final_tol},
    )


def unchanged_inputs(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    points: float,
    visibility: Visibility = "hidden",
    hint: str = "work on new tensors (x = x + 1, torch.cat, .clone()); "
    "in-place ops (+=, .add_(), x[...] = ...) on an input change the caller's data.",
    same_inputs_as: str | None = None,
) -> Check:
    """No tensor argument is modified in place (compared bitwise after the call).

    With `same_inputs_as` (an earlier check's name) the check uses that check's
    first call, inputs and all; the run then judges the inputs as that call left
    them, without calling the function again.
    """

    def build(ctx: Context) -> list[Call]:
        shared = ctx.first_call_of(same_inputs_as) if same_inputs_as else None
        if shared is not None:
            return [Call(shared.label, shared.args, memory_mb=shared.memory_mb)]
        return [
            Call(label, inputs(ctx.generator, dtype, **shape))
            for label, shape, dtype in _cases(cases)
        ]

    return Check(
        name,
        function,
        points,
        visibility,
        "mutation",
        "unchanged",
        "leaves its inputs unchanged",
        hint,
        build,
    )


def deterministic(
    name: str,
    function: str,
    *,
    inputs: Inputs,
    cases: Sequence[dict],
    points: float,
    visibility: Visibility = "hidden",
    hint: str = "the function must depend only on its arguments: no fresh random numbers "
    "(use the noise you are given), no state kept between calls.",
    same_inputs_as: str | None = None,
) -> Check:
    """The same arguments give bitwise the same output twice (with `same_inputs_as`, the
    first output is that earlier check's first call's, and one more call is made)."""

    def build(ctx: Context) -> list[Call]:
        shared = ctx.first_call_of(same_inputs_as) if same_inputs_as else None
        if shared is not None:
            return [Call(shared.label, shared.args, args2=shared.args, memory_mb=shared.memory_mb)]
        calls = []
        for label, shape, dtype in _cases(cases):
            args = inputs(ctx.generator, dtype, **shape)
            calls.append(Call(label, args, args2=args))
        return calls

    return Check(
        name,
        function,
        points,
        visibility,
        "determinism",
        "pair_equal",
        "returns the same output for the same inputs",
        hint,
        build,
    )


def standard_checks(
    function: str,
    *,
    inputs: Inputs,
    public: Sequence[dict],
    hidden: Sequence[dict],
    wrt: Sequence[int],
    hint: str,
    grad_cases: Sequence[dict] | None = None,
    tol: dict[str, tuple[float, float]] | None = None,
    names: tuple[str, ...] = (),
    points: dict[str, float] | None = None,
) -> list[Check]:
    """The checks every function gets: public and hidden values, gradients, no mutation,
    determinism and the CUDA device check (points per kind overridable)."""
    pts = {
        "values": 2.0,
        "hidden_values": 2.0,
        "gradient": 1.0,
        "inputs_unchanged": 0.5,
        "deterministic": 0.5,
        "cuda": 1.0,
        **(points or {}),
    }
    one = [dict(hidden[0])]
    return [
        value(
            f"{function}.values",
            function,
            inputs=inputs,
            cases=public,
            points=pts["values"],
            visibility="public",
            hint=hint,
            tol=tol,
            names=names,
        ),
        value(
            f"{function}.hidden_values",
            function,
            inputs=inputs,
            cases=hidden,
            points=pts["hidden_values"],
            visibility="hidden",
            hint=hint,
            tol=tol,
            names=names,
        ),
        gradient(
            f"{function}.gradient",
            function,
            inputs=inputs,
            cases=grad_cases or [{**c, "dtype": "float64"} for c in hidden[:2]],
            wrt=wrt,
            points=pts["gradient"],
            hint=hint,
            tol=tol,
        ),
        unchanged_inputs(
            f"{function}.inputs_unchanged",
            function,
            inputs=inputs,
            cases=one,
            points=pts["inputs_unchanged"],
            same_inputs_as=f"{function}.hidden_values",
        ),
        deterministic(
            f"{function}.deterministic",
            function,
            inputs=inputs,
            cases=one,
            points=pts["deterministic"],
            same_inputs_as=f"{function}.hidden_values",
        ),
        on_device(
            f"{function}.cuda",
            function,
            inputs=inputs,
            cases=[{**c, "dtype": "float32"} for c in public[:1]] + one,
            points=pts["cuda"],
            tol=tol,
            names=names,
        ),
    ]


def randn(g: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal draws from `g` (drawn in float64, then cast: the same numbers for any
    dtype)."""
    import torch

    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def rand(
    g: torch.Generator, *shape: int, dtype: torch.dtype, low: float = 0.0, high: float = 1.0
) -> torch.Tensor:
    """Uniform draws in [low, high) from `g`."""
    import torch

    return (low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)).to(dtype)


# --------------------------------------------------------------------------- planning


def _load_file(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise GradeError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _to_module(arg: Any) -> Any:
    """Turn a ModuleSpec argument into the trusted nn.Module the sandbox would build."""
    if type(arg).__name__ == "ModuleSpec":
        from mmexam.grade.modules import build_module

        return build_module(arg.name, arg.state)
    return arg


def _reference_caller(reference: ModuleType) -> Callable[..., Any]:
    import torch

    def call(function: str, args: tuple, vjp: Any, wrt: tuple[int, ...]):
        fn = getattr(reference, function)
        if vjp is None:
            with torch.no_grad():
                return fn(*[_to_module(a) for a in args])
        leaves = list(args)
        for i in wrt:
            leaves[i] = args[i].detach().clone().requires_grad_(True)
        out = fn(*[_to_module(a) for a in leaves])
        outs = out if isinstance(out, tuple) else (out,)
        ups = vjp if isinstance(vjp, tuple) else (vjp,)
        grads = torch.autograd.grad(outs, [leaves[i] for i in wrt], ups, allow_unused=True)
        aligned: list[Any] = [None] * len(args)
        for i, g in zip(wrt, grads):
            aligned[i] = torch.zeros_like(args[i]) if g is None else g.detach()
        return tuple(aligned)

    return call


@functools.cache
def _live_plans(task: str, graders: Path) -> tuple[Plan, ...]:
    folder = task_dir(task, graders)
    checks = _load_file(folder / "checks.py", f"mmexam_graders_{task}_checks")
    reference = _load_file(folder / "reference.py", f"mmexam_graders_{task}_reference")
    caller = _reference_caller(reference)
    out = []
    earlier: dict[str, list[Call]] = {}
    for check in checks.CHECKS:
        ctx = Context(task, check.name, caller, earlier)
        params = function_info(task, check.function, graders).params
        calls = check.build(ctx)
        earlier[check.name] = calls
        out.append(
            Plan(
                name=check.name,
                function=check.function,
                points=check.points,
                visibility=check.visibility,
                kind=check.kind,
                judge=check.judge,
                property=check.property,
                hint=check.hint,
                params=params,
                calls=tuple(calls),
                options=dict(check.options),
            )
        )
    return tuple(out)


def plans(task: str, *, fixtures: Path | None = None, graders: Path = GRADERS) -> tuple[Plan, ...]:
    """The task's planned checks: from graders/ (all checks) or from fixtures (public only)."""
    if fixtures is not None:
        return _fixture_plans(task, Path(fixtures))
    task_dir(task, graders)  # unknown task -> GradeError
    return _live_plans(task, graders)


# --------------------------------------------------------------------------- running


def run_checks(
    task: str,
    source: str,
    *,
    hidden: bool = True,
    sandbox: Sandbox | None = None,
    fixtures: Path | None = None,
    filename: str | None = None,
) -> TaskResult:
    """Grade one student file for `task` in the sandbox and return every check's result.

    `hidden=False` runs only the public checks. `fixtures` replays exported
    public checks instead of planning from graders/ (then `hidden` must be
    False). Without `sandbox`, one is opened for this call and closed after.
    """
    if fixtures is not None and hidden:
        raise GradeError(
            f"{fixtures}: practice fixtures hold only the public checks — run without --hidden"
        )
    selected = [p for p in plans(task, fixtures=fixtures) if hidden or p.visibility == "public"]
    filename = filename or f"{task}.py"
    own = sandbox is None
    if sandbox is None:
        from mmexam.grade.sandbox import Sandbox

        sandbox = Sandbox()
    try:
        module = sandbox.open(source, filename)
        try:
            results, load_error = _run_plans(selected, module, source, filename, sandbox)
        finally:
            module.close()
    finally:
        if own:
            sandbox.close()
    return TaskResult(
        task=task,
        score=round(sum(r.score for r in results), 6),
        max_score=round(sum(r.max_score for r in results), 6),
        checks=results,
        load_error=load_error,
    )


def _run_plans(
    selected: list[Plan], module: StudentModule, source: str, filename: str, sandbox: Any
) -> tuple[list[CheckResult], str | None]:
    device = str(getattr(sandbox, "device", "cpu"))
    on_cuda = device.startswith("cuda")
    load_error = module.load_error
    defined = _defined_functions(source) or {}
    blocked: dict[str, str] = {}  # function -> why none of its checks can run
    made: dict[tuple, Any] = {}  # calls already made in this run, for checks sharing inputs
    results = []
    for plan in selected:
        if plan.kind == "device" and not on_cuda:
            results.append(
                _result(plan, None, skipped=True, message="skipped: the sandbox has no CUDA device")
            )
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
        results.append(_result(plan, _judge(plan, module, on_cuda, made)))
    return _withhold_unearned(selected, results), load_error


def _needs_values(plan: Plan) -> bool:
    """Checks that a wrong function can pass: it compared with itself, or only bounded.

    Leaving the inputs alone, the same output twice, an invariance (f(x) equals
    f(swap(x))) and a lower bound all hold for a function returning a constant.
    So does a closed-form check whose answer is a constant (`expect(..., needs_values=True)`).
    Such a check earns its points only once the function's value checks pass.
    """
    return (
        plan.kind in ("mutation", "determinism")
        or plan.judge in ("pair_close", "pair_equal", "at_least")
        or bool(plan.options.get("needs_values"))
    )


def _withhold_unearned(selected: list[Plan], results: list[CheckResult]) -> list[CheckResult]:
    """A passed check of `_needs_values` pays nothing while its function's value checks fail."""
    failing: dict[str, list[str]] = {}  # function -> its value checks that did not pass
    for plan, result in zip(selected, results):
        if plan.kind == "value" and not result.skipped:
            failing.setdefault(plan.function, [])
            if not result.passed:
                failing[plan.function].append(plan.name)
    out = []
    for plan, result in zip(selected, results):
        unmet = failing.get(plan.function)
        if result.passed and not result.skipped and unmet and _needs_values(plan):
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
def _defined_functions(source: str) -> dict | None:
    """`defined_functions` (an ast parse), once per distinct source: regrading, and the
    same file graded for several checks or students, parse it once."""
    return defined_functions(source)


def _missing_or_wrong(plan: Plan, module: Any, defined: dict, filename: str) -> str | None:
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


def _result(
    plan: Plan, failure: str | None, *, skipped: bool = False, message: str = "", hint: bool = True
) -> CheckResult:
    if skipped:
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
    passed = failure is None
    if passed:
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


def _call(module: Any, plan: Plan, call: Call, args: tuple, *, vjp: Any = None):
    kwargs: dict[str, Any] = {}
    if call.memory_mb is not None:
        kwargs["memory_mb"] = call.memory_mb
    if vjp is not None:
        kwargs["vjp"] = vjp
    return module.call(plan.function, *args, **kwargs)


def _head(plan: Plan, call: Call, what: str) -> str:
    where = "hidden inputs, " if plan.visibility == "hidden" else ""
    return f"{plan.function}: {what} ({plan.name}: {where}{call.label})"


def _judge(plan: Plan, module: Any, on_cuda: bool, made: dict | None = None) -> str | None:
    """Run the plan's calls; return the first failure's message, or None when all pass.

    `made` maps (function, id(args), memory_mb) to the outcome of a call without
    gradients already made in this run: a check planned on the same argument
    objects (`same_inputs_as`) reads that outcome instead of calling again.
    The second call of a pair judge is always made anew.
    """
    import torch

    from mmexam.grade.compare import compare, structure, values

    reveal = plan.visibility == "public"
    names = tuple(plan.options.get("names", ()))
    errors: list[float] = []
    made = {} if made is None else made
    for call in plan.calls:
        vjp = call.vjp if plan.judge == "grad_close" else None
        key = (plan.function, id(call.args), call.memory_mb)
        outcome = made.get(key) if vjp is None else None
        if outcome is None:
            outcome = _call(module, plan, call, call.args, vjp=vjp)
            if vjp is None:
                made[key] = outcome
        failure = _outcome_failure(plan, call, outcome, on_cuda)
        if failure:
            return failure
        got = outcome.value
        if plan.judge == "close":
            against = "the reference" if plan.kind != "property" else "the expected value"
            lines = compare(
                got,
                call.expected,
                rtol=call.rtol,
                atol=call.atol,
                names=names,
                reveal=reveal,
                against=against,
            )
            if lines:
                return _head(plan, call, _property_line(plan, lines)) + _details(lines)
        elif plan.judge == "grad_close":
            grads = getattr(outcome, "grads", None)
            if grads is None:
                return _head(
                    plan,
                    call,
                    "no gradients came back (is the output computed with "
                    "torch operations from the inputs?)",
                )
            for i in plan.options["wrt"]:
                name = plan.params[i] if i < len(plan.params) else f"argument {i}"
                g = grads[i] if i < len(grads) else None
                if g is None and not bool(call.expected[i].any()):
                    continue  # no gradient path where the reference's gradient is zero anyway
                if g is None:
                    return _head(
                        plan,
                        call,
                        f"no gradient reaches {name} (detached, or computed "
                        "outside torch with .item()/.numpy()?)",
                    )
                lines = compare(
                    g,
                    call.expected[i],
                    rtol=call.rtol,
                    atol=call.atol,
                    names=(f"gradient w.r.t. {name}",),
                    reveal=reveal,
                )
                if lines:
                    return _head(
                        plan, call, f"gradient w.r.t. {name} does not match the reference's"
                    ) + _details(lines)
        elif plan.judge in ("pair_close", "pair_equal"):
            outcome2 = _call(module, plan, call, call.args2)
            failure = _outcome_failure(plan, call, outcome2, on_cuda)
            if failure:
                return failure
            if plan.judge == "pair_equal":
                same = _bitwise_equal(got, outcome2.value)
                if not same:
                    return _head(
                        plan,
                        call,
                        f"does not hold: {plan.property} — a second call "
                        "with the same inputs returned a different result",
                    )
            else:
                first = got if isinstance(got, torch.Tensor) else None
                lines = (
                    structure(outcome2.value, first, what="second output")
                    if first is not None
                    else ["output is not a tensor"]
                )
                lines = lines or values(
                    outcome2.value,
                    first,
                    rtol=call.rtol,
                    atol=call.atol,
                    what="the second call's output",
                    reveal=reveal,
                    against="the first call's",
                    labels=("first call", "second call"),
                )
                if lines:
                    return _head(plan, call, f"does not hold: {plan.property}") + _details(lines)
        elif plan.judge == "at_least":
            lower = plan.options["lower"]
            if type(got) is not torch.Tensor:
                return _head(plan, call, f"returned {type(got).__name__}, expected a torch.Tensor")
            bad = ~(got >= lower - call.atol)
            if bool(bad.any()):
                worst = float(got.min())
                detail = f"\n  Smallest value returned: {worst:.6g}" if reveal else ""
                return _head(plan, call, f"does not hold: {plan.property}") + detail
        elif plan.judge == "converges":
            lines = compare(got, call.expected, rtol=0.0, atol=math.inf, names=names)
            if lines:  # structure problems only: atol=inf accepts any finite value
                return _head(plan, call, lines[0])
            errors.append(float((got.double() - call.expected.double()).abs().max()))
        elif plan.judge == "unchanged":
            after = getattr(outcome, "inputs_after", None)
            if after is None:
                return _head(plan, call, "the sandbox did not report the inputs after the call")
            for i, (before, now) in enumerate(zip(call.args, after)):
                if isinstance(before, torch.Tensor) and not _bitwise_equal(before, now):
                    name = plan.params[i] if i < len(plan.params) else f"argument {i}"
                    return _head(plan, call, f"modified its input {name} in place")
    if plan.judge == "converges":
        return _judge_convergence(plan, errors)
    return None


def _judge_convergence(plan: Plan, errors: list[float]) -> str | None:
    labels = [c.label for c in plan.calls]
    table = "\n".join(f"  {label}: greatest error {err:.3g}" for label, err in zip(labels, errors))
    for prev, now in itertools.pairwise(errors):
        if not now <= prev * (1 + 1e-6) + 1e-12:
            return (
                f"{plan.function}: does not hold: {plan.property} — the error grew with more "
                f"steps ({plan.name})\n{table}"
            )
    final_tol = plan.options["final_tol"]
    if not errors[-1] <= final_tol:
        return (
            f"{plan.function}: does not hold: {plan.property} — the error with the most "
            f"steps is {errors[-1]:.3g}, more than {final_tol:g} ({plan.name})\n{table}"
        )
    return None


def _outcome_failure(plan: Plan, call: Call, outcome: Any, on_cuda: bool) -> str | None:
    if not outcome.ok:
        error = outcome.error or "failed"
        if call.memory_mb is not None and _memory_error(error):
            return _head(
                plan,
                call,
                f"ran out of memory under the {call.memory_mb} MB limit of this check ({error})",
            )
        return _head(plan, call, error)
    devices = tuple(getattr(outcome, "devices", ()) or ())
    want = "cuda" if on_cuda else "cpu"
    wrong = [d for d in devices if not str(d).startswith(want)]
    if wrong:
        return _head(plan, call, f"returned a tensor on {wrong[0]}, but the inputs are on {want}")
    return None


def _memory_error(error: str) -> bool:
    text = error.lower()
    return any(
        s in text
        for s in ("memory", "can't allocate", "cannot allocate", "oom", "signal 9", "killed")
    )


def _property_line(plan: Plan, lines: list[str]) -> str:
    if plan.kind in ("value", "memory", "device"):
        return lines[0]
    return f"does not hold: {plan.property} — {lines[0]}"


def _details(lines: list[str]) -> str:
    rest = lines[1:]
    return ("\n" + "\n".join(rest)) if rest else ""


def _bitwise_equal(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_bitwise_equal(x, y) for x, y in zip(a, b))
    if type(a) is not torch.Tensor or type(b) is not torch.Tensor:
        return False
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if torch.equal(a, b):  # the common case; it is False wherever a NaN is
        return True
    if a.is_floating_point():
        return bool(torch.equal(a.nan_to_num(nan=0.0), b.nan_to_num(nan=0.0))) and bool(
            torch.equal(torch.isnan(a), torch.isnan(b))
        )
    return bool(torch.equal(a, b))


# --------------------------------------------------------------------------- fixtures


def export_fixtures(task: str, out_dir: Path, *, graders: Path = GRADERS) -> Path:
    """Write the public checks' plans of `task` to out_dir/<task>.json + <task>.safetensors.

    The files hold the inputs and the reference outputs of every public check,
    so `run_checks(task, ..., fixtures=out_dir, hidden=False)` needs neither
    graders/ nor the reference. Returns the JSON path.
    """
    import torch
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    keys: dict[int, str] = {}  # id(tensor) -> key: a tensor used twice is stored once

    def enc(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            key = keys.get(id(obj))
            if key is None:
                key = keys[id(obj)] = f"t{len(tensors)}"
                tensors[key] = obj.detach().cpu().contiguous().clone()
            return {"tensor": key}
        if type(obj).__name__ == "ModuleSpec":
            return {"module": obj.name, "state": {k: enc(v) for k, v in obj.state.items()}}
        if isinstance(obj, tuple):
            return {"tuple": [enc(x) for x in obj]}
        if isinstance(obj, list):
            return {"list": [enc(x) for x in obj]}
        if isinstance(obj, dict):
            return {"dict": {str(k): enc(v) for k, v in obj.items()}}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            if isinstance(obj, float) and not math.isfinite(obj):
                return {"float": repr(obj)}
            return obj
        raise GradeError(f"cannot export a {type(obj).__name__} in a fixture")

    exported = []
    for plan in plans(task, graders=graders):
        if plan.visibility != "public":
            continue
        exported.append(
            {
                "name": plan.name,
                "function": plan.function,
                "points": plan.points,
                "visibility": plan.visibility,
                "kind": plan.kind,
                "judge": plan.judge,
                "property": plan.property,
                "hint": plan.hint,
                "params": list(plan.params),
                "options": enc(_jsonable_options(plan.options)),
                "calls": [
                    {
                        "label": c.label,
                        "args": enc(c.args),
                        "expected": enc(c.expected),
                        "args2": enc(c.args2),
                        "vjp": enc(c.vjp),
                        "memory_mb": c.memory_mb,
                        "rtol": c.rtol,
                        "atol": c.atol,
                    }
                    for c in plan.calls
                ],
            }
        )
    json_path = out_dir / f"{task}.json"
    save_file(tensors, str(out_dir / f"{task}.safetensors"))
    document = {
        "format": FIXTURE_FORMAT,
        "task": task,
        "torch": torch.__version__,
        "checks": exported,
    }
    json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return json_path


def _jsonable_options(options: dict) -> dict:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items()}


@functools.lru_cache(maxsize=16)
def _read_fixture(json_path: Path, mtime: float) -> tuple[Plan, ...]:
    from safetensors.torch import load_file

    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
        tensors = load_file(str(json_path.with_suffix(".safetensors")))
    except (OSError, ValueError) as error:
        raise GradeError(f"{json_path}: unreadable practice fixture ({error})") from None
    if document.get("format") != FIXTURE_FORMAT:
        raise GradeError(
            f"{json_path}: fixture format {document.get('format')} is not "
            f"{FIXTURE_FORMAT} — export the fixtures again"
        )

    def dec(obj: Any) -> Any:
        if isinstance(obj, dict):
            if "tensor" in obj:
                return tensors[obj["tensor"]]
            if "module" in obj:
                from mmexam.grade.modules import ModuleSpec

                return ModuleSpec(obj["module"], {k: dec(v) for k, v in obj["state"].items()})
            if "tuple" in obj:
                return tuple(dec(x) for x in obj["tuple"])
            if "list" in obj:
                return [dec(x) for x in obj["list"]]
            if "float" in obj:
                return float(obj["float"])
            if "dict" in obj:
                return {k: dec(v) for k, v in obj["dict"].items()}
            raise GradeError(
                f"{json_path}: unknown entry {sorted(obj)} — export the fixtures again"
            )
        return obj

    out = []
    for c in document["checks"]:
        out.append(
            Plan(
                name=c["name"],
                function=c["function"],
                points=c["points"],
                visibility=c["visibility"],
                kind=c["kind"],
                judge=c["judge"],
                property=c["property"],
                hint=c["hint"],
                params=tuple(c["params"]),
                options=dec(c["options"]),
                calls=tuple(
                    Call(
                        label=k["label"],
                        args=dec(k["args"]),
                        expected=dec(k["expected"]),
                        args2=dec(k["args2"]),
                        vjp=dec(k["vjp"]),
                        memory_mb=k["memory_mb"],
                        rtol=k["rtol"],
                        atol=k["atol"],
                    )
                    for k in c["calls"]
                ),
            )
        )
    return tuple(out)


def _fixture_plans(task: str, fixtures: Path) -> tuple[Plan, ...]:
    json_path = fixtures / f"{task}.json"
    if not json_path.is_file():
        raise GradeError(
            f"{json_path}: no practice fixture for task '{task}' — export it with export_fixtures"
        )
    return _read_fixture(json_path.resolve(), json_path.stat().st_mtime)
