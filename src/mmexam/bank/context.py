"""Shared state of one bank check: the files read, the questions, the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmexam.bank.models import Blueprint
from mmexam.bank.reader import Document
from mmexam.bank.report import Problem


@dataclass
class Entry:
    """One question as written: its file, its place there, its data and its model."""

    file: str
    doc: Document
    path: tuple  # ('questions', i)
    data: Any
    question: Any = None  # the validated model, or None when the schema rejected it

    @property
    def qid(self) -> str:
        if isinstance(self.data, dict) and isinstance(self.data.get("id"), str):
            return self.data["id"]
        return f"questions[{self.path[-1]}]"


@dataclass
class Context:
    """Everything the checks read and the problems they add."""

    root: Path
    graders: Path
    blueprint: Blueprint | None = None
    blueprint_file: str = ""
    blueprint_doc: Document | None = None
    entries: list[Entry] = field(default_factory=list)
    tasks: Any = None  # rules.Tasks, the code tasks found in graders/
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, line: int, col: int, qid: str | None, message: str) -> None:
        self.problems.append(Problem(file, line, col, qid, message))

    def at(self, entry: Entry, sub: tuple, message: str, *, key: bool = False) -> None:
        """A problem at `sub` inside a question (a data path like ('parts', 1, 'points'))."""
        line, col = entry.doc.where((*entry.path, *sub), key=key)
        self.add(entry.file, line, col, entry.qid, message)

    def at_blueprint(
        self, sub: tuple, message: str, *, label: str | None = None, key: bool = False
    ) -> None:
        assert self.blueprint_doc is not None
        line, col = self.blueprint_doc.where(sub, key=key)
        self.add(self.blueprint_file, line, col, label, message)

    def valid(self) -> list[Entry]:
        return [e for e in self.entries if e.question is not None]
