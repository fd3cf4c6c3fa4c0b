"""The language `graders/<task>/checks.py` are written in: one constructor per kind of check.

A task's checks are a list `CHECKS` built with `value`, `gradient`, `expect`,
`symmetric`, `at_least`, `converges`, `unchanged_inputs`, `deterministic`,
`on_device` (or `standard_checks`, the set every function gets). A check is
declarative: a name, the function it calls, points, a visibility ("public"
checks ship to students for practice, "hidden" ones only grade), a kind, the
property it checks, a hint tied to the lecture, the judge that decides it
(`mmexam.checks.judges`), and how to make its seeded inputs (`build`). The
planner calls `build` once per task and process to make each check's `Plan`.

A hidden check may only test what the contract promises. For gradients the
contract is explicit: each function's docstring has a line "Differentiable in:
x0, noise." naming the inputs gradients must reach (data and learnable
weights; never schedules, timesteps, masks or indices). A gradient check names
its `wrt` arguments, and `check_contract` — which the planner runs on every
check before planning it — refuses one that differentiates anything else.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmexam.checks.judges import (
    AtLeast,
    Close,
    Converges,
    GradClose,
    Judge,
    PairClose,
    PairEqual,
    Unchanged,
)
from mmexam.checks.plan import Call, Kind, Visibility
from mmexam.errors import GradeError

if TYPE_CHECKING:
    import torch

    from mmexam.checks.tasks import FunctionInfo

Inputs = Callable[..., tuple]  # inputs(generator, dtype, **shape) -> positional args


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
    # A gradient check's arguments to differentiate, by name (or position): each must be one
    # the function's contract declares differentiable (`check_contract`).
    wrt: tuple[str | int, ...] = ()


def check_contract(check: Check, info: FunctionInfo) -> None:
    """Refuse a check that tests more than `info`'s contract promises (a GradeError that says
    which check, which argument, and what the docstring declares).

    A gradient check may differentiate only the parameters named on the docstring's
    "Differentiable in:" line: a correct solution built on a library that treats a
    schedule or an index as a constant must not lose points for it.
    """
    if not check.wrt:
        return
    declared = info.differentiable
    where = f"check '{check.name}' of {info.name}"
    line = (
        f"its docstring declares 'Differentiable in: {', '.join(declared)}.'"
        if declared
        else "its docstring declares no differentiable input (no 'Differentiable in:' line)"
    )
    for name in declared:
        if name not in info.params:
            raise GradeError(
                f"{info.name}: the docstring declares '{name}' differentiable, but {info.name} "
                f"has no parameter '{name}' — its parameters are {', '.join(info.params)}"
            )
    for arg in check.wrt:
        if isinstance(arg, int):
            if not 0 <= arg < len(info.params):
                raise GradeError(
                    f"{where}: wrt position {arg} is not a parameter — "
                    f"{info.name} takes {', '.join(info.params)}"
                )
            arg = info.params[arg]
        if arg not in info.params:
            raise GradeError(
                f"{where}: wrt '{arg}' is not a parameter — "
                f"{info.name} takes {', '.join(info.params)}"
            )
        if arg not in declared:
            raise GradeError(
                f"{where}: gradient w.r.t. '{arg}', which the contract does not promise — "
                f"{line}; differentiate only those, or declare '{arg}' in the docstring"
            )


class Context:
    """What a check's `build` may use: a seeded generator and the reference."""

    def __init__(
        self,
        task: str,
        check_name: str,
        reference: Callable[..., Any],
        earlier: dict[str, list[Call]] | None = None,
        salt: str = "",
        params: Sequence[str] = (),
    ):
        import torch

        self.task = task
        self.check_name = check_name
        # The seed is the check's name; a grading run's salt (public checks only) draws
        # inputs that no practice bundle holds.
        seed = zlib.crc32(f"{salt}\0{check_name}".encode() if salt else check_name.encode())
        self.generator = torch.Generator().manual_seed(seed)
        self._reference = reference
        self.earlier = earlier if earlier is not None else {}  # check name -> its calls
        self.params = tuple(params)  # the function's parameter names, in order

    def position(self, arg: str | int) -> int:
        """The position of an argument given by name (a position is returned as it is)."""
        if isinstance(arg, int):
            return arg
        if arg not in self.params:
            raise GradeError(
                f"check '{self.check_name}': '{arg}' is not a parameter — "
                f"the function takes {', '.join(self.params) or 'no known parameters'}"
            )
        return self.params.index(arg)

    def first_call_of(self, check_name: str) -> Call | None:
        """The first planned call of an earlier check of the task (to share its inputs)."""
        calls = self.earlier.get(check_name)
        return calls[0] if calls else None

    def reference(self, function: str, *args: Any, vjp: Any = None, wrt: Sequence[str | int] = ()):
        """The one way reference outputs are made: call reference.<function>(*args).

        With `vjp` (an upstream gradient shaped like the output), return instead
        the gradients of <output, vjp> w.r.t. the arguments `wrt` (names or
        positions), as a tuple aligned with args (None elsewhere).
        """
        return self._reference(function, args, vjp, tuple(self.position(a) for a in wrt))


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
    from mmexam.checks.compare import tolerance

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
        name, function, points, visibility, kind, Close(names=names), property, hint, build
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
    wrt: Sequence[str | int],
    points: float,
    visibility: Visibility = "hidden",
    hint: str = "",
    tol: dict[str, tuple[float, float]] | None = None,
) -> Check:
    """Gradient equivalence: backward of <output, g> for a random upstream g, w.r.t. the
    arguments `wrt` (by name), each one the function's docstring declares differentiable
    (enforced by `check_contract` when the task's checks are planned)."""
    wrt_args = tuple(wrt)

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
            grads = ctx.reference(function, *args, vjp=upstream, wrt=wrt_args)
            rtol, atol = _tol(dtype, tol)
            calls.append(Call(label, args, grads, vjp=upstream, rtol=rtol, atol=atol))
        return calls

    return Check(
        name,
        function,
        points,
        visibility,
        "gradient",
        GradClose(wrt=wrt_args),
        "its gradients match the reference's",
        hint,
        build,
        wrt=wrt_args,
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
        Close(names=names, needs_values=needs_values),
        property,
        hint,
        build,
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

    return Check(name, function, points, visibility, "property", PairClose(), property, hint, build)


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
        AtLeast(lower=lower),
        property,
        hint,
        build,
    )


def converges(
    name: str,
    function: str,
    *,
    inputs: Callable[..., list[tuple]],
    case: dict,
    exact: Callable[[tuple], Any],
    final_ratio: float,
    property: str,
    points: float,
    visibility: Visibility = "public",
    hint: str = "",
) -> Check:
    """A sequence of calls (e.g. more and more Euler steps) whose error to `exact` shrinks.

    `inputs(generator, dtype, **case)` returns the list of argument tuples in
    order of refinement; every call must be closer to `exact(args)` than the
    one before (up to rounding), and the last error at most `final_ratio` times
    the first. The bound is relative because graded inputs are drawn afresh each
    run: an absolute one fails correct code on large draws (a first-order method
    with 1 → 16 steps divides its error by about 16 whatever the draw).
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
        Converges(final_ratio=final_ratio),
        property,
        hint,
        build,
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
        Unchanged(),
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
        PairEqual(),
        "returns the same output for the same inputs",
        hint,
        build,
    )


# Long by nature: it lists six declarations with their keywords, one per check.
def standard_checks(
    function: str,
    *,
    inputs: Inputs,
    public: Sequence[dict],
    hidden: Sequence[dict],
    wrt: Sequence[str | int],
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
