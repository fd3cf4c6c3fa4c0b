"""What a range of drawn papers looks like: overlaps, difficulty spread, topic coverage.

`survey(bank, draws)` draws the selection of every (seed, student) in
`draws` (questions only: nothing is rendered or instantiated) and counts

- papers holding two questions that exclude each other (`excludes:`);
- each paper's expected share of the non-bonus points (see
  `mmexam.build.fairness`): the lowest, the highest, their spread, and the
  papers outside the blueprint's band;
- per blueprint topic, the share of papers with at least one question on it.

`mmexam bank stats` prints it for a seed range or for a roster's papers;
`benchmarks/draw_papers.py` runs it against the unconstrained draw.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from mmexam.bank.bank import Bank
from mmexam.build.fairness import drawer_for
from mmexam.build.variants import select


class Survey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    papers: int = Field(description="Papers drawn.")
    constrained: bool = Field(description="Whether the constrained draw was used.")
    overlapping: int = Field(description="Papers with two questions that exclude each other.")
    overlap_share: float = Field(description="overlapping / papers.")
    pairs: dict[str, int] = Field(
        description="Excluded pairs found together ('a + b'), with how many papers held them."
    )
    target: float = Field(description="Expected share of the points averaged over every pool.")
    band: float | None = Field(description="The blueprint's balance.band, if any.")
    expected_min: float = Field(description="Lowest expected share of a paper.")
    expected_max: float = Field(description="Highest expected share of a paper.")
    spread: float = Field(description="expected_max - expected_min.")
    outside_band: int = Field(description="Papers further than band from the target.")
    topics: dict[str, float] = Field(description="Per topic, the share of papers that ask it.")
    seconds: float = Field(description="Time spent drawing.")


def survey(bank: Bank, draws: Iterable[tuple[int, str]], *, constrained: bool = True) -> Survey:
    drawer = drawer_for(bank)
    excluded = drawer.excluded
    started = time.perf_counter()
    selections = []
    for seed, student in draws:
        if constrained:
            selections.append(drawer.choose(seed, student).parts)
        else:
            selections.append(
                {p.id: select(drawer.pools[p.id], p, seed, student) for p in drawer.parts}
            )
    seconds = time.perf_counter() - started
    pairs: Counter = Counter()
    overlapping = outside = 0
    shares = []
    asked: Counter = Counter()
    for parts in selections:
        questions = [q for chosen in parts.values() for q in chosen]
        found = {
            " + ".join(sorted((a.id, b.id)))
            for a, b in itertools.combinations(questions, 2)
            if b.id in excluded[a.id]
        }
        pairs.update(found)
        overlapping += bool(found)
        share = drawer.expected(parts)
        shares.append(share)
        if drawer.band is not None and abs(share - drawer.target) > drawer.band + 1e-12:
            outside += 1
        asked.update({t for q in questions for t in q.topics})
    count = len(selections)
    return Survey(
        papers=count,
        constrained=constrained,
        overlapping=overlapping,
        overlap_share=overlapping / count if count else 0.0,
        pairs=dict(pairs.most_common()),
        target=drawer.target,
        band=drawer.band,
        expected_min=min(shares, default=0.0),
        expected_max=max(shares, default=0.0),
        spread=(max(shares) - min(shares)) if shares else 0.0,
        outside_band=outside,
        topics={t: asked[t] / count if count else 0.0 for t in bank.blueprint.topics},
        seconds=seconds,
    )
