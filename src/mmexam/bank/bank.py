"""The loaded, validated question bank."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmexam.bank.models import Blueprint, Part, Question
from mmexam.bank.overlap import exclusions
from mmexam.bank.statistics import StatisticsFile, expected_share


@dataclass(frozen=True)
class Bank:
    """A validated bank: the blueprint and every question, by id, in file order."""

    root: Path
    blueprint: Blueprint
    questions: dict[str, Question]
    sources: dict[str, tuple[str, int]]
    statistics: StatisticsFile | None = None  # item-statistics.json, when there is one

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

    def in_practice(self, question: Question) -> bool:
        """Practice mode may offer it: its own `practice`, else its blueprint part's."""
        return practice_allowed(question, self.blueprint)

    def excluded(self) -> dict[str, frozenset[str]]:
        """For every question, the questions that may not share its paper (both directions)."""
        return exclusions(self.questions)

    def expected_share(self, qid: str) -> float:
        """Expected share of question `qid`'s points: measured (enough students), else authored."""
        return expected_share(self.questions[qid], self.statistics)


def practice_allowed(question: Question, blueprint: Blueprint) -> bool:
    """A question's own `practice: true/false` decides; unset, its part's `practice` does."""
    if question.practice is not None:
        return question.practice
    part = next((p for p in blueprint.parts if p.id == question.part), None)
    return part.practice if part is not None else True


def in_pool(qid: str, part: str, topics: list[str], spec: Part) -> bool:
    """Whether a question (by id, part and topics) belongs to a part's pool."""
    if part != spec.id:
        return False
    if spec.pool.ids is not None and qid not in spec.pool.ids:
        return False
    return spec.pool.topics is None or any(t in spec.pool.topics for t in topics)
