"""The starter students get, generated from the reference staff keep.

`graders/<task>/reference.py` marks what students must not see, as Otter's
`assign` and nbgrader's `ClearSolutions` do:

```python
def tensor_fusion(x_a, x_b):
    \"\"\"The contract: shapes, dtype, device.\"\"\"
    # BEGIN SOLUTION
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    ...
    # END SOLUTION
```

A block inside a function becomes `raise NotImplementedError("tensor_fusion")`
at the block's indentation; a block at the top level (an import or a helper
only the solution uses) is dropped, and the blank lines around it become
the larger of the two runs. Everything else (module docstring, imports,
signatures, docstrings) is kept verbatim, so starter and reference cannot
drift. Every public top-level function must have a block: its body would
otherwise reach students. Text in, text out; stdlib only, nothing imported
or run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mmexam.errors import StarterError

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
REFERENCE = "reference.py"

_MARKER = re.compile(r"^(?P<indent>[ \t]*)# (?P<which>BEGIN|END) SOLUTION[ \t]*$")
_LOOKALIKE = re.compile(r"^[ \t]*#\s*(BEGIN|END)\s*SOLUTION", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """One marked solution block: the 1-based lines of its two markers and their indentation."""

    begin: int
    end: int
    indent: str


def solution_blocks(text: str, filename: str = REFERENCE) -> list[Block]:
    """The marked blocks of `text`, or a `StarterError` at the first unbalanced marker."""
    blocks: list[Block] = []
    open_at: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        marker = _MARKER.match(line)
        if marker is None:
            if _LOOKALIKE.match(line):
                word = "BEGIN" if "BEGIN" in line.upper() else "END"
                raise StarterError(
                    f"{filename}:{number}: '{line.strip()}' is not a marker — "
                    f"write it exactly '# {word} SOLUTION'"
                )
            continue
        indent = marker["indent"]
        if marker["which"] == "BEGIN":
            if open_at is not None:
                raise StarterError(
                    f"{filename}:{number}: '{BEGIN}' inside the block opened at line "
                    f"{open_at[0]} — close that one with '{END}' first"
                )
            open_at = (number, indent)
            continue
        if open_at is None:
            raise StarterError(
                f"{filename}:{number}: '{END}' without a '{BEGIN}' above it — "
                "add the opening marker or remove this line"
            )
        if indent != open_at[1]:
            raise StarterError(
                f"{filename}:{number}: '{END}' is indented differently from its '{BEGIN}' "
                f"at line {open_at[0]} — put both markers at the same indentation"
            )
        blocks.append(Block(open_at[0], number, indent))
        open_at = None
    if open_at is not None:
        raise StarterError(
            f"{filename}:{open_at[0]}: '{BEGIN}' is never closed — add '{END}' after the solution"
        )
    return blocks


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def _enclosing(functions: list, line: int) -> str | None:
    """The innermost function whose body holds `line`."""
    holding = [f for f in functions if f.lineno < line <= (f.end_lineno or f.lineno)]
    if not holding:
        return None
    return max(holding, key=lambda f: f.lineno).name


def _parse(text: str, filename: str) -> ast.Module:
    try:
        return ast.parse(text, filename=filename)
    except SyntaxError as error:
        raise StarterError(
            f"{filename}:{error.lineno}: does not parse ({error.msg}) — fix the reference"
        ) from None


def starter_from_reference(text: str, filename: str = REFERENCE) -> str:
    """The starter source for a reference source: solution blocks cleared (see the module doc)."""
    blocks = solution_blocks(text, filename)
    tree = _parse(text, filename)
    functions = _functions(tree)
    _require_blocks(tree, blocks, filename)
    lines = text.splitlines()
    out: list[str] = []
    number = 0
    for block in blocks:
        out += lines[number : block.begin - 1]
        number = block.end
        if block.indent:
            name = _enclosing(functions, block.begin)
            if name is None:
                raise StarterError(
                    f"{filename}:{block.begin}: an indented solution block outside a "
                    "function — put the markers inside the function body, or at the top level"
                )
            out.append(f'{block.indent}raise NotImplementedError("{name}")')
            continue
        before = len(out) - len(_rstrip_blank(out))
        after = 0
        while number + after < len(lines) and not lines[number + after].strip():
            after += 1
        out = _rstrip_blank(out) + [""] * max(before, after) if out else []
        number += after
    out += lines[number:]
    starter = "\n".join(_rstrip_blank(out)) + "\n"
    _parse(starter, f"{filename} (generated starter)")
    return starter


def _rstrip_blank(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _require_blocks(tree: ast.Module, blocks: list[Block], filename: str) -> None:
    """Every public top-level function has a block in its body, or lies inside a dropped one."""
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith("_"):
            continue
        last = node.end_lineno or node.lineno
        inside = any(b.indent and node.lineno < b.begin <= last for b in blocks)
        dropped = any(b.begin < node.lineno and b.end > last and not b.indent for b in blocks)
        if not (inside or dropped):
            raise StarterError(
                f"{filename}:{node.lineno}: function '{node.name}' has no solution block — "
                f"its body would reach students; mark it with '{BEGIN}' / '{END}'"
            )


@lru_cache(maxsize=64)
def _generated(path: Path, mtime_ns: int) -> str:
    return starter_from_reference(path.read_text(encoding="utf-8"), str(path))


def generate_starter(reference: Path) -> str:
    """The starter for the reference file at `reference` (cached while the file is unchanged)."""
    reference = Path(reference)
    try:
        mtime = reference.stat().st_mtime_ns
    except OSError:
        raise StarterError(
            f"{reference}: no reference file — the starter is generated from it"
        ) from None
    return _generated(reference.resolve(), mtime)
