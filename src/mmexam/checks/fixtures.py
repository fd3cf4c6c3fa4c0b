"""Practice fixtures: plans written to `<task>.json` + `<task>.safetensors` and read back.

A fixture holds the inputs and the reference outputs of a task's public
checks, so `mmexam practice check` replays them without graders/ or the
reference. The JSON describes each plan (its judge by name, with its options)
and points into the safetensors file for every tensor; a tensor used twice is
stored once. Objects other than tensors, numbers and strings are tagged:
{"tuple": [...]}, {"list": [...]}, {"dict": {...}}, {"float": "nan"},
{"module": name, "state": {...}} for a `ModuleSpec`.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexam.checks.judges import judge_from
from mmexam.checks.plan import Call, Plan
from mmexam.errors import GradeError

if TYPE_CHECKING:
    import torch

FIXTURE_FORMAT = 1


class _Encoder:
    """Turns plan values into JSON, collecting their tensors by key."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._keys: dict[int, str] = {}  # id(tensor) -> key: a tensor used twice is stored once

    def __call__(self, obj: Any) -> Any:
        import torch

        if isinstance(obj, torch.Tensor):
            key = self._keys.get(id(obj))
            if key is None:
                key = self._keys[id(obj)] = f"t{len(self.tensors)}"
                self.tensors[key] = obj.detach().cpu().contiguous().clone()
            return {"tensor": key}
        if type(obj).__name__ == "ModuleSpec":
            return {"module": obj.name, "state": {k: self(v) for k, v in obj.state.items()}}
        if isinstance(obj, tuple):
            return {"tuple": [self(x) for x in obj]}
        if isinstance(obj, list):
            return {"list": [self(x) for x in obj]}
        if isinstance(obj, dict):
            return {"dict": {str(k): self(v) for k, v in obj.items()}}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            if isinstance(obj, float) and not math.isfinite(obj):
                return {"float": repr(obj)}
            return obj
        raise GradeError(f"cannot export a {type(obj).__name__} in a fixture")


def _plan_entry(plan: Plan, enc: _Encoder) -> dict[str, Any]:
    return {
        "name": plan.name,
        "function": plan.function,
        "points": plan.points,
        "visibility": plan.visibility,
        "kind": plan.kind,
        "judge": plan.judge.name,
        "property": plan.property,
        "hint": plan.hint,
        "params": list(plan.params),
        "options": enc(plan.judge.options()),
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


def write_fixture(task: str, plans: list[Plan], out_dir: Path) -> Path:
    """Write `plans` to out_dir/<task>.json + <task>.safetensors; returns the JSON path."""
    import torch
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    enc = _Encoder()
    exported = [_plan_entry(plan, enc) for plan in plans]
    json_path = out_dir / f"{task}.json"
    save_file(enc.tensors, str(out_dir / f"{task}.safetensors"))
    document = {
        "format": FIXTURE_FORMAT,
        "task": task,
        "torch": torch.__version__,
        "checks": exported,
    }
    json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return json_path


def read_fixture(task: str, fixtures: Path) -> tuple[Plan, ...]:
    """The plans in fixtures/<task>.json (cached while the file is unchanged)."""
    json_path = fixtures / f"{task}.json"
    if not json_path.is_file():
        raise GradeError(
            f"{json_path}: no practice fixture for task '{task}' — export it with export_fixtures"
        )
    return _read(json_path.resolve(), json_path.stat().st_mtime)


@functools.lru_cache(maxsize=16)
def _read(json_path: Path, mtime: float) -> tuple[Plan, ...]:
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
        return _decode(obj, tensors)

    try:
        return tuple(_plan_from(c, dec) for c in document["checks"])
    except GradeError as error:
        raise GradeError(f"{json_path}: {error}") from None


def _decode(obj: Any, tensors: dict[str, Any]) -> Any:
    if not isinstance(obj, dict):
        return obj

    def dec(x: Any) -> Any:
        return _decode(x, tensors)

    if "tensor" in obj:
        return tensors[obj["tensor"]]
    if "module" in obj:
        from mmexam.sandbox import ModuleSpec

        return ModuleSpec(obj["module"], {k: dec(v) for k, v in obj["state"].items()})
    if "tuple" in obj:
        return tuple(dec(x) for x in obj["tuple"])
    if "list" in obj:
        return [dec(x) for x in obj["list"]]
    if "float" in obj:
        return float(obj["float"])
    if "dict" in obj:
        return {k: dec(v) for k, v in obj["dict"].items()}
    raise GradeError(f"unknown entry {sorted(obj)} — export the fixtures again")


def _plan_from(c: dict[str, Any], dec: Any) -> Plan:
    return Plan(
        name=c["name"],
        function=c["function"],
        points=c["points"],
        visibility=c["visibility"],
        kind=c["kind"],
        judge=judge_from(c["judge"], dec(c["options"])),
        property=c["property"],
        hint=c["hint"],
        params=tuple(c["params"]),
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
