"""How a check's calls are judged: one small class per kind of judgement, found by name.

Every `Plan` carries one judge. A judge is a frozen pydantic model: its fields
are its typed options (the tolerance's names, the arguments to differentiate,
a lower bound), its class has a registered `name` ("close", "grad_close", …)
under which fixtures store it. `judge(caller)` makes the plan's calls through
a `Caller` and returns the first failure's message, or None when every call
passes. The caller checks each outcome's structure first (it raised, it ran
out of memory, a tensor on the wrong device); the judge then checks what
came back, in the trusted process.

A new kind of judgement is a new `Judge` subclass decorated with `@register`.
Nothing here imports torch at import time: `mmexam build` reads the tasks
without it.
"""

from __future__ import annotations

import builtins
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mmexam.errors import GradeError

if TYPE_CHECKING:
    from mmexam.checks.plan import Call, Plan

__all__ = [
    "JUDGES",
    "AtLeast",
    "Caller",
    "Close",
    "Converges",
    "GradClose",
    "Judge",
    "PairClose",
    "PairEqual",
    "Unchanged",
    "bitwise_equal",
    "judge_from",
    "register",
]


# --------------------------------------------------------------------------- calls


@dataclass
class Caller:
    """One plan's calls into the student's module, as its judge makes them.

    `made` maps (function, id(args), memory_mb) to the outcome of a call without
    gradients already made in this run: a check planned on the same argument
    objects (`same_inputs_as`) reads that outcome instead of calling again.
    """

    plan: Plan
    module: Any  # a StudentModule (or anything with .call(function, *args, **kwargs))
    on_cuda: bool = False
    made: dict[tuple, Any] = field(default_factory=dict)

    @property
    def reveal(self) -> bool:
        """Whether messages may show values (public checks only)."""
        return self.plan.visibility == "public"

    def first(self, call: Call, vjp: Any = None) -> tuple[Any, str | None]:
        """The outcome of `call` (shared with earlier checks unless it has gradients) and
        the failure its structure shows, if any.

        Outcomes are kept for later checks only while they fit `KEEP_BYTES` in all:
        a file answering every call with the largest reply it may send does not
        keep them all alive in the grader."""
        key = (self.plan.function, id(call.args), call.memory_mb)
        outcome = self.made.get(key) if vjp is None else None
        if outcome is None:
            outcome = self._call(call, call.args, vjp)
            if vjp is None:
                kept = self.made.get(_KEPT_BYTES, 0) + outcome.held_bytes
                if kept <= KEEP_BYTES:
                    self.made[key] = outcome
                    self.made[_KEPT_BYTES] = kept
        return outcome, self._failure(call, outcome)

    def again(self, call: Call, args: tuple) -> tuple[Any, str | None]:
        """A new call with `args` (the second call of a pair is always made anew)."""
        outcome = self._call(call, args, None)
        return outcome, self._failure(call, outcome)

    def head(self, call: Call, what: str) -> str:
        """The first line of a failure: '<function>: <what> (<check>: <case>)'."""
        where = "hidden inputs, " if self.plan.visibility == "hidden" else ""
        return f"{self.plan.function}: {what} ({self.plan.name}: {where}{call.label})"

    def _call(self, call: Call, args: tuple, vjp: Any) -> Any:
        kwargs: dict[str, Any] = {"result_bytes": reply_cap(call, args)}
        if call.memory_mb is not None:
            kwargs["memory_mb"] = call.memory_mb
        if vjp is not None:
            kwargs["vjp"] = vjp
        return self.module.call(self.plan.function, *args, **kwargs)

    def _failure(self, call: Call, outcome: Any) -> str | None:
        if not outcome.ok:
            error = outcome.error or "failed"
            if not self.reveal:
                error = hidden_error(error)
            if call.memory_mb is not None and _memory_error(error):
                return self.head(
                    call,
                    f"ran out of memory under the {call.memory_mb} MB limit of this check ({error})",
                )
            return self.head(call, error)
        devices = tuple(getattr(outcome, "devices", ()) or ())
        want = "cuda" if self.on_cuda else "cpu"
        wrong = [d for d in devices if not str(d).startswith(want)]
        if wrong:
            device = wrong[0] if self.reveal else "another device"  # the child's own words
            return self.head(call, f"returned a tensor on {device}, but the inputs are on {want}")
        return None


