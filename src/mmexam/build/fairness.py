"""Constrained selection: no two questions on a paper that exclude each other, the
blueprint's topic coverage in every part, and an expected difficulty inside a band.

`Drawer(bank).choose(seed, student)` returns the questions of every part, in
printed order. It tries attempt 0, 1, 2, ... until one satisfies everything:

- attempt 0 ranks each pool exactly as the unconstrained draw does (the
  `pick:<part>` key), so a paper that already met every constraint is drawn
  unchanged; attempt k > 0 ranks by `pick:<part>:<k>`;
- parts are filled least slack first (pool size minus pick: a part with one
  pick from three problems before the MCQs), each greedily in rank order,
  skipping a question that an already chosen one excludes, and one that
  would leave too few places for the topics the part's `cover` still needs;
- when the blueprint has `balance`, the paper's expected share of the
  non-bonus points (from each question's measured p-value when the bank has
  enough statistics, else its authored difficulty) must lie within
  `balance.band` of the target: the same share averaged over every pool.

Every attempt is a pure function of (bank, seed, student), so a paper is
reproducible; `balance.tries` attempts without success is a `BuildError`
saying which constraint could not be met.
"""

from __future__ import annotations

import statistics
import weakref
from dataclasses import dataclass
from typing import Any

from mmexam.bank.bank import Bank
from mmexam.bank.models import Part
from mmexam.build.variants import select, stable_key
from mmexam.errors import BuildError

DEFAULT_TRIES = 400
"""Attempts for a blueprint without `balance` (only exclusions and coverage to meet)."""


@dataclass(frozen=True)
class Choice:
    """One paper's questions per part (printed order), the attempt that gave them, its expectation."""

    parts: dict[str, list[Any]]
    attempt: int
    expected: float


class Drawer:
    """Everything the constrained draw needs about one bank, computed once."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self.parts = list(bank.blueprint.parts)
        self.pools = {part.id: list(bank.pool(part)) for part in self.parts}
        self.excluded = bank.excluded()
        self.share = {qid: bank.expected_share(qid) for qid in bank.questions}
        self.order = sorted(
            range(len(self.parts)),
            key=lambda k: (len(self.pools[self.parts[k].id]) - self.parts[k].pick, k),
        )
        balance = bank.blueprint.balance
        self.band = balance.band if balance is not None else None
        self.tries = balance.tries if balance is not None else DEFAULT_TRIES
        self.target = self.expected(
            {part.id: self.pools[part.id] for part in self.parts if self.pools[part.id]}
        )

    def expected(self, parts: dict[str, list[Any]]) -> float:
        """Expected share of the non-bonus points of a paper holding these questions."""
        total = weighted = 0.0
        for part in self.parts:
            chosen = parts.get(part.id)
            if part.bonus or not chosen:
                continue
            total += part.points
            weighted += part.points * statistics.fmean(self.share[q.id] for q in chosen)
        return weighted / total if total else 0.0

    def choose(self, seed: int, student: str) -> Choice:
        for part in self.parts:
            if len(self.pools[part.id]) < part.pick:
                select(self.pools[part.id], part, seed, student)  # raises: says which part
        best: Choice | None = None
        failures: dict[str, int] = {}
        for attempt in range(self.tries):
            parts = self._attempt(seed, student, attempt, failures)
            if parts is None:
                continue
            choice = Choice(parts, attempt, self.expected(parts))
            if self.band is None or abs(choice.expected - self.target) <= self.band + 1e-12:
                return choice
            if best is None or abs(choice.expected - self.target) < abs(
                best.expected - self.target
            ):
                best = choice
        raise BuildError(self._why(student, best, failures))

    def _why(self, student: str, best: Choice | None, failures: dict[str, int]) -> str:
        if best is not None:
            return (
                f"student {student}: no paper within ±{self.band:g} of the target expected "
                f"score {self.target:.3f} in {self.tries} tries (closest {best.expected:.3f}) "
                "— widen balance.band in exam.yaml, raise balance.tries, or add questions "
                "whose difficulty fills the gap"
            )
        worst = max(failures, key=lambda p: failures[p]) if failures else "?"
        return (
            f"student {student}: part '{worst}' could not be filled in {self.tries} tries "
            "without two questions that exclude each other or with its `cover` met — add "
            "questions to its pool, lower a cover's min, or drop an `excludes:`"
        )

    def _attempt(
        self, seed: int, student: str, attempt: int, failures: dict[str, int]
    ) -> dict[str, list[Any]] | None:
        blocked: set[str] = set()
        chosen: dict[str, list[Any]] = {}
        for k in self.order:
            part = self.parts[k]
            purpose = f"pick:{part.id}" if attempt == 0 else f"pick:{part.id}:{attempt}"
            ranked = sorted(
                self.pools[part.id], key=lambda q: stable_key(seed, student, purpose, q.id)
            )
            picked = fill(part, ranked, blocked, self.excluded)
            if picked is None:
                failures[part.id] = failures.get(part.id, 0) + 1
                return None
            for question in picked:
                blocked.add(question.id)
                blocked.update(self.excluded[question.id])
            chosen[part.id] = in_print_order(part, self.pools[part.id], picked, seed, student)
        return chosen


def fill(
    part: Part, ranked: list[Any], blocked: set[str], excluded: dict[str, frozenset[str]]
) -> list[Any] | None:
    """`part.pick` questions in rank order, none blocked or excluding each other, cover met."""
    need = [cover.min for cover in part.cover]
    picked: list[Any] = []
    blocked = set(blocked)
    for question in ranked:
        if len(picked) == part.pick:
            break
        if question.id in blocked:
            continue
        after = [
            max(0, n - (1 if any(t in cover.topics for t in question.topics) else 0))
            for n, cover in zip(need, part.cover)
        ]
        if sum(after) > part.pick - len(picked) - 1:
            continue  # taking it would leave too few places for the topics still needed
        picked.append(question)
        need = after
        blocked.add(question.id)
        blocked.update(excluded[question.id])
    return picked if len(picked) == part.pick else None


def in_print_order(
    part: Part, pool: list[Any], picked: list[Any], seed: int, student: str
) -> list[Any]:
    """Bank order, then shuffled by the `order:<part>` key when the part shuffles."""
    ids = {q.id for q in picked}
    ordered = [q for q in pool if q.id in ids]
    if part.shuffle:
        ordered.sort(key=lambda q: stable_key(seed, student, f"order:{part.id}", q.id))
    return ordered


_DRAWERS: dict[int, tuple[weakref.ref, Drawer]] = {}


def drawer_for(bank: Bank) -> Drawer:
    """The bank's `Drawer`, made once per bank object (a bank is immutable)."""
    found = _DRAWERS.get(id(bank))
    if found is not None and found[0]() is bank:
        return found[1]
    for key in [k for k, (ref, _) in _DRAWERS.items() if ref() is None]:
        del _DRAWERS[key]
    drawer = Drawer(bank)
    _DRAWERS[id(bank)] = (weakref.ref(bank), drawer)
    return drawer
