"""Measured item statistics beside the bank, and each question's expected score.

`mmexam bank learn GRADES_DIR` measures, per bank question, the mean share of
its points students earned (the p-value: 1 = everyone got it), the
point-biserial correlation with the rest of the paper (discrimination) and
the sample size n, and writes them to `item-statistics.json` in the bank
folder: a side file, not the YAML. Why a side file:

- the YAML is written by people: comments, quoting, flow lists and line
  breaks stay exactly as they wrote them, and a diff of the bank shows only
  what an author changed (no numbers rewritten after every sitting);
- a question's content hash (which grading compares with variants.json)
  does not change when its statistics do;
- each statistic records the hash of the question it was measured on, so an
  item edited after the exam loses its old statistics instead of carrying
  numbers that describe a different question.

A statistic counts only with `n >= min_n` (the file's, default 30):
below it nothing is claimed and the authored difficulty is used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmexam.errors import BankError

STATISTICS_FILE = "item-statistics.json"
FORMAT = 1
MIN_N = 30
"""Fewest students a statistic needs before it says anything (classical item analysis uses
at least 30; with fewer, a single answer moves a p-value by several points)."""

AUTHORED = {"easy": 0.8, "medium": 0.6, "hard": 0.4}
"""Expected share of the points, from the authored difficulty, until statistics exist."""


class ItemStatistic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p: float = Field(ge=0, le=1, description="Mean share of the points earned (1 = all earned).")
    r_pb: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Point-biserial correlation of the share earned with the rest of the "
        "paper; null when it cannot be computed (no variance) or n < min_n.",
    )
    n: int = Field(ge=0, description="Students whose answer was graded.")
    hash: str = Field(description="Content hash of the question the numbers were measured on.")


class StatisticsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, description="File format version.")
    min_n: int = Field(default=MIN_N, ge=1, description="Smallest n a statistic is used with.")
    sources: list[str] = Field(default_factory=list, description="Grades folders measured.")
    items: dict[str, ItemStatistic] = Field(default_factory=dict, description="By question id.")


def question_hash(question: Any) -> str:
    """sha256 of the question's canonical JSON (the same digest as `mmexam.exam.content_hash`)."""
    data = question.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_statistics(root: Path) -> StatisticsFile | None:
    """The bank's statistics file, None when there is none; BankError when it is unreadable."""
    path = Path(root) / STATISTICS_FILE
    if not path.is_file():
        return None
    try:
        return StatisticsFile.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError) as error:
        raise BankError(
            f"{path}: not a statistics file mmexam can read ({str(error).splitlines()[0]}) — "
            "delete it and run `mmexam bank learn GRADES_DIR` again"
        ) from error


def write_statistics(root: Path, stats: StatisticsFile) -> Path:
    """Write the side file (sorted, indented: diffable); returns its path."""
    from mmexam.files import atomic_write

    path = Path(root) / STATISTICS_FILE
    data = stats.model_dump(mode="json")
    atomic_write(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return path


def usable(stats: StatisticsFile | None, question: Any) -> ItemStatistic | None:
    """The question's statistic when there is one, big enough and measured on this content."""
    if stats is None:
        return None
    found = stats.items.get(question.id)
    if found is None or found.n < stats.min_n or found.hash != question_hash(question):
        return None
    return found


def expected_share(question: Any, stats: StatisticsFile | None = None) -> float:
    """The share of its points a student is expected to earn: measured, else authored."""
    found = usable(stats, question)
    return found.p if found is not None else AUTHORED[question.difficulty]
