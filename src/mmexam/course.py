"""The course a command works on: a folder an instructor owns, or the shipped sample.

A course folder holds the bank and the code tasks:

```
my-course/
  question_bank/exam.yaml     the blueprint (its presence is what marks a course)
  question_bank/*.yaml        the questions
  graders/<task>/reference.py the solution, bodies marked # BEGIN/END SOLUTION
  graders/<task>/checks.py    the task's checks
  roster.csv                  an example roster (id,name)
```

Discovery, in order: `--course DIR` (which must be a course); else the
nearest folder, from the working directory upward, that holds
`question_bank/exam.yaml`; else the shipped sample (public: its references
ship in the package). `mmexam init DIR` writes a course from the sample.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.errors import MmexamError
from mmexam.paths import DEFAULT_BANK, GRADERS

MARKER = Path("question_bank") / "exam.yaml"

EXAMPLE_ROSTER = """\
id,name
s2024001,Ada Okafor
s2024002,Bruno Silva
s2024003,Chen Wei
"""


@dataclass(frozen=True)
class Course:
    """Where a course's bank and code tasks are."""

    bank: Path
    graders: Path
    root: Path | None = None  # None: the shipped sample

    @property
    def is_sample(self) -> bool:
        return self.root is None


SAMPLE = Course(bank=DEFAULT_BANK, graders=GRADERS)


def course_at(root: Path) -> Course:
    """The course in folder `root` (no check that it is one)."""
    root = Path(root)
    return Course(bank=root / "question_bank", graders=root / "graders", root=root)


def find_course(start: Path) -> Course | None:
    """The nearest course folder at `start` or above it, or None."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / MARKER).is_file():
            return course_at(folder)
    return None


def resolve_course(option: Path | None, cwd: Path | None = None) -> Course:
    """The course a command works on: `--course`, else found from `cwd`, else the sample."""
    if option is not None:
        if not (Path(option) / MARKER).is_file():
            raise MmexamError(
                f"{option}: not a course folder (no {MARKER.as_posix()}) — "
                "make one with `mmexam init DIR`, or leave out --course"
            )
        return course_at(Path(option))
    return find_course(cwd if cwd is not None else Path.cwd()) or SAMPLE


@dataclass
class InitResult:
    """What `init_course` wrote."""

    root: Path
    files: list[Path] = field(default_factory=list)


def init_course(dest: Path, *, source: Course = SAMPLE) -> InitResult:
    """Write a course folder at `dest` from `source` (the shipped sample): bank, graders, roster.

    Refuses a folder that already holds anything, so nothing is overwritten.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise MmexamError(
            f"{dest}: exists and is not an empty folder — choose a new folder (nothing was written)"
        )
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    shutil.copytree(source.bank, dest / "question_bank", ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(source.graders, dest / "graders", ignore=ignore)
    (dest / "roster.csv").write_text(EXAMPLE_ROSTER, encoding="utf-8")
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    return InitResult(root=dest, files=files)
