"""The quiz's core: choose questions, draw their parameters, score typed answers.

Pure functions over bank models; the terminal session that asks and prints
is `mmexam.cli.practice`. A question becomes a `QuizItem`: its parameters
drawn fresh (`mmexam.bank.params`), its options shuffled as the exam shuffles
them (`mmexam.build.variants.shuffle_options`: pinned options keep their place), and one `Step` per thing to answer (a problem has one per part).
Answers are scored like the exam scores them: an mcq by its letter, a
multi-select by its partial-credit policy, a number within its tolerance;
short answers and open questions are self-assessed against the rubric;
code parts are practised with `mmexam practice check`, not in the quiz.
"""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass, field
from typing import Literal

from mmexam.bank.models import (
    Blueprint,
    CodeBody,
    McqBody,
    MultiSelectBody,
    NumericBody,
    OpenBody,
    Option,
    Problem,
    Question,
    ShortAnswerBody,
)
from mmexam.errors import PracticeError
from mmexam.exam import Kind
from mmexam.fmt import LETTERS

Body = McqBody | MultiSelectBody | NumericBody | ShortAnswerBody | CodeBody | OpenBody
Verdict = Literal["right", "partly", "wrong", "skipped", "self", "code"]


class InvalidAnswer(ValueError):
    """The typed text is not an answer of the right form; the message says what is."""


# ---------------------------------------------------------------- choosing


def choose(
    questions: list[Question],
    blueprint: Blueprint,
    *,
    parts: list[str] | None = None,
    topics: list[str] | None = None,
    count: int | None = None,
    rng: random.Random,
    first: set[str] | frozenset[str] = frozenset(),
) -> list[Question]:
    """Pick the quiz's questions: filter by part and topic, shuffle, put `first` ids first.

    An unknown part or topic, or filters that leave nothing, raise `PracticeError`.
    """
    known_parts = [p.id for p in blueprint.parts]
    for part in parts or []:
        if part not in known_parts:
            raise PracticeError(
                f"--part {part}: no such part — use one of {', '.join(known_parts)}"
            )
    for topic in topics or []:
        if topic not in blueprint.topics:
            close = difflib.get_close_matches(topic, list(blueprint.topics), n=1)
            hint = (
                f"did you mean {close[0]}?"
                if close
                else f"use one of {', '.join(blueprint.topics)}"
            )
            raise PracticeError(f"--topic {topic}: no such topic — {hint}")
    if count is not None and count < 1:
        raise PracticeError(f"--count {count}: ask for at least 1 question")
    pool = [
        q
        for q in questions
        if (not parts or q.part in parts) and (not topics or set(q.topics) & set(topics))
    ]
    if not pool:
        asked = " ".join(
            [f"--part {p}" for p in parts or []] + [f"--topic {t}" for t in topics or []]
        )
        raise PracticeError(
            f"no practice questions match {asked or 'this bundle'} — widen the filters"
        )
    rng.shuffle(pool)
    pool.sort(key=lambda q: q.id not in first)  # stable: missed ones first, each group shuffled
    return pool[:count] if count else pool


# ---------------------------------------------------------------- preparing


@dataclass(frozen=True)
class Step:
    """One thing to answer: a whole question, or one part of a problem."""

    body: Body
    label: str | None = None
    order: tuple[int, ...] = ()  # order[k] = authored index of the option shown at letter k

    @property
    def kind(self) -> Kind:
        return self.body.kind

    @property
    def points(self) -> float:
        return self.body.points

    def options(self) -> list[str]:
        """The option texts in display order."""
        if not isinstance(self.body, (McqBody, MultiSelectBody)):
            return []
        authored = [o.text if isinstance(o, Option) else o for o in self.body.options]
        return [authored[i] for i in self.order]

    def letter_of(self, authored_letter: str) -> str:
        """The displayed letter of an option given by its authored letter."""
        return LETTERS[self.order.index(LETTERS.index(authored_letter))]


@dataclass(frozen=True)
class QuizItem:
    """A question as this quiz asks it: parameters drawn, options shuffled."""

    question: Question
    steps: list[Step]
    params: dict = field(default_factory=dict)

    @property
    def setup(self) -> str | None:
        """The shared text of a problem (its parts carry their own text)."""
        return self.question.text if isinstance(self.question, Problem) else None


def prepare(question: Question, rng: random.Random) -> QuizItem:
    """Draw the question's parameters and shuffle its options."""
    from mmexam.bank.params import draw_params, instantiate
    from mmexam.build.variants import shuffle_options

    values = draw_params(question, rng) if question.params else {}
    concrete = instantiate(question, values)
    labelled: list[tuple[Body, str | None]]
    if isinstance(concrete, Problem):
        labelled = [(p, p.label or f"({LETTERS[k]})") for k, p in enumerate(concrete.parts)]
    else:
        labelled = [(concrete, None)]
    steps = []
    for body, label in labelled:
        order = (
            tuple(shuffle_options(body.options, rng))
            if isinstance(body, (McqBody, MultiSelectBody))
            else ()
        )
        steps.append(Step(body=body, label=label, order=order))
    return QuizItem(question=concrete, steps=steps, params=values)


# ---------------------------------------------------------------- scoring
#
# Choices and numbers are scored by the exam's own scorer
# (`mmexam.grade.scoring.score_item`), so practice and grading agree on every
# point: the same letter parsing, partial-credit policies and tolerances.


