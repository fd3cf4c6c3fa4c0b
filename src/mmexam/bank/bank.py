"""The loaded, validated question bank."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmexam.bank.models import Blueprint, Part, Question


@dataclass(frozen=True)
class Bank:
    """A validated bank: the blueprint and every question, by id, in file order."""

    root: Path
    blueprint: Blueprint
    questions: dict[str, Question]
    sources: dict[str, tuple[str, int]]

    def source(self, qid: str) -> tuple[str, int]:
        """(file, line) where question `qid` starts."""
        return self.sources[qid]

    def part(self, part_id: str) -> Part:
        """The blueprint part with this id; KeyError if there is none."""
        for part in self.blueprint.parts:
            if part.id == part_id:
                return part
        raise KeyError(part_id)

    def pool(self, part: str | Part) -> list[Question]:
        """The questions a part may draw, in bank order (its pool's ids/topics applied)."""
        spec = self.part(part) if isinstance(part, str) else part
        return [q for q in self.questions.values() if in_pool(q.id, q.part, q.topics, spec)]


def in_pool(qid: str, part: str, topics: list[str], spec: Part) -> bool:
    """Whether a question (by id, part and topics) belongs to a part's pool."""
    if part != spec.id:
        return False
    if spec.pool.ids is not None and qid not in spec.pool.ids:
        return False
    return spec.pool.topics is None or any(t in spec.pool.topics for t in topics)
