"""A failed value check's failing call as data (`make_repro`), and as a snippet to paste.

The runner records, for every failed value check, the call that failed: its
arguments, the reference's output, what the student's function returned and
the line of the student's file whose `return` produced it (`Repro`).
`snippet` writes it as Python that a student pastes into a fresh interpreter,
started in the folder of their file, to get the same wrong output again:

    import torch
    from fusion import tensor_fusion
    x_a = torch.tensor([[0.30191611647605896, -1.1513599157333374]], dtype=torch.float32)
    ...
    print(tensor_fusion(x_a, x_b))

Every element is written as the repr of its Python (float64) value, which
converts back to the same bits in any dtype, so the call is bit-identical.

Sizes: a `Repro` keeps the inputs when they hold at most `KEEP_ELEMENTS`
elements in all, and each output when it holds at most that many (the
results are stored for every student). A snippet writes the inputs inline up
to `INLINE_ELEMENTS` elements (a value check's first failing case is almost
always far smaller); above that, where the caller gives a file, the inputs go
there (`save_inputs`: `torch.save` of {name: tensor}, read back with
`torch.load`) and the snippet loads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mmexam.checks.results import Repro, ReproArg, ReproTensor

if TYPE_CHECKING:
    from pathlib import Path

    from mmexam.checks.plan import Call, Plan

KEEP_ELEMENTS = 1024
"""The most elements a `Repro` keeps of the inputs (in all) and of each output."""
INLINE_ELEMENTS = 256
"""The most input elements a snippet writes inline; above, they are loaded from a file."""
SHOW_ELEMENTS = 64
"""The most elements of an output shown as values in the feedback ('Expected:', 'Got:')."""
CODE_CHARS = 200


# --------------------------------------------------------------------------- making (trusted)


def make_repro(
    plan: Plan, call: Call, outcome: Any, source: str, names: tuple[str, ...] = ()
) -> Repro:
    """The failing `call` of `plan` (its `outcome` came back from the sandbox) as a `Repro`.

    The student's line is the sandbox's number (already checked to lie in the file);
    its text is read here, from `source`, never from the student process."""
    line = getattr(outcome, "line", None)
    code = ""
    if type(line) is int:
        lines = source.split("\n")
        if 1 <= line <= len(lines):
            code = lines[line - 1].strip()[:CODE_CHARS]
        else:
            line = None
    return Repro(
        function=plan.function,
        case=call.label,
        args=_args(plan, call.args),
        expected=_outputs(call.expected),
        got=_outputs(getattr(outcome, "value", None)),
        names=list(names),
        rtol=call.rtol,
        atol=call.atol,
        line=line,
        code=code,
    )


def _args(plan: Plan, args: tuple) -> list[ReproArg] | None:
    import torch

    out = []
    total = 0
    for i, arg in enumerate(args):
        name = plan.params[i] if i < len(plan.params) else f"arg{i}"
        if type(arg) is torch.Tensor:
            total += arg.numel()
            tensor = _tensor(arg, KEEP_ELEMENTS)
            if tensor is None or tensor.values is None or total > KEEP_ELEMENTS:
                return None
            out.append(ReproArg(name=name, tensor=tensor))
        elif arg is None or type(arg) in (bool, int, float):
            out.append(ReproArg(name=name, literal=_number(arg)))
        else:  # a trusted module, a tuple, …: no snippet
            return None
    return out


def _outputs(value: Any) -> list[ReproTensor]:
    import torch

    items = value if type(value) is tuple else (value,)
    if not items or not all(type(t) is torch.Tensor for t in items):
        return []
    out = [_tensor(t, KEEP_ELEMENTS) for t in items]
    return [t for t in out if t is not None]


def _tensor(t: Any, cap: int) -> ReproTensor | None:
    dtype = str(t.dtype).removeprefix("torch.")
    if t.is_complex() or dtype not in _CONVERT:
        return None
    flat = t.detach().cpu().reshape(-1)
    values = [_number(v) for v in flat.tolist()] if flat.numel() <= cap else None
    return ReproTensor(dtype=dtype, shape=list(t.shape), values=values)


def _number(v: Any) -> str:
    """The repr of a Python number: float64 repr round-trips to the same bits."""
    return repr(v)


def _bool(text: str) -> bool:
    return text == "True"


_CONVERT: dict[str, Callable[[str], Any]] = {
    **dict.fromkeys(("float64", "float32", "float16", "bfloat16"), float),
    **dict.fromkeys(("int64", "int32", "int16", "int8", "uint8"), int),
    "bool": _bool,
}


# --------------------------------------------------------------------------- writing (pure)


def input_elements(repro: Repro) -> int:
    """How many tensor elements the repro's inputs hold."""
    return sum(math.prod(a.tensor.shape) for a in repro.args or [] if a.tensor is not None)


