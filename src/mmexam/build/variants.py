"""Which questions each student gets, in which order, with which options and values.

Pure: a bank and (exam seed, student id) in, a `Paper` out. Every random
choice about a question is drawn from its own generator, seeded by a stable
hash of (exam seed, student id, what is being drawn, question id) — never
Python's `hash()`, which changes between runs. So editing or adding one
question changes only the draws that involve that question: the other
questions keep their options order and parameter values, and a pool whose
members did not change keeps its selection.

- Selection: each question of a part's pool gets a key from the hash; the
  `pick` smallest keys are drawn, skipping questions that one already on the
  paper excludes and keeping the part's topic cover and the blueprint's
  difficulty band (`mmexam.build.fairness`).
- Order within a part: by a second hash key when the part shuffles, else in
  bank order.
- Options (mcq, multi_select, also inside problems): the non-fixed options are
  shuffled among the non-fixed places; fixed options keep their place.
- Parameters: `draw_params(question, rng)` with the question's own generator,
  then `instantiate` renders every templated string.

The paper model and numbering are `mmexam.exam`'s ("1.3", "3.a", "6.1").
"""

from __future__ import annotations

import hashlib
import random
import string
from typing import Any

from mmexam.bank.models import Part, Problem
from mmexam.bank.params import draw_params, instantiate
from mmexam.errors import BuildError
from mmexam.exam import Paper, PaperPart, PlacedPart, PlacedQuestion
from mmexam.fmt import LETTERS


def stable_key(seed: int, student: str, purpose: str, question: str) -> bytes:
    """The sha256 digest of one draw's identity: stable across runs and machines."""
    text = "\x1f".join((str(seed), student, purpose, question))
    return hashlib.sha256(text.encode("utf-8")).digest()


def stable_rng(seed: int, student: str, purpose: str, question: str) -> random.Random:
    """A generator of its own for one draw about one question of one student."""
    return random.Random(int.from_bytes(stable_key(seed, student, purpose, question)[:8], "big"))


def version_letters(count: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: the codes of anonymous versions."""
    codes = []
    for n in range(count):
        code = ""
        n += 1
        while n:
            n, rest = divmod(n - 1, 26)
            code = string.ascii_uppercase[rest] + code
        codes.append(code)
    return codes


def variant_code(seed: int, student: str) -> str:
    """A short code printed in the footer of a roster student's paper."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
    value = int.from_bytes(stable_key(seed, student, "variant-code", "")[:5], "big")
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in range(6))


def shuffle_options(options: list[Any], rng: random.Random) -> list[int]:
    """Printed order of the options: `order[k]` is the authored index shown at letter k.

    Options authored as `{text, fixed: true}` stay where they were written.
    """
    movable = [i for i, option in enumerate(options) if not getattr(option, "fixed", False)]
    shuffled = movable[:]
    rng.shuffle(shuffled)
    order = list(range(len(options)))
    for place, index in zip(movable, shuffled):
        order[place] = index
    return order


def _option_order(body: Any, seed: int, student: str, key: str) -> list[int] | None:
    if body.kind not in ("mcq", "multi_select"):
        return None
    return shuffle_options(list(body.options), stable_rng(seed, student, "options", key))


def _json_value(value: Any) -> Any:
    """Parameter values as the manifest stores them (int, float or str)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def place_question(question: Any, number: str, seed: int, student: str) -> PlacedQuestion:
    """Draw the parameters and option orders of one question for one student."""
    params: dict[str, Any] = {}
    if question.params:
        params = draw_params(question, stable_rng(seed, student, "params", question.id))
        question = instantiate(question, params)
        params = {name: _json_value(value) for name, value in params.items()}
    if isinstance(question, Problem):
        parts = []
        for index, body in enumerate(question.parts):
            letter = LETTERS[index]
            parts.append(
                PlacedPart(
                    number=f"{number}.{letter}",
                    index=index,
                    label=body.label or f"({letter})",
                    body=body,
                    order=_option_order(body, seed, student, f"{question.id}#{index}"),
                )
            )
        points = sum(body.points for body in question.parts)
        return PlacedQuestion(number, question, points, params, None, parts)
    order = _option_order(question, seed, student, question.id)
    return PlacedQuestion(number, question, question.points, params, order)


def select(pool: list[Any], part: Part, seed: int, student: str) -> list[Any]:
    """The `pick` questions of one part for one student, in printed order."""
    if len(pool) < part.pick:
        raise BuildError(
            f"part '{part.id}' picks {part.pick} questions but its pool has {len(pool)} — "
            "add questions to the bank or lower 'pick' in exam.yaml"
        )
    ranked = sorted(pool, key=lambda q: stable_key(seed, student, f"pick:{part.id}", q.id))
    chosen = {q.id for q in ranked[: part.pick]}
    picked = [q for q in pool if q.id in chosen]  # bank order
    if part.shuffle:
        picked.sort(key=lambda q: stable_key(seed, student, f"order:{part.id}", q.id))
    return picked


def draw_paper(
    bank: Any,
    seed: int,
    student: str,
    *,
    name: str | None = None,
    variant: str | None = None,
    constrained: bool = True,
) -> Paper:
    """The paper of one student (or anonymous version) from the bank and exam seed.

    constrained: respect `excludes:`, each part's `cover` and the blueprint's
    `balance` (see `mmexam.build.fairness`); False draws every part on its own
    (the draw before exclusions existed, kept for comparison and benchmarks).
    """
    if constrained:
        from mmexam.build.fairness import drawer_for

        chosen = drawer_for(bank).choose(seed, student).parts
    else:
        chosen = {
            part.id: select(list(bank.pool(part.id)), part, seed, student)
            for part in bank.blueprint.parts
        }
    parts = []
    for k, part in enumerate(bank.blueprint.parts, start=1):
        picked = chosen[part.id]
        single = len(picked) == 1
        placed = [
            place_question(question, str(k) if single else f"{k}.{j}", seed, student)
            for j, question in enumerate(picked, start=1)
        ]
        parts.append(PaperPart(k, part, placed))
    return Paper(
        student=student,
        name=name,
        variant=variant or variant_code(seed, student),
        blueprint=bank.blueprint,
        parts=parts,
    )
