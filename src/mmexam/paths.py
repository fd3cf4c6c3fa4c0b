"""Where the shipped data lives: the repository checkout or the installed wheel.

In a checkout (editable install) the bank, templates and graders sit at the
repository root; in a wheel they are package data under `mmexam/_data/`.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent


def data_dir(name: str) -> Path:
    """Return the folder `name` (question_bank, templates, graders)."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _REPO / name


DEFAULT_BANK = data_dir("question_bank")
TEMPLATES = data_dir("templates")
GRADERS = data_dir("graders")


def trusted_modules(graders: Path = GRADERS) -> tuple[Path, ...]:
    """The tasks' trusted nn.Module files (graders/<task>/modules.py) a sandbox may build."""
    return tuple(sorted(graders.glob("*/modules.py")))
