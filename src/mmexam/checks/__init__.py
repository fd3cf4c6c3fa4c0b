"""The checks language: what `graders/<task>/checks.py` import, and how checks are run.

A task's checks are declared with the constructors of
`mmexam.checks.declarations` (`value`, `gradient`, `expect`, `symmetric`,
`at_least`, `converges`, `unchanged_inputs`, `deterministic`, `on_device`,
`standard_checks`) and seeded inputs from `randn` / `rand`. Grading happens in
two steps:

1. *Plan* (`mmexam.checks.planner`, trusted, once per task per process): every
   check becomes a `Plan` — concrete input tensors, expected outputs, and a
   `Judge` (`mmexam.checks.judges`) that decides its calls.
2. *Run* (`mmexam.checks.runner`, per submission): the student's file is
   opened in the sandbox, each planned call is made there, and its judge
   decides, in the trusted process, what came back.

The result is one `TaskResult` of `CheckResult`s (`mmexam.checks.results`),
the model the grading workflow stores and reads. Public plans can be exported
as practice fixtures (`export_fixtures`) and replayed without graders/.
"""

from mmexam.checks.declarations import (
    Check,
    Context,
    at_least,
    converges,
    deterministic,
    expect,
    gradient,
    on_device,
    rand,
    randn,
    standard_checks,
    symmetric,
    unchanged_inputs,
    value,
)
from mmexam.checks.plan import Call, Plan
from mmexam.checks.planner import export_fixtures, plans
from mmexam.checks.results import CheckResult, TaskResult
from mmexam.checks.runner import run_checks
from mmexam.checks.tasks import list_tasks, task_functions

__all__ = [
    "Call",
    "Check",
    "CheckResult",
    "Context",
    "Plan",
    "TaskResult",
    "at_least",
    "converges",
    "deterministic",
    "expect",
    "export_fixtures",
    "gradient",
    "list_tasks",
    "on_device",
    "plans",
    "rand",
    "randn",
    "run_checks",
    "standard_checks",
    "symmetric",
    "task_functions",
    "unchanged_inputs",
    "value",
]
