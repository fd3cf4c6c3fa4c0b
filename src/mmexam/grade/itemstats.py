"""Item statistics from a grading run, for `mmexam bank learn GRADES_DIR`.

For every bank question on the graded papers (a problem counts as one
question, its parts summed):

- n: the students whose answer to it is graded (no part pending);
- p: the mean share of its points they earned (its difficulty: 1 = easy);
- r_pb: the point-biserial correlation between that share and the share of
  the student's other graded points (the paper without this question, and
  without answers still pending review: those are left out, never counted
  as 0), so that a question does not correlate with itself (its
  discrimination).

Submissions off the roster (run.json's `off_roster`) are not the class and
are not measured.

Below `min_n` students nothing is claimed: p and n are recorded (they add up
over sittings only by re-measuring, not by averaging), r_pb is null, and the
draw keeps using the authored difficulty. A question whose content changed
since it was graded (its hash in the results' fingerprints differs from the
bank's) is left out: the numbers would describe another question.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.bank.bank import Bank
from mmexam.bank.statistics import (
    MIN_N,
    ItemStatistic,
    StatisticsFile,
    question_hash,
    read_statistics,
    write_statistics,
)
from mmexam.errors import GradeError
from mmexam.grade.report import pearson, rest_share
from mmexam.grade.rescore import graded_results
from mmexam.grade.results import RunInfo, StudentResult


@dataclass
class Learned:
    """What `learn` measured and wrote."""

    path: Path
    students: int
    min_n: int
    items: dict[str, ItemStatistic] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def too_small(self) -> list[str]:
        return sorted(q for q, s in self.items.items() if s.n < self.min_n)


def shares(result: StudentResult) -> dict[str, float]:
    """Share of each fully graded question's points this student earned."""
    earned: dict[str, float] = defaultdict(float)
    worth: dict[str, float] = defaultdict(float)
    pending: set[str] = set()
    for item in result.items:
        if item.points is None:
            pending.add(item.question)
            continue
        earned[item.question] += item.points
        worth[item.question] += item.max_points
    return {q: earned[q] / worth[q] for q in worth if q not in pending and worth[q] > 0}


def measure(
    results: list[StudentResult], bank: Bank, *, min_n: int = MIN_N
) -> tuple[dict[str, ItemStatistic], list[str], list[str]]:
    """(statistics by question, stale question ids, ids no longer in the bank)."""
    per: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    seen_hash: dict[str, set[str]] = defaultdict(set)
    for result in results:
        own = shares(result)
        for qid, share in own.items():
            rest = rest_share(result, qid, whole_question=True)
            per[qid].append((share, rest))
            if result.fingerprint is not None and qid in result.fingerprint.questions:
                seen_hash[qid].add(result.fingerprint.questions[qid])
    found: dict[str, ItemStatistic] = {}
    stale, unknown = [], []
    for qid in sorted(per):
        question = bank.questions.get(qid)
        if question is None:
            unknown.append(qid)
            continue
        digest = question_hash(question)
        if seen_hash[qid] and seen_hash[qid] != {digest}:
            stale.append(qid)
            continue
        pairs = per[qid]
        xs = [x for x, _ in pairs]
        both = [(x, y) for x, y in pairs if y is not None]
        r = pearson([x for x, _ in both], [y for _, y in both]) if len(both) >= min_n else None
        found[qid] = ItemStatistic(
            p=round(statistics.fmean(xs), 4),
            r_pb=None if r is None else round(r, 4),
            n=len(pairs),
            hash=digest,
        )
    return found, stale, unknown


def _off_roster(grades: Path) -> list[str]:
    """The submissions the run listed off the roster (none when run.json is missing)."""
    try:
        return RunInfo.model_validate_json((Path(grades) / "run.json").read_text()).off_roster
    except (OSError, ValueError):
        return []


def learn(grades: Path, bank: Bank, *, min_n: int = MIN_N) -> Learned:
    """Measure the graded results in `grades` and write them beside the bank."""
    results = graded_results(grades)
    apart = set(_off_roster(grades))
    results = [r for r in results if r.id not in apart]
    if not results:
        raise GradeError(
            f"{grades}: no graded results in {Path(grades) / 'graded'} — give the folder "
            "`mmexam grade --out` wrote"
        )
    items, stale, unknown = measure(results, bank, min_n=min_n)
    before = read_statistics(bank.root) or StatisticsFile(min_n=min_n)
    merged = {**before.items, **items}
    sources = (
        [*before.sources, str(grades)] if str(grades) not in before.sources else before.sources
    )
    path = write_statistics(
        bank.root, StatisticsFile(min_n=min_n, sources=sources, items=dict(sorted(merged.items())))
    )
    return Learned(path, len(results), min_n, items, stale, unknown)
