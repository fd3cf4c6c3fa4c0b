"""Counts over a bank: per part, kind, topic and difficulty (for `mmexam bank stats`)."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from mmexam.bank.bank import Bank
from mmexam.bank.models import Problem


class PartStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Blueprint part id.")
    title: str = Field(description="Printed title.")
    questions: int = Field(description="Questions in the part's pool.")
    pick: int = Field(description="Questions each student gets.")
    points: float = Field(description="Points of the whole part.")
    bonus: bool = Field(description="Whether the part is bonus.")
    kinds: dict[str, int] = Field(description="Top-level kinds in the pool.")
    part_kinds: dict[str, int] = Field(description="Kinds of the parts of the pool's problems.")


class TopicCoverage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(description="Topic tag from the blueprint.")
    description: str = Field(description="The lecture section it stands for.")
    questions: int = Field(description="Questions tagged with it (0: the section is uncovered).")
    parts: dict[str, int] = Field(description="Those questions per blueprint part.")


class BankStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    questions: int = Field(description="Questions in the bank.")
    parameterised: int = Field(description="Questions with params.")
    practice: int = Field(description="Questions offered in practice mode.")
    parts: list[PartStats] = Field(description="Per blueprint part, in order.")
    kinds: dict[str, int] = Field(description="Top-level questions per kind.")
    part_kinds: dict[str, int] = Field(description="Parts of problems per kind.")
    topics: dict[str, int] = Field(description="Questions tagged with each topic (all topics).")
    difficulty: dict[str, int] = Field(description="Questions per difficulty.")
    coverage: list[TopicCoverage] = Field(
        description="Per lecture topic, in the blueprint's order: questions and parts."
    )


def _sorted(counter: Counter) -> dict[str, int]:
    return dict(sorted(counter.items()))


def bank_stats(bank: Bank) -> BankStats:
    questions = list(bank.questions.values())
    kinds: Counter = Counter(q.kind for q in questions)
    part_kinds: Counter = Counter(
        p.kind for q in questions if isinstance(q, Problem) for p in q.parts
    )
    topics: Counter = Counter({t: 0 for t in bank.blueprint.topics})
    topics.update(t for q in questions for t in q.topics)
    difficulty: Counter = Counter({d: 0 for d in ("easy", "medium", "hard")})
    difficulty.update(q.difficulty for q in questions)
    parts = []
    for part in bank.blueprint.parts:
        pool = bank.pool(part)
        parts.append(
            PartStats(
                id=part.id,
                title=part.title,
                questions=len(pool),
                pick=part.pick,
                points=part.points,
                bonus=part.bonus,
                kinds=_sorted(Counter(q.kind for q in pool)),
                part_kinds=_sorted(
                    Counter(p.kind for q in pool if isinstance(q, Problem) for p in q.parts)
                ),
            )
        )
    return BankStats(
        questions=len(questions),
        parameterised=sum(1 for q in questions if q.params),
        practice=sum(1 for q in questions if bank.in_practice(q)),
        parts=parts,
        kinds=_sorted(kinds),
        part_kinds=_sorted(part_kinds),
        topics=dict(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))),
        difficulty={k: difficulty[k] for k in ("easy", "medium", "hard")},
        coverage=[
            TopicCoverage(
                topic=topic,
                description=description,
                questions=topics[topic],
                parts=_sorted(Counter(q.part for q in questions if topic in q.topics)),
            )
            for topic, description in bank.blueprint.topics.items()
        ],
    )