@dataclass(frozen=True)
class Outcome:
    """The verdict on one step, and what to tell the student."""

    verdict: Verdict
    earned: float
    possible: float
    expected: str = ""  # displayed letters ("a, c"), or the number with its tolerance
    got: str = ""  # displayed letters, or the number as read
    wrong_picks: tuple[str, ...] = ()  # choices: picked but not correct
    missed_picks: tuple[str, ...] = ()  # multi-select: correct but not picked
    detail: str = ""  # the grader's message (numeric: the differences)

    @property
    def missed(self) -> bool:
        """Not fully right (code steps are not scored in the quiz)."""
        return self.verdict != "code" and self.earned < self.possible - 1e-9


def _graded(step: Step, response: str):
    """Score `response` with the exam's scorer; raise `InvalidAnswer` for malformed input."""
    from mmexam.exam import Item
    from mmexam.grade.scoring import score_item
    from mmexam.grade.submissions import Answer

    item = Item(
        number=step.label or "answer",
        part="practice",
        question="practice",
        kind=step.kind,
        points=step.points,
        options=list(step.order) if step.order else None,
    )
    answer = Answer(value=response.strip(), line=0) if response.strip() else None
    scored = score_item(item, step.body, answer)
    if scored.problems:
        reason = scored.problems[0].message.removeprefix(f"{item.number}: ")
        raise InvalidAnswer(reason)
    return scored.result


def _verdict(result, possible: float) -> Verdict:
    if result.answer is None:
        return "skipped"
    if result.points >= possible - 1e-9:
        return "right"
    return "partly" if result.points > 0 else "wrong"


def score_choice(step: Step, response: str) -> Outcome:
    """Score an mcq or multi-select answer typed as displayed letters ('' skips)."""
    if step.kind == "mcq" and re.fullmatch(r"\s*[a-zA-Z](\s*[,;\s]\s*[a-zA-Z])+\s*", response):
        raise InvalidAnswer("pick exactly one letter")
    result = _graded(step, response)
    shown = {authored: LETTERS[k] for k, authored in enumerate(step.order)}
    key = sorted(shown[j] for j in result.key)
    chosen = sorted(shown[j] for j in result.chosen or [])
    return Outcome(
        _verdict(result, step.points),
        result.points,
        step.points,
        expected=", ".join(key),
        got=", ".join(chosen),
        wrong_picks=tuple(c for c in chosen if c not in key),
        missed_picks=tuple(k for k in key if k not in chosen)
        if step.kind == "multi_select"
        else (),
    )


def score_numeric(step: Step, response: str) -> Outcome:
    """Score a typed number against the answer and its tolerance ('' skips)."""
    try:
        result = _graded(step, response)
    except InvalidAnswer:
        raise InvalidAnswer("type a number, e.g. 42, -0.5, 1e-3 or 3/4") from None
    return Outcome(
        _verdict(result, step.points),
        result.points,
        step.points,
        expected=result.expected,
        got=result.answer_shown or "",
        detail=result.messages[0] if result.messages and result.answer else "",
    )


def score_self(step: Step, response: str) -> Outcome:
    """The points a student awards themselves after reading the rubric ('' skips)."""
    from mmexam.fmt import fmt_number
    from mmexam.grade.scoring import parse_number

    top = fmt_number(step.points)
    if not response.strip():
        return Outcome("skipped", 0.0, step.points)
    value = parse_number(response)
    if value is None:
        raise InvalidAnswer(f"type the points you award yourself, 0 to {top}")
    if not 0 <= value <= step.points:
        raise InvalidAnswer(f"award between 0 and {top} points")
    return Outcome("self", value, step.points, got=fmt_number(value))


def rubric_hits(body: ShortAnswerBody | OpenBody, answer: str) -> list[bool]:
    """Which rubric items the typed answer seems to meet (the grader's keyword/regex hint)."""
    from mmexam.grade.scoring import rubric_matches

    matched = set(rubric_matches(body.rubric, answer)) if answer.strip() else set()
    return [i in matched for i in range(len(body.rubric))]


def score(step: Step, response: str) -> Outcome:
    """Score a typed response to any step; `InvalidAnswer` asks for it again."""
    if step.kind in ("mcq", "multi_select"):
        return score_choice(step, response)
    if step.kind == "numeric":
        return score_numeric(step, response)
    if step.kind in ("short_answer", "open"):
        return score_self(step, response)
    return Outcome("code", 0.0, 0.0)


# ---------------------------------------------------------------- the score


@dataclass
class Tally:
    """The running score of a quiz."""

    earned: float = 0.0
    possible: float = 0.0
    asked: int = 0  # questions finished
    right: int = 0  # questions fully right
    code: int = 0  # code steps pointed to `practice check`

    def add(self, outcomes: list[Outcome]) -> bool:
        """Count a finished question; return whether it was missed."""
        scored = [o for o in outcomes if o.verdict != "code"]
        self.code += len(outcomes) - len(scored)
        self.earned += sum(o.earned for o in scored)
        self.possible += sum(o.possible for o in scored)
        missed = any(o.missed for o in scored)
        if scored:
            self.asked += 1
            self.right += not missed
        return missed

    def add_partial(self, outcomes: list[Outcome]) -> None:
        """Count the answered steps of a question left unfinished (Ctrl-C mid-problem)."""
        scored = [o for o in outcomes if o.verdict != "code"]
        self.earned += sum(o.earned for o in scored)
        self.possible += sum(o.possible for o in scored)
