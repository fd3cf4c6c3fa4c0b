"""The one exception family a user can cause.

Every error that bad input can trigger (a broken bank, a bad roster, a
missing file) is an `MmexamError`. Its message says where, what, and how to
fix; the CLI prints it on one line and exits 1 (2 for a `UsageError`), never with a
traceback.
"""


class MmexamError(Exception):
    """An error caused by the user's input, shown as one line."""


class BankError(MmexamError):
    """The question bank or blueprint is invalid."""


class BuildError(MmexamError):
    """The exam could not be rendered (Typst error, bad roster, ...)."""


class StarterError(MmexamError):
    """A reference's solution markers are unbalanced, so no starter can be generated from it."""


class GradeError(MmexamError):
    """Grading could not start (missing manifest, bad arguments, ...)."""


class PracticeError(MmexamError):
    """Practice mode could not run (bad bundle, unknown part or topic, corrupt history, ...)."""


class SandboxError(GradeError):
    """Student code cannot be run safely: the sandbox is required but missing, or will not start."""


class UsageError(MmexamError):
    """A value given on the command line is wrong (`--shard 3`, `--only 9.9`, `--to foo`):
    the CLI exits 2, as Click does for its own usage errors, instead of 1."""