def snippet(repro: Repro, filename: str, *, inputs_file: str | None = None) -> str | None:
    """Python that calls the student's function on the failing inputs and prints its output.

    Run from the folder of `filename`. With `inputs_file` (a path relative to that folder
    that `save_inputs` wrote) and more than `INLINE_ELEMENTS` input elements, the tensors
    are loaded from it; otherwise written inline. None when the inputs were not kept."""
    if repro.args is None:
        return None
    stem = filename.removesuffix(".py")
    function = repro.function
    if stem.isidentifier():
        lines = ["import torch", f"from {stem} import {function}"]
    else:
        lines = [
            "import runpy",
            "import torch",
            f"{function} = runpy.run_path({filename!r})[{function!r}]",
        ]
    from_file = inputs_file is not None and input_elements(repro) > INLINE_ELEMENTS
    if from_file:
        lines.append(f"inputs = torch.load({inputs_file!r})")
    names = []
    for arg in repro.args:
        name = arg.name if arg.name.isidentifier() and arg.name != "inputs" else f"{arg.name}_"
        names.append(name)
        if arg.tensor is None:
            lines.append(f"{name} = {_python(str(arg.literal))}")
        elif from_file:
            lines.append(f"{name} = inputs[{arg.name!r}]")
        else:
            lines.append(f"{name} = {tensor_literal(arg.tensor)}")
    lines.append(f"print({function}({', '.join(names)}))")
    return "\n".join(lines)


def tensor_literal(t: ReproTensor) -> str:
    """`torch.tensor(<values>, dtype=torch.<dtype>)`, exactly the tensor's bits."""
    if t.values is None:
        raise ValueError("the tensor's values were not kept")
    dtype = f"torch.{t.dtype}"
    if math.prod(t.shape) == 0:
        return f"torch.empty({tuple(t.shape)!r}, dtype={dtype})"
    items = [_python(v) for v in t.values]
    return f"torch.tensor({_nest(items, t.shape)}, dtype={dtype})"


def _python(text: str) -> str:
    if text in ("nan", "inf", "-inf"):
        return f"float({text!r})"
    return text


def _nest(items: list[str], shape: list[int]) -> str:
    if not shape:
        return items[0]
    if len(shape) == 1:
        return "[" + ", ".join(items) + "]"
    step = math.prod(shape[1:])
    parts = [_nest(items[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
    return "[" + ", ".join(parts) + "]"


def show_values(t: ReproTensor) -> str:
    """An output for the feedback: its values (6 significant digits) when small, else its
    shape and dtype."""
    if t.values is None or math.prod(t.shape) > SHOW_ELEMENTS:
        return f"a tensor of shape ({', '.join(map(str, t.shape))}) and dtype {t.dtype}"
    convert = _CONVERT[t.dtype]
    items = [
        f"{v:.6g}" if isinstance(v, float) else repr(v) for v in (convert(x) for x in t.values)
    ]
    return _nest(items, t.shape)


def save_inputs(repro: Repro, path: Path) -> None:
    """Write the repro's tensor inputs to `path` (torch.save of {name: tensor})."""
    import torch

    tensors = {}
    for arg in repro.args or []:
        if arg.tensor is not None and arg.tensor.values is not None:
            convert = _CONVERT[arg.tensor.dtype]
            flat = [convert(v) for v in arg.tensor.values]
            dtype = getattr(torch, arg.tensor.dtype)
            tensors[arg.name] = torch.tensor(flat, dtype=dtype).reshape(arg.tensor.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, path)
