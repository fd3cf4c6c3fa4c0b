"""The code tasks students implement, read from their starters without importing torch.

Each task folder in `graders/` holds `reference.py` (trusted solution, its
bodies marked `# BEGIN SOLUTION` / `# END SOLUTION`) and `checks.py` (the
task's checks). The starter students get is generated from the reference
(`mmexam.starter`) and is the contract: its functions, signatures and
docstrings are what the exam prints and what the checks call. This module
reads them with `ast` only, so `mmexam build` can print them without
importing torch or running any grader code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from mmexam.errors import GradeError, StarterError
from mmexam.paths import GRADERS
from mmexam.starter import REFERENCE, generate_starter


@dataclass(frozen=True)
class FunctionInfo:
    """One function of a code task, as the starter stub declares it."""

    name: str
    signature: str  # "tensor_fusion(x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor"
    docstring: str  # cleaned (inspect.cleandoc) docstring
    params: tuple[str, ...]  # positional parameter names, in order
    required: int  # how many positional parameters have no default
    varargs: bool = False  # whether it takes *args
    # The parameters its contract declares differentiable (the docstring's "Differentiable in:"
    # line): the only ones a gradient check may differentiate.
    differentiable: tuple[str, ...] = ()


DIFFERENTIABLE = re.compile(r"^\s*Differentiable in: (?P<names>[^\n]*?)\.?\s*$", re.MULTILINE)
"""The docstring line that declares a function's differentiable inputs, e.g.
"Differentiable in: x0, noise." ("Differentiable in: none." for none)."""


def declared_differentiable(docstring: str) -> tuple[str, ...] | None:
    """The names on the docstring's "Differentiable in:" line, or None where it has none."""
    match = DIFFERENTIABLE.search(docstring)
    if match is None:
        return None
    names = [n.strip().strip("`") for n in match["names"].split(",")]
    return tuple(n for n in names if n and n.lower() != "none")


def list_tasks(graders: Path = GRADERS) -> list[str]:
    """The code tasks: every folder of `graders/` that has a reference.py, sorted."""
    if not graders.is_dir():
        return []
    return sorted(p.name for p in graders.iterdir() if (p / REFERENCE).is_file())


def task_dir(task: str, graders: Path = GRADERS) -> Path:
    """The folder of `task`, or a GradeError naming the known tasks."""
    folder = graders / task
    if not (folder / REFERENCE).is_file():
        known = ", ".join(list_tasks(graders)) or "none"
        raise GradeError(f"unknown code task '{task}' — known tasks: {known}")
    return folder


def starter_source(task: str, graders: Path = GRADERS) -> str:
    """The text of the stub students get for `task`, generated from graders/<task>/reference.py."""
    try:
        return generate_starter(task_dir(task, graders) / REFERENCE)
    except StarterError as error:
        raise GradeError(str(error)) from None


def task_functions(task: str, graders: Path = GRADERS) -> list[str]:
    """The functions students implement for `task`, in the starter's order."""
    return [info.name for info in task_function_infos(task, graders)]


def task_function_infos(task: str, graders: Path = GRADERS) -> list[FunctionInfo]:
    """Name, signature and docstring of every function in the task's starter."""
    return list(public_functions(starter_source(task, graders)).values())


def function_info(task: str, function: str, graders: Path = GRADERS) -> FunctionInfo:
    """Signature and docstring of one function of `task`."""
    infos = public_functions(starter_source(task, graders))
    if function not in infos:
        raise GradeError(
            f"code task '{task}' has no function '{function}' — it has: {', '.join(infos)}"
        )
    return infos[function]


def module_docstring(task: str, graders: Path = GRADERS) -> str:
    """The starter's module docstring (shapes and conventions shared by the functions)."""
    return ast.get_docstring(ast.parse(starter_source(task, graders))) or ""


def public_functions(source: str) -> dict[str, FunctionInfo]:
    """Top-level `def`s of `source` whose names do not start with '_'.

    Raises SyntaxError for source that does not parse (callers decide what that means).
    """
    tree = ast.parse(source)
    found: dict[str, FunctionInfo] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith(
            "_"
        ):
            found[node.name] = _info(node)
    return found


def defined_functions(source: str) -> dict[str, FunctionInfo] | None:
    """Every top-level `def` in a student's source (last one wins), or None if it does not parse.

    Used to explain a wrong signature before calling; a name bound some other
    way (assignment, import) is simply absent here and is judged by calling it.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    found: dict[str, FunctionInfo] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = _info(node)
    return found


def accepts(info: FunctionInfo, n_positional: int) -> bool:
    """Whether a function shaped like `info` can be called with `n_positional` arguments."""
    return info.required <= n_positional and (info.varargs or n_positional <= len(info.params))


def _info(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionInfo:
    args = node.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    required = len(positional) - len(args.defaults)
    signature = f"{node.name}({ast.unparse(args)})"
    if node.returns is not None:
        signature += f" -> {ast.unparse(node.returns)}"
    docstring = ast.get_docstring(node) or ""
    return FunctionInfo(
        name=node.name,
        signature=signature,
        docstring=docstring,
        params=tuple(positional),
        required=required,
        varargs=args.vararg is not None,
        differentiable=declared_differentiable(docstring) or (),
    )
