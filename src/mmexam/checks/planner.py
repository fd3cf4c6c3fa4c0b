"""Planning: every declared check of a task made into a `Plan` (inputs and expected outputs).

Planning happens in the trusted process, once per task per process. Every
reference output goes through one function, `reference_caller`, which calls
`graders/<task>/reference.py`; property checks compute their expectation in
closed form and need no reference at all. Because plans are plain tensors and
JSON, the public ones can be exported as a practice fixture
(`export_fixtures`) and replayed without graders/ (`plans(..., fixtures=)`).
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from mmexam.checks.declarations import Context, check_contract
from mmexam.checks.fixtures import read_fixture, write_fixture
from mmexam.checks.plan import Call, Plan
from mmexam.checks.tasks import function_info, task_dir
from mmexam.errors import GradeError
from mmexam.paths import GRADERS

ReferenceCaller = Callable[[str, tuple, Any, tuple[int, ...]], Any]
"""caller(function, args, vjp, wrt): the reference's output, or with `vjp` its gradients."""


def load_file(path: Path, module_name: str) -> ModuleType:
    """Import a grader file (checks.py, reference.py) by path as `module_name`."""
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
        from mmexam.paths import trusted_modules
        from mmexam.sandbox import build_module, load_modules

        registry = load_modules(tuple(str(path) for path in trusted_modules()))
        return build_module(registry, arg.name, arg.state)
    return arg


def reference_caller(reference: ModuleType) -> ReferenceCaller:
    """The one way reference outputs are made: reference.<function>(*args), without
    gradients; with `vjp`, the gradients of <output, vjp> w.r.t. the arguments at `wrt`,
    aligned with args (None elsewhere; zeros where no gradient reaches)."""
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


def load_reference(task: str, graders: Path = GRADERS) -> ModuleType:
    """graders/<task>/reference.py, imported (trusted code: never in the sandbox)."""
    return load_file(task_dir(task, graders) / "reference.py", f"mmexam_graders_{task}_reference")


@functools.cache
def _live_plans(task: str, graders: Path, salt: str = "") -> tuple[Plan, ...]:
    folder = task_dir(task, graders)
    checks = load_file(folder / "checks.py", f"mmexam_graders_{task}_checks")
    caller = reference_caller(load_reference(task, graders))
    out = []
    earlier: dict[str, list[Call]] = {}
    infos = {check.name: function_info(task, check.function, graders) for check in checks.CHECKS}
    for check in checks.CHECKS:  # before planning any: a check beyond the contract is refused
        check_contract(check, infos[check.name])
    for check in checks.CHECKS:
        params = infos[check.name].params
        ctx = Context(
            task, check.name, caller, earlier, salt if check.visibility == "public" else "", params
        )
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
            )
        )
    return tuple(out)


def plans(
    task: str, *, fixtures: Path | None = None, graders: Path = GRADERS, salt: str = ""
) -> tuple[Plan, ...]:
    """The task's planned checks: from graders/ (all checks) or from fixtures (public only).

    With `salt` (grading), the public checks draw their inputs from a seed mixed with it:
    the same checks on inputs no practice bundle holds (the bundle is planned unsalted),
    so a table of the bundle's expected outputs earns nothing in grading."""
    if fixtures is not None:
        return read_fixture(task, Path(fixtures))
    task_dir(task, graders)  # unknown task -> GradeError
    return _live_plans(task, graders, salt)


def function_names(
    task: str, *, fixtures: Path | None = None, graders: Path = GRADERS
) -> tuple[str, ...]:
    """The functions `task`'s checks call (the public ones only, from fixtures), in order."""
    return tuple(dict.fromkeys(p.function for p in plans(task, fixtures=fixtures, graders=graders)))


def of_function(selected: Sequence[Plan], function: str | None) -> list[Plan]:
    """The plans of one function (all of them when `function` is None); an unknown name is a
    `GradeError` that lists the functions the plans call."""
    if function is None:
        return list(selected)
    mine = [p for p in selected if p.function == function]
    if not mine:
        known = ", ".join(dict.fromkeys(p.function for p in selected)) or "none"
        raise GradeError(f"no checks for a function '{function}' — the functions: {known}")
    return mine


def export_fixtures(task: str, out_dir: Path, *, graders: Path = GRADERS) -> Path:
    """Write the public checks' plans of `task` to out_dir/<task>.json + <task>.safetensors.

    The files hold the inputs and the reference outputs of every public check,
    so `run_checks(task, ..., fixtures=out_dir, hidden=False)` needs neither
    graders/ nor the reference. The task's trusted module file (the modules a
    check hands the student's function), if it has one, goes beside them as
    <task>.modules.py, for the sandbox. Returns the JSON path.
    """
    public = [p for p in plans(task, graders=graders) if p.visibility == "public"]
    json_path = write_fixture(task, public, Path(out_dir))
    trusted = task_dir(task, graders) / "modules.py"
    if trusted.is_file():
        shutil.copyfile(trusted, Path(out_dir) / f"{task}.modules.py")
    return json_path
