"""Compare what a student's function returned with what was expected, in the voice of assert_close.

Structure before values: is it exactly a `torch.Tensor`, of the right shape,
dtype and device; only then the values: how many elements are mismatched, the
greatest absolute and relative difference, where, and what was allowed. Every
function returns a list of message lines (empty when everything is close);
nothing raises for a wrong answer. `reveal=False` (hidden checks) keeps the
lines that say *that* something differs and drops the ones that would tell
the expected values.
"""

from __future__ import annotations

from typing import Any

import torch

# Tolerances per dtype (rtol, atol). Looser than assert_close's float32
# defaults (1.3e-6, 1e-5) on rtol: a correct solution that sums in another
# order (cosine by hand instead of F.normalize, a loop instead of einsum) must
# pass, while every classic mistake moves values by far more than this.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-3),
    "bfloat16": (1.6e-2, 1e-2),
    "float32": (1e-4, 1e-5),
    "float64": (1e-7, 1e-9),
}


def tolerance(dtype: torch.dtype, overrides: dict[str, tuple[float, float]] | None = None):
    """(rtol, atol) for `dtype`, with per-check overrides keyed by dtype name."""
    name = str(dtype).removeprefix("torch.")
    if overrides and name in overrides:
        return overrides[name]
    return DEFAULT_TOLERANCES.get(name, (0.0, 0.0))


def describe(value: Any) -> str:
    """A short description of a returned object's type for messages."""
    if type(value) is torch.Tensor:
        return f"torch.Tensor of shape {_shape(value)} and dtype {_dtype(value)}"
    if isinstance(value, torch.Tensor):
        return f"{type(value).__name__} (a torch.Tensor subclass)"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return type(value).__name__


def structure(
    actual: Any, expected: torch.Tensor, *, what: str = "output", reveal: bool = True
) -> list[str]:
    """Lines describing a type, shape or dtype mismatch (empty if the structure is right).

    Without `reveal` (a hidden check) the returned shape is not shown: the student's
    code chooses it, so it could carry the hidden inputs out."""
    prefix = "" if what == "output" else f"{what}: "
    if type(actual) is not torch.Tensor:
        got = "None" if actual is None else describe(actual)
        return [f"{prefix}returned {got}, expected a torch.Tensor of shape {_shape(expected)}"]
    if actual.shape != expected.shape:
        if not reveal:
            return [f"{prefix}returned a tensor of another shape, expected {_shape(expected)}"]
        return [f"{prefix}returned shape {_shape(actual)}, expected {_shape(expected)}"]
    if actual.dtype != expected.dtype:
        return [
            (
                f"{prefix}returned dtype {_dtype(actual)}, expected {_dtype(expected)} "
                "(keep the inputs' dtype; do not call .float() or .double())"
            )
        ]
    return []


def values(
    actual: torch.Tensor,
    expected: torch.Tensor,
    *,
    rtol: float,
    atol: float,
    what: str = "output",
    reveal: bool = True,
    against: str = "the reference",
    labels: tuple[str, str] = ("expected", "got"),
) -> list[str]:
    """assert_close-style lines for values that are not close (empty if all are).

    `labels` name the two sides in the "expected …, got …" lines.
    """
    # Fast paths: one call decides the common case. Bitwise equality, or allclose
    # (|a - e| <= atol + rtol·|e|, NaN where NaN, equal infinities), imply the test
    # below, so a pass here is a pass there; everything else takes the full path
    # that explains the mismatch.
    same_kind = actual.dtype == expected.dtype and actual.shape == expected.shape
    if same_kind and actual.device == expected.device and torch.equal(actual, expected):
        return []
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    if a.shape == e.shape and torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        return []
    both_nan = torch.isnan(a) & torch.isnan(e)
    abs_diff = (a - e).abs()
    allowed = atol + rtol * e.abs()
    close = (abs_diff <= allowed) | both_nan
    # inf == inf of the same sign counts as close
    close |= torch.isinf(a) & torch.isinf(e) & (a == e)
    if bool(close.all()):
        return []
    total = e.numel()
    bad = int((~close).sum())
    lines = [f"{what} is not close to {against}"]
    lines.append(f"  Mismatched elements: {bad} / {total} ({100.0 * bad / total:.1f}%)")
    non_finite = int((~torch.isfinite(a)).sum() - (~torch.isfinite(e)).sum())
    if non_finite > 0:
        lines.append(f"  Non-finite values (nan or inf) returned: {non_finite}")
    if not reveal:
        return lines
    return lines + _where(a, e, abs_diff, close, rtol=rtol, atol=atol, labels=labels)


