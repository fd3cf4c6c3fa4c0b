"""The judge registry: one class per kind of judgement, typed options, found by name."""

from dataclasses import dataclass
from typing import Any

import pytest
import torch

from mmexam.checks import Call, Plan, expect, gradient, randn, symmetric
from mmexam.checks.judges import (
    JUDGES,
    AtLeast,
    Caller,
    Close,
    GradClose,
    Judge,
    judge_from,
)
from mmexam.errors import GradeError


def test_every_judge_is_registered_under_its_name_and_round_trips_its_options():
    assert set(JUDGES) == {
        "close",
        "grad_close",
        "pair_close",
        "pair_equal",
        "at_least",
        "converges",
        "unchanged",
    }
    for name, cls in JUDGES.items():
        assert cls.name == name and issubclass(cls, Judge)
    judge = GradClose(wrt=(0, 2))
    assert judge_from("grad_close", judge.options()) == judge
    assert judge_from("close", {"names": ("z",)}) == Close(names=("z",))


def test_unknown_judges_and_options_are_one_line_errors():
    with pytest.raises(GradeError, match="unknown judge 'nearly' — known judges: at_least"):
        judge_from("nearly", {})
    with pytest.raises(GradeError, match="judge 'at_least': option lower"):
        judge_from("at_least", {"lower": "zero"})
    with pytest.raises(GradeError, match="option tol"):
        judge_from("close", {"tol": 1})


def test_constructors_give_their_checks_a_typed_judge():
    def inputs(g, dtype, n):
        return (randn(g, n, dtype=dtype),)

    grad = gradient("f.grad", "f", inputs=inputs, cases=[{"n": 2}], wrt=[0], points=1)
    assert grad.judge == GradClose(wrt=(0,))
    closed = expect(
        "f.zero",
        "f",
        inputs=inputs,
        cases=[{"n": 2}],
        expected=lambda args: args[0],
        property="p",
        points=1,
        needs_values=True,
    )
    assert closed.judge.waits_for_values() and not Close().waits_for_values()
    swap = symmetric(
        "f.sym", "f", inputs=inputs, cases=[{"n": 2}], swap=lambda a: a, property="p", points=1
    )
    assert swap.judge.waits_for_values()  # a constant passes a symmetry


@dataclass
class _Outcome:
    value: Any
    ok: bool = True
    error: str | None = None
    devices: tuple = ()
    held_bytes: int = 0


class _Module:
    def __init__(self, value):
        self.value = value
        self.calls = 0

    def call(self, function, *args, **kwargs):
        self.calls += 1
        return _Outcome(self.value)


def _plan(judge: Judge, *calls: Call, visibility: str = "public") -> Plan:
    return Plan(
        name="f.check",
        function="f",
        points=1.0,
        visibility=visibility,
        kind="property",
        judge=judge,
        property="never negative",
        hint="",
        params=("x",),
        calls=calls,
    )


def test_a_judge_judges_its_calls_through_the_caller():
    call = Call("n=3", (torch.zeros(3),), atol=1e-9)
    plan = _plan(AtLeast(lower=0.0), call)
    assert AtLeast(lower=0.0).judge(Caller(plan, _Module(torch.ones(3)))) is None
    failure = AtLeast(lower=0.0).judge(Caller(plan, _Module(torch.tensor([1.0, -2.0]))))
    assert failure == (
        "f: does not hold: never negative (f.check: n=3)\n  Smallest value returned: -2"
    )
    hidden = _plan(AtLeast(lower=0.0), call, visibility="hidden")
    failure = AtLeast(lower=0.0).judge(Caller(hidden, _Module(torch.tensor([-2.0]))))
    assert failure == "f: does not hold: never negative (f.check: hidden inputs, n=3)"


def test_calls_on_the_same_arguments_are_made_once_per_run():
    args = (torch.zeros(2),)
    module = _Module(torch.zeros(2))
    made: dict = {}
    first = _plan(Close(), Call("a", args, expected=torch.zeros(2)))
    again = _plan(Close(), Call("a", args, expected=torch.zeros(2)))
    assert Close().judge(Caller(first, module, made=made)) is None
    assert Close().judge(Caller(again, module, made=made)) is None
    assert module.calls == 1


class _Reference:
    """The task's reference, called in this process: what a correct student returns."""

    def __init__(self, task: str):
        from mmexam.checks.planner import load_reference, reference_caller

        self.call_reference = reference_caller(load_reference(task))

    def call(self, function, *args, **kwargs):
        return _Outcome(self.call_reference(function, args, None, ()))


def test_a_correct_euler_sampler_converges_on_every_fresh_grading_draw():
    # Grading salts the public checks' inputs; an absolute bound on the final error
    # failed the reference on about a quarter of the draws (large A or x0).
    from mmexam.checks import plans

    reference = _Reference("generation")
    for k in range(40):
        (plan,) = [
            p for p in plans("generation", salt=f"run {k}") if p.name == "euler_sample.converges"
        ]
        assert plan.judge.judge(Caller(plan, reference)) is None, f"salt 'run {k}'"


def test_an_euler_sampler_that_ignores_its_steps_does_not_converge():
    from mmexam.checks import plans

    (plan,) = [p for p in plans("generation") if p.name == "euler_sample.converges"]
    one_step = _Reference("generation")
    coarse = plan.calls[0].args
    failure = plan.judge.judge(Caller(plan, _Module(one_step.call("euler_sample", *coarse).value)))
    assert failure is not None and "more than 0.25 × the error with the fewest" in failure
