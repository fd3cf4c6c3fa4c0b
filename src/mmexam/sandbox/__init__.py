"""The isolation runtime: run untrusted Python functions on tensors, get plain tensors back.

Generic: it knows nothing of exams, tasks or graders. The pieces, by the
side they run on:

- trusted side: `client.Sandbox` (one sandboxed zygote) and
  `student.StudentModule` (one file in a child), `calls` (a call's wire form
  and outcome), `channel` (reading hostile replies), `isolation` (limits and
  the bubblewrap command), `pool.map_in_workers` (one Sandbox per worker);
- inside the sandbox: `zygote` (imports torch once, forks), `child` (one
  submission), `confine` (rlimits, seccomp);
- both sides: `wire` (frames, the safetensors codec, message names) and
  `modules` (`ModuleSpec` and the loader of trusted module files).

Example:
    from mmexam.sandbox import Sandbox

    with Sandbox() as sandbox, sandbox.open(source, "fusion.py") as student:
        outcome = student.call("tensor_fusion", x_a, x_b)
"""

from mmexam.sandbox.calls import CallOutcome
from mmexam.sandbox.client import Sandbox
from mmexam.sandbox.isolation import Limits, SandboxWarning, isolation_status
from mmexam.sandbox.modules import ModuleSpec, build_module, load_modules
from mmexam.sandbox.pool import WorkResult, map_in_workers
from mmexam.sandbox.student import StudentModule

__all__ = [
    "CallOutcome",
    "Limits",
    "ModuleSpec",
    "Sandbox",
    "SandboxWarning",
    "StudentModule",
    "WorkResult",
    "build_module",
    "isolation_status",
    "load_modules",
    "map_in_workers",
]