def _where(
    a: torch.Tensor,
    e: torch.Tensor,
    abs_diff: torch.Tensor,
    close: torch.Tensor,
    *,
    rtol: float,
    atol: float,
    labels: tuple[str, str],
) -> list[str]:
    """The lines that reveal values: the greatest differences, where, and both sides there."""
    total = e.numel()
    lines: list[str] = []
    diff_for_max = torch.where(
        close,
        torch.zeros_like(abs_diff),
        abs_diff.nan_to_num(nan=float("inf"), posinf=float("inf")),
    )
    flat = int(torch.argmax(diff_for_max.reshape(-1))) if total else 0
    rel = abs_diff / e.abs()
    rel = torch.where(
        close, torch.zeros_like(rel), rel.nan_to_num(nan=float("inf"), posinf=float("inf"))
    )
    flat_rel = int(torch.argmax(rel.reshape(-1))) if total else 0
    if e.dim() == 0:
        lines.append(f"  {labels[0].capitalize()} {_num(e.item())}, {labels[1]} {_num(a.item())}")
        lines.append(f"  Absolute difference: {_num(abs_diff.item())} (up to {atol:g} allowed)")
        lines.append(f"  Relative difference: {_num(rel.item())} (up to {rtol:g} allowed)")
        return lines
    idx = _index(flat, e.shape)
    idx_rel = _index(flat_rel, e.shape)
    lines.append(
        f"  Greatest absolute difference: {_num(abs_diff.reshape(-1)[flat].item())} "
        f"at index {idx} (up to {atol:g} allowed)"
    )
    lines.append(
        f"  Greatest relative difference: {_num(rel.reshape(-1)[flat_rel].item())} "
        f"at index {idx_rel} (up to {rtol:g} allowed)"
    )
    lines.append(
        f"  At index {idx}: {labels[0]} {_num(e.reshape(-1)[flat].item())}, "
        f"{labels[1]} {_num(a.reshape(-1)[flat].item())}"
    )
    return lines


def compare(
    actual: Any,
    expected: Any,
    *,
    rtol: float,
    atol: float,
    names: tuple[str, ...] = (),
    reveal: bool = True,
    against: str = "the reference",
) -> list[str]:
    """Compare a returned value (a tensor or a tuple of tensors) with the expected one."""
    if isinstance(expected, tuple):
        if not isinstance(actual, tuple) or len(actual) != len(expected):
            want = ", ".join(names) if names else f"{len(expected)} tensors"
            return [f"returned {describe(actual)}, expected a tuple ({want})"]
        lines: list[str] = []
        for i, (a, e) in enumerate(zip(actual, expected)):
            what = names[i] if i < len(names) else f"output[{i}]"
            lines += structure(a, e, what=what, reveal=reveal) or values(
                a, e, rtol=rtol, atol=atol, what=what, reveal=reveal, against=against
            )
        return lines
    what = names[0] if names else "output"
    return structure(actual, expected, what=what, reveal=reveal) or values(
        actual, expected, rtol=rtol, atol=atol, what=what, reveal=reveal, against=against
    )


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ("," if t.dim() == 1 else "") + ")"


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _index(flat: int, shape: torch.Size) -> tuple[int, ...]:
    out = []
    for size in reversed(shape):
        out.append(flat % size)
        flat //= size
    return tuple(reversed(out))


def _num(x: float) -> str:
    return f"{x:.6g}"