KEEP_BYTES = 64 << 20
"""The most of the outcomes of one file's calls that a run keeps for checks sharing inputs."""
_KEPT_BYTES = ("bytes kept",)  # the `made` entry that counts them


def _nbytes(value: Any) -> int:
    """The bytes of the tensors in `value` (tuples, lists and dicts looked into)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    state = getattr(value, "state", None)  # a ModuleSpec
    return _nbytes(state) if isinstance(state, dict) else 0


def reply_cap(call: Call, args: tuple) -> int:
    """The most of a reply the grader reads for `call`: what it can hold when right.

    A reply holds the value, and at most a copy and a gradient of every argument.
    The value's size is the expected output's where it is known (twice it, so that
    a wrong dtype still gets its structural message), else sixteen times the
    arguments' (a second call of a pair, a property without a closed form); 1 MB
    on top for the JSON, small cases and alignment. Kept per (call, args): a worker's
    plans make the same calls for every student."""
    key = (id(call), id(args))
    known = _CAPS.get(key)
    if known is not None and known[0] is call and known[1] is args:
        return known[2]
    inputs = _nbytes(args)
    expected = _nbytes(call.expected) if call.expected is not None else 16 * inputs
    cap = 2 * expected + 2 * inputs + (1 << 20)
    if len(_CAPS) >= 100_000:  # plans drawn anew many times in one process
        _CAPS.clear()
    _CAPS[key] = (call, args, cap)  # holding both keeps their ids from being reused
    return cap


_CAPS: dict[tuple[int, int], tuple[Call, tuple, int]] = {}


_HIDDEN_ERRORS = (
    # (pattern, what a hidden check says): a category, never the student's own words.
    (re.compile(r"exceeded [\d.]+ s CPU.*", re.DOTALL), "exceeded the CPU time limit"),
    (re.compile(r"exceeded [\d.]+ s wall-clock.*", re.DOTALL), "exceeded the wall-clock time limit"),
    (re.compile(r"(exceeded \d+ MB of memory|exceeded the memory limit).*", re.DOTALL),
     "exceeded the memory limit"),
    (re.compile(r"returned .*", re.DOTALL), "returned something other than a plain torch.Tensor"),
    (re.compile(r"(process died|process exited|called sys\.exit).*", re.DOTALL),
     "ended its process"),
    (re.compile(r"sent a reply .*", re.DOTALL), "sent a reply the grader does not read"),
    (re.compile(r"backward failed.*", re.DOTALL), "failed in the backward pass"),
    (re.compile(r".*\(in an earlier call\)", re.DOTALL), "failed in an earlier call, not run again"),
)  # fmt: skip
_BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)  # fmt: skip


def hidden_error(error: str) -> str:
    """What a hidden check says of a failed call: its kind only.

    The student's code writes exception messages, class names, exit codes and
    sys.exit arguments, and can put the hidden inputs in them; a hidden check
    therefore names a built-in exception's type, or the kind of failure, and no
    more ("raised ValueError", "exceeded the CPU time limit")."""
    match = re.fullmatch(r"raised ([A-Za-z_]\w*).*", error, re.DOTALL)
    if match:
        name = match.group(1)
        shown = name if name in _BUILTIN_EXCEPTIONS else "an exception"
        return f"raised {shown} (its message is not shown for hidden inputs)"
    for pattern, said in _HIDDEN_ERRORS:
        if pattern.fullmatch(error):
            return said
    return "failed (the message is not shown for hidden inputs)"


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


def bitwise_equal(a: Any, b: Any) -> bool:
    """Same type, shape, dtype and bits (NaN equals NaN); tuples element by element."""
    import torch

    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(bitwise_equal(x, y) for x, y in zip(a, b))
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


# --------------------------------------------------------------------------- judges

JUDGES: dict[str, type[Judge]] = {}
"""Every judge class by its name, as plans and fixtures refer to them."""


class Judge(BaseModel):
    """Decides whether a plan's calls pass. Subclasses: a `name`, typed options as fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    constant_passes: ClassVar[bool] = False
    """A function returning a constant can pass this judge (it compares the function with
    itself, or only bounds it): the check pays only once the function's values match."""

    def waits_for_values(self) -> bool:
        """Whether the check earns its points only when its function's value checks pass."""
        return self.constant_passes

    def options(self) -> dict[str, Any]:
        """The options as plain data (for fixtures); `judge_from(name, options)` reverses it."""
        return self.model_dump()

    def upstream(self, call: Call) -> Any:
        """The upstream gradient to send with the call (None: no backward pass)."""
        return None

    def judge(self, caller: Caller) -> str | None:
        """Make every call; the first failure's message, or None when all pass."""
        for call in caller.plan.calls:
            outcome, failure = caller.first(call, vjp=self.upstream(call))
            failure = failure or self.judge_call(caller, call, outcome)
            if failure:
                return failure
        return None

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        """Judge one call whose outcome ran and came back on the right device."""
        raise NotImplementedError


