"""Command-line interface: one module per verb, each thin.

Each module registers its command(s) on `app`; importing it here is what
adds the verb to `mmexam`. Keep heavy imports (torch) inside the command
functions so `mmexam --help` stays fast.
"""

from mmexam.cli import (
    bank,  # noqa: F401
    build,  # noqa: F401
    check,  # noqa: F401
    grade,  # noqa: F401
    init,  # noqa: F401
    integrity,  # noqa: F401
    practice,  # noqa: F401
    preview,  # noqa: F401
    rescore,  # noqa: F401
    review,  # noqa: F401
    scan,  # noqa: F401
    schema,  # noqa: F401
    serve,  # noqa: F401
    validate,  # noqa: F401
)
from mmexam.cli.app import app, main

__all__ = ["app", "main"]
