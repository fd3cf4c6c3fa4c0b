"""What validating a bank finds: `Problem`s and the `BankReport` that holds them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmexam.bank.bank import Bank


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the bank, at `file:line:col` (line 0: the whole file).

    `qid` names the question (or `part <id>` in exam.yaml) when there is one.
    """

    file: str
    line: int
    col: int
    qid: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.qid}: {self.message}" if self.qid else f"{where}: {self.message}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass
class BankReport:
    """The result of `check_bank`: the bank (None when there are problems) and every problem."""

    bank: Bank | None
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(
        default_factory=list
    )  # worth a look, not wrong: suspected overlaps that no `excludes:` declares

    @property
    def errors(self) -> list[Problem]:
        return self.problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """'2 errors in 2 files', or the bank's counts when it is clean."""
        if self.problems:
            files = {p.file for p in self.problems}
            return f"{_plural(len(self.problems), 'error')} in {_plural(len(files), 'file')}"
        if self.bank is None:
            return "no bank"
        kinds = Counter(q.kind for q in self.bank.questions.values())
        shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        warned = f", {_plural(len(self.warnings), 'warning')}" if self.warnings else ""
        return (
            f"{_plural(len(self.bank.questions), 'question')} in "
            f"{_plural(len(self.files), 'file')} ({shown}), "
            f"{_plural(len(self.bank.blueprint.parts), 'part')}: no problems{warned}"
        )