def register(cls: type[Judge]) -> type[Judge]:
    """Class decorator: make a judge findable by its name."""
    JUDGES[cls.name] = cls
    return cls


def judge_from(name: str, options: dict[str, Any]) -> Judge:
    """The judge called `name` with `options`; a GradeError for an unknown name or option."""
    cls = JUDGES.get(name)
    if cls is None:
        raise GradeError(f"unknown judge '{name}' — known judges: {', '.join(sorted(JUDGES))}")
    try:
        return cls.model_validate(options)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GradeError(f"judge '{name}': option {where}: {first['msg']}") from None


@register
class Close(Judge):
    """The output is close to the expected value (the reference's, or a closed form)."""

    name: ClassVar[str] = "close"
    names: tuple[str, ...] = ()  # names of the outputs of a function returning a tuple
    needs_values: bool = (
        False  # a constant meets the expected value (a loss that is 0 at the prior)
    )

    def waits_for_values(self) -> bool:
        return self.needs_values

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        from mmexam.checks.compare import compare

        plan = caller.plan
        against = "the reference" if plan.kind != "property" else "the expected value"
        lines = compare(
            outcome.value,
            call.expected,
            rtol=call.rtol,
            atol=call.atol,
            names=self.names,
            reveal=caller.reveal,
            against=against,
        )
        if lines:
            return caller.head(call, _property_line(plan, lines)) + _details(lines)
        return None


@register
class GradClose(Judge):
    """The gradients of <output, upstream> w.r.t. the arguments `wrt` match the reference's.

    Only arguments the function's contract declares differentiable are judged (the
    declaration checks that): a gradient that does not reach a schedule or an index
    is never a fault.
    """

    name: ClassVar[str] = "grad_close"
    wrt: tuple[str | int, ...]  # the arguments to differentiate: parameter names (or positions)

    def upstream(self, call: Call) -> Any:
        return call.vjp

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        from mmexam.checks.compare import compare

        plan = caller.plan
        grads = getattr(outcome, "grads", None)
        if grads is None:
            return caller.head(
                call,
                "no gradients came back (is the output computed with "
                "torch operations from the inputs?)",
            )
        for arg in self.wrt:
            i = arg if isinstance(arg, int) else plan.params.index(arg)
            name = plan.params[i] if i < len(plan.params) else f"argument {i}"
            g = grads[i] if i < len(grads) else None
            if g is None and not bool(call.expected[i].any()):
                continue  # no gradient path where the reference's gradient is zero anyway
            if g is None:
                return caller.head(
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
                reveal=caller.reveal,
            )
            if lines:
                return caller.head(
                    call, f"gradient w.r.t. {name} does not match the reference's"
                ) + _details(lines)
        return None


