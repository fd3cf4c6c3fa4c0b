"""Command-line interface: one module per verb, each thin.

Each module registers its command(s) on `app`; importing it here is what
adds the verb to `mmexam`. Keep heavy imports (torch) inside the command
functions so `mmexam --help` stays fast.
"""

from mmexam.cli.app import app, main
from mmexam.cli import practice  # noqa: F401
from mmexam.cli import build  # noqa: F401
from mmexam.cli import validate  # noqa: F401
from mmexam.cli import schema  # noqa: F401
from mmexam.cli import bank  # noqa: F401
from mmexam.cli import grade  # noqa: F401
from mmexam.cli import check  # noqa: F401

__all__ = ["app", "main"]
