"""Starter code: the stubs students implement, and the signatures the exam prints.

The stubs live in `graders/<task>/starter.py`. They are read as text and
parsed with `ast` (never imported: no torch in `mmexam build`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mmexam.errors import BuildError


@dataclass(frozen=True)
class Stub:
    """One function of a starter file: its `def` line(s) and docstring, verbatim."""

    name: str
    source: str


def starter_path(graders: Path, task: str) -> Path:
    return graders / task / "starter.py"


@lru_cache(maxsize=64)
def _parse(path: Path, mtime_ns: int) -> tuple[str, ast.Module]:
    text = path.read_text(encoding="utf-8")
    return text, ast.parse(text, filename=str(path))


def read_stubs(graders: Path, task: str, functions: tuple[str, ...], question: str) -> list[Stub]:
    """The signature and docstring of each function, from the task's starter file."""
    path = starter_path(graders, task)
    try:
        text, module = _parse(path, path.stat().st_mtime_ns)
    except OSError:
        raise BuildError(
            f"{question}: code task '{task}' has no starter file {path} — "
            "add graders/<task>/starter.py or fix the question's 'task'"
        ) from None
    except SyntaxError as error:
        raise BuildError(
            f"{path}:{error.lineno}: starter file does not parse ({error.msg})"
        ) from None
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
