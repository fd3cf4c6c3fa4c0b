"""Trusted `nn.Module`s the sandbox builds for a student's function, from files it is given.

Some tasks hand the student an `nn.Module` (e.g. a velocity field). Modules
cannot cross the sandbox boundary (no pickle), so the trusted side sends a
`ModuleSpec` — a class name plus its tensors — and the sandbox builds the
module from a *trusted module file*: a Python file that imports only torch
and the standard library and names its classes in a `MODULES` dict. Which
files those are is the caller's business (`Sandbox(modules=[...])`); this
package knows none of them.

This file runs on both sides: the zygote imports it inside the sandbox (as a
sibling, the mmexam package is invisible there) and loads the trusted files
before it forks; the grader uses the same loader to build the module for its
own reference code. It imports nothing but the standard library.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModuleSpec:
    """A module to build inside the sandbox: a class a trusted module file names, and its tensors.

    Example: `ModuleSpec("LinearVelocity", {"A": A, "c": c, "b": b})`.
    """

    name: str
    state: dict[str, Any] = field(default_factory=dict)  # constructor keyword -> torch.Tensor


@functools.lru_cache(maxsize=16)
def load_modules(paths: tuple[str, ...]) -> dict[str, type[nn.Module]]:
    """The classes the trusted module files at `paths` name in `MODULES`, merged (once per
    tuple of paths)."""
    registry: dict[str, type[nn.Module]] = {}
    for i, path in enumerate(paths):
        module_name = f"mmexam_trusted_{i}_{abs(hash(path)):x}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        named = getattr(module, "MODULES", None)
        if not isinstance(named, dict):
            raise TypeError(f"{path}: a trusted module file names its classes in MODULES")
        for name, cls in named.items():
            if name in registry:
                raise ValueError(f"{path}: module '{name}' is also defined in an earlier file")
            registry[name] = cls
    return registry


def build_module(registry: dict[str, type[nn.Module]], name: str, state: dict) -> nn.Module:
    """Build the trusted module `name` from its tensors (in eval mode, no parameters to train)."""
    try:
        cls = registry[name]
    except KeyError:
        known = ", ".join(sorted(registry)) or "none"
        raise ValueError(f"unknown module '{name}' — known modules: {known}") from None
    return cls(**state).eval()