@register
class PairClose(Judge):
    """A second call with `args2` (e.g. the arguments swapped) returns a close output."""

    name: ClassVar[str] = "pair_close"
    constant_passes: ClassVar[bool] = True

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        import torch

        from mmexam.checks.compare import structure, values

        second, failure = caller.again(call, call.args2 or ())
        if failure:
            return failure
        first = outcome.value if isinstance(outcome.value, torch.Tensor) else None
        if first is None:
            return caller.head(call, f"does not hold: {caller.plan.property}") + _details(
                ["output is not a tensor"]
            )
        lines = structure(second.value, first, what="second output", reveal=caller.reveal)
        lines = lines or values(
            second.value,
            first,
            rtol=call.rtol,
            atol=call.atol,
            what="the second call's output",
            reveal=caller.reveal,
            against="the first call's",
            labels=("first call", "second call"),
        )
        if lines:
            return caller.head(call, f"does not hold: {caller.plan.property}") + _details(lines)
        return None


@register
class PairEqual(Judge):
    """A second call with `args2` (the same inputs) returns bitwise the same output."""

    name: ClassVar[str] = "pair_equal"
    constant_passes: ClassVar[bool] = True

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        second, failure = caller.again(call, call.args2 or ())
        if failure:
            return failure
        if not bitwise_equal(outcome.value, second.value):
            return caller.head(
                call,
                f"does not hold: {caller.plan.property} — a second call "
                "with the same inputs returned a different result",
            )
        return None


@register
class AtLeast(Judge):
    """Every element of the output is at least `lower` (up to the call's atol)."""

    name: ClassVar[str] = "at_least"
    constant_passes: ClassVar[bool] = True
    lower: float

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        import torch

        got = outcome.value
        if type(got) is not torch.Tensor:
            return caller.head(call, f"returned {type(got).__name__}, expected a torch.Tensor")
        bad = ~(got >= self.lower - call.atol)
        if bool(bad.any()):
            worst = float(got.min())
            detail = f"\n  Smallest value returned: {worst:.6g}" if caller.reveal else ""
            return caller.head(call, f"does not hold: {caller.plan.property}") + detail
        return None


@register
class Converges(Judge):
    """Each call (more and more steps) is closer to the exact answer, and the last one's
    error is at most `final_ratio` times the first one's (or below rounding)."""

    name: ClassVar[str] = "converges"
    final_ratio: float

    def judge(self, caller: Caller) -> str | None:
        from mmexam.checks.compare import compare

        errors: list[float] = []
        for call in caller.plan.calls:
            outcome, failure = caller.first(call)
            if failure:
                return failure
            got = outcome.value
            lines = compare(got, call.expected, rtol=0.0, atol=math.inf)
            if lines:  # structure problems only: atol=inf accepts any finite value
                return caller.head(call, lines[0])
            errors.append(float((got.double() - call.expected.double()).abs().max()))
        return self._trend(caller.plan, errors)

    def _trend(self, plan: Plan, errors: list[float]) -> str | None:
        labels = [c.label for c in plan.calls]
        table = "\n".join(
            f"  {label}: greatest error {err:.3g}" for label, err in zip(labels, errors)
        )
        for prev, now in itertools.pairwise(errors):
            if not now <= prev * (1 + 1e-6) + 1e-12:
                return (
                    f"{plan.function}: does not hold: {plan.property} — the error grew with "
                    f"more steps ({plan.name})\n{table}"
                )
        if not (errors[-1] <= self.final_ratio * errors[0] or errors[-1] <= 1e-9):
            return (
                f"{plan.function}: does not hold: {plan.property} — the error with the most "
                f"steps is {errors[-1]:.3g}, more than {self.final_ratio:g} × the error with "
                f"the fewest ({errors[0]:.3g}) ({plan.name})\n{table}"
            )
        return None


@register
class Unchanged(Judge):
    """No tensor argument is modified in place (the inputs after the call, compared bitwise)."""

    name: ClassVar[str] = "unchanged"
    constant_passes: ClassVar[bool] = True

    def judge_call(self, caller: Caller, call: Call, outcome: Any) -> str | None:
        import torch

        after = getattr(outcome, "inputs_after", None)
        if after is None:
            return caller.head(call, "the sandbox did not report the inputs after the call")
        params = caller.plan.params
        for i, (before, now) in enumerate(zip(call.args, after)):
            if isinstance(before, torch.Tensor) and not bitwise_equal(before, now):
                name = params[i] if i < len(params) else f"argument {i}"
                return caller.head(call, f"modified its input {name} in place")
        return None
