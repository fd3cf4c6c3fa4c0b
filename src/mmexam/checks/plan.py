"""A check made concrete: its calls, with inputs and what to judge them against.

`Plan`s are what the planner makes from `graders/<task>/checks.py` (or reads
back from an exported fixture) and what the runner judges. They hold plain
tensors, numbers and one `Judge`, so they can be written to a fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mmexam.checks.judges import Judge

Visibility = Literal["public", "hidden"]
Kind = Literal["value", "gradient", "property", "memory", "mutation", "determinism", "device"]


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
