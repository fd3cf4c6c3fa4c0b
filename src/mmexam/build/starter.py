"""Starter code: the stubs students implement, and the signatures the exam prints.

The stubs are generated from `graders/<task>/reference.py` by clearing its
marked solution blocks (`mmexam.starter`). They are handled as text and
parsed with `ast` (never imported: no torch in `mmexam build`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mmexam.errors import BuildError, StarterError
from mmexam.starter import REFERENCE, generate_starter


@dataclass(frozen=True)
class Stub:
    """One function of a starter file: its `def` line(s) and docstring, verbatim."""

    name: str
    source: str


def starter_text(graders: Path, task: str, question: str | None = None) -> str:
    """The starter of `task`, generated from its reference; a `BuildError` says what is wrong."""
    reference = graders / task / REFERENCE
    if not reference.is_file():
        where = f"{question}: " if question else ""
        raise BuildError(
            f"{where}code task '{task}' has no reference file {reference} — "
            f"add graders/<task>/{REFERENCE} or fix the question's 'task'"
        )
    try:
        return generate_starter(reference)
    except StarterError as error:
        raise BuildError(str(error)) from None


@lru_cache(maxsize=64)
def _parse(text: str) -> ast.Module:
    return ast.parse(text)


def read_stubs(graders: Path, task: str, functions: tuple[str, ...], question: str) -> list[Stub]:
    """The signature and docstring of each function, from the task's generated starter."""
    path = graders / task / REFERENCE
    text = starter_text(graders, task, question)
    module = _parse(text)  # the generator already proved it parses
    defs = {
        node.name: node
        for node in module.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    lines = text.splitlines()
    stubs = []
    for name in functions:
        node = defs.get(name)
        if node is None:
            raise BuildError(
                f"{question}: function '{name}' is not in {path} — "
                f"it has {', '.join(sorted(defs)) or 'no functions'}"
            )
        first = node.lineno if not node.decorator_list else node.decorator_list[0].lineno
        body = node.body[0]
        has_doc = (
            isinstance(body, ast.Expr)
            and isinstance(body.value, ast.Constant)
            and isinstance(body.value.value, str)
        )
        last = body.end_lineno if has_doc else body.lineno - 1
        snippet = "\n".join(lines[first - 1 : last])
        if not has_doc:
            snippet += "\n    ..."
        stubs.append(Stub(name, snippet.rstrip() + "\n"))
    return stubs


STUDENT_README = """\
# Starter code for the {title}

One file per coding task of the exam. Implement each function where it
raises `NotImplementedError`; keep the names, arguments and return shapes
given in the docstrings. Functions take and return `torch.Tensor`s.

Files: {files}.

## Check your code before you submit

Run the public checks on your file (they run your code in a sandbox and
compare it with the reference on seeded random inputs):

```sh
mmexam practice check TASK FILE      # e.g. mmexam practice check fusion fusion.py
mmexam check TASK FILE               # the same checks, shorter
```

Each check says what was expected, what your function returned, the largest
difference and where. The graders run further hidden checks (other shapes,
gradients, edge cases), so passing every public check is necessary, not
sufficient.

Submit each file under its own name ({files}).
"""


def student_readme(title: str, tasks: list[str]) -> str:
    files = ", ".join(f"`{task}.py`" for task in tasks) or "none"
    return STUDENT_README.format(title=title, files=files)
