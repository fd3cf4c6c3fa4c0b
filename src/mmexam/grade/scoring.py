"""Score one answer against the question the student saw. Pure: models in, models out.

The student answers by the letters printed on *their* paper; `Item.options[k]`
is the authored index of the option printed at letter k, so their letter k
means authored option `options[k]`, and the correct authored option `j` was
printed at the letter k with `options[k] == j`. Numeric answers are compared
with the value computed from the student's own parameters (the caller passes
the question already instantiated with them). Short answers get a *suggested*
score from the rubric's keywords and regexes and wait for a TA; open answers
wait for a TA with no suggestion. Code items take the share of the check
points earned on the item's functions. An answer written on paper (its scanned
crops, `Answer.on_paper`) waits for a TA with its pictures, code included when
no file was submitted; a number on paper scores nothing until a person types it.

A wrong answer is data (points and a message); an answer of the wrong type
(a word where a letter belongs, a letter that is not on the paper) is also
a `SubmissionProblem`, so the student and the TA both see it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mmexam.checks.results import TaskResult
from mmexam.exam import Item
from mmexam.fmt import fmt_number, fmt_points, letter, letter_span
from mmexam.grade.results import ItemResult, SubmissionProblem
from mmexam.grade.submissions import Answer

DEFAULT_REL_TOL = 1e-9
"""Numeric answers with no tolerance in the bank must match up to float rounding."""


@dataclass
class Scored:
    """The result of scoring one item, with the problems it revealed."""

    result: ItemResult
    problems: list[SubmissionProblem] = field(default_factory=list)


def option_text(option) -> str:
    return option if isinstance(option, str) else option.text


def score_item(
    item: Item,
    body,
    answer: Answer | None,
    *,
    context: str | None = None,
    code: TaskResult | None = None,
    filename: str = "answers.yaml",
) -> Scored:
    """Score `answer` for `item`, whose instantiated bank body is `body`.

    A code item reads `code`, the checks' result on the student's file for its task
    (None when that file was not submitted).
    """
    base = ItemResult(
        number=item.number,
        part=item.part,
        question=item.question,
        subpart=item.subpart,
        kind=item.kind,
        bonus=item.bonus,
        max_points=item.points,
        points=0.0,
        status="auto",
        text=body.text,
        context=context,
        explanation=getattr(body, "explanation", None),
    )
    where = f"{filename}:{answer.line}" if answer is not None else filename
    scorer = _SCORERS[item.kind]
    return scorer(item, body, answer, base, where, code)


def _problem(where: str, item: Item, message: str) -> SubmissionProblem:
    return SubmissionProblem(where=where, message=f"{item.number}: {message}", number=item.number)


def _unanswered(base: ItemResult) -> Scored:
    base.messages.append("No answer given.")
    return Scored(base)


def _to_review_on_paper(base: ItemResult, answer: Answer) -> Scored:
    """An answer written on paper: its pictures go to a TA, pending until graded."""
    base.crops = list(answer.crops)
    base.answer_shown = "Written on paper (scanned: " + ", ".join(answer.crops) + ")"
    base.messages.append("Written on paper: a TA grades it from the scanned page.")
    base.points = None
    base.status = "review"
    return Scored(base)


# ---------------------------------------------------------------- choices


_LETTER = re.compile(r"^\(?\s*([A-Za-z])\s*[).:]?(?:\s.*)?$", re.DOTALL)


def _parse_letter(raw: str) -> str | None:
    match = _LETTER.match(raw.strip())
    if not match:
        return None
    return match.group(1).lower()


def _single_letter(token: str) -> int | None:
    """'c', '(c)', 'C)' -> 2; anything else -> None."""
    text = token.strip().strip("()").rstrip(").:").strip()
    if len(text) == 1 and "a" <= text.lower() <= "z":
        return ord(text.lower()) - ord("a")
    return None


def _permutation(item: Item, n: int) -> list[int]:
    return list(item.options) if item.options is not None else list(range(n))


def _shown(perm: Sequence[int], options, authored: int) -> str:
    k = perm.index(authored)
    return f"({letter(k)}) {option_text(options[authored])}"


def _score_mcq(item, body, answer, base, where, code) -> Scored:
    n = len(body.options)
    perm = _permutation(item, n)
    key = ord(body.answer) - ord("a")
    accepted = [key, *(ord(x) - ord("a") for x in getattr(body, "accept", ()))]
    base.key = accepted
    base.option_count = n
    base.expected = " or ".join(_shown(perm, body.options, j) for j in accepted)
    if answer is None or answer.value is None or answer.value == []:
        return _unanswered(base)
    raw = answer.value
    if isinstance(raw, list):
        if len(raw) != 1:
            base.answer = ", ".join(raw)
            base.messages.append(f"Expected one letter, got {len(raw)}: {base.answer}.")
            return Scored(
                base,
                [
                    _problem(
                        where,
                        item,
                        f"one letter expected ({letter_span(n)}), got a list of {len(raw)}",
                    )
                ],
            )
        raw = raw[0]
    base.answer = raw
    picked = _parse_letter(raw)
    if picked is None or not 0 <= ord(picked) - ord("a") < n:
        base.messages.append(f"Expected one of the letters {letter_span(n)}, got {raw!r}.")
        return Scored(
            base, [_problem(where, item, f"{raw!r} is not one of the letters {letter_span(n)}")]
        )
    k = ord(picked) - ord("a")
    authored = perm[k]
    base.chosen = [authored]
    base.answer_shown = f"({picked}) {option_text(body.options[authored])}"
    if authored in accepted:
        base.points = item.points
        if authored != key:
            base.messages.append(
                "Accepted: the question turned out ambiguous and this option also earns the points."
            )
    else:
        base.messages.append(f"Expected {base.expected}, got {base.answer_shown}.")
    return Scored(base)


def _split_letters(raw: str) -> list[str]:
    text = raw.strip()
    if re.fullmatch(r"[A-Za-z]+", text) and len(text) <= 26:
        return list(text.lower())
    return [p for p in re.split(r"[\s,;/]+", text) if p]


def _score_multi(item, body, answer, base, where, code) -> Scored:
    n = len(body.options)
    perm = _permutation(item, n)
    key = sorted(ord(a) - ord("a") for a in body.answers)
    base.key = key
    base.option_count = n
    base.expected = "; ".join(_shown(perm, body.options, j) for j in sorted(key, key=perm.index))
    if answer is None or answer.value is None or answer.value == []:
        return _unanswered(base)
    raw = answer.value
    tokens = raw if isinstance(raw, list) else _split_letters(raw)
    base.answer = ", ".join(tokens)
    problems: list[SubmissionProblem] = []
    picked: set[int] = set()
    bad = []
    for token in tokens:
        k = _single_letter(token)
        if k is None or k >= n:
            bad.append(token)
            continue
        picked.add(perm[k])
    if bad:
        listed = ", ".join(repr(b) for b in bad)
        problems.append(
            _problem(where, item, f"{listed} not among the letters {letter_span(n)}; ignored")
        )
        base.messages.append(f"Ignored {listed}: not among the letters {letter_span(n)}.")
    base.chosen = sorted(picked)
    base.answer_shown = "; ".join(
        _shown(perm, body.options, j) for j in sorted(picked, key=perm.index)
    )
    correct = set(key)
    share, rule = _multi_share(body.scoring, picked, correct, n)
    base.points = item.points * share
    if picked != correct:
        missed = correct - picked
        parts = []
        if missed:
            parts.append(
                "missed " + ", ".join(letter(perm.index(j)) for j in sorted(missed, key=perm.index))
            )
        if picked - correct:
            parts.append(
                "wrongly chose "
                + ", ".join(letter(perm.index(j)) for j in sorted(picked - correct, key=perm.index))
            )
        base.messages.append(
            f"Expected {base.expected}; {'; '.join(parts)} — {rule}: "
            f"{fmt_points(base.points)} of {fmt_points(item.points)} points."
        )
    return Scored(base, problems)


def _multi_share(scoring: str, picked: set[int], correct: set[int], n: int) -> tuple[float, str]:
    """The share of a multi-select item's points earned, and the rule that gave it."""
    right = len(picked & correct)
    wrong = len(picked - correct)
    if scoring == "all_or_nothing":
        return (1.0 if picked == correct else 0.0), "full points only for exactly the correct set"
    if scoring == "per_option":
        marked_right = sum(1 for j in range(n) if (j in picked) == (j in correct))
        return marked_right / n, f"{marked_right} of {n} options marked correctly"
    share = max(0.0, (right - wrong) / len(correct))
    return share, f"({right} right − {wrong} wrong) / {len(correct)} correct"


# ---------------------------------------------------------------- numbers


_FRACTION = re.compile(r"^([-+]?\d+(?:\.\d*)?)\s*/\s*([-+]?\d+(?:\.\d*)?)$")


def parse_number(raw: str, unit: str | None = None) -> float | None:
    """'20', '2.5e-3', '−1', '1/4', '3 GB' (with unit 'GB'), '1_000' -> float; else None."""
    text = raw.strip().replace("\u2212", "-").replace("_", "").replace("\u00a0", " ")
    if unit and text.lower().endswith(unit.lower()):
        text = text[: -len(unit)].strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    try:
        value = float(text)
    except ValueError:
        match = _FRACTION.match(text)
        if not match or float(match.group(2)) == 0:
            return None
        value = float(match.group(1)) / float(match.group(2))
    return value if math.isfinite(value) else None


def _tolerance_text(body) -> str:
    parts = []
    if body.abs_tol:
        parts.append(f"± {fmt_number(body.abs_tol)}")
    if body.rel_tol:
        parts.append(f"± {fmt_number(body.rel_tol * 100)}%")
    return " or ".join(parts) if parts else "exact"


def _score_numeric(item, body, answer, base, where, code) -> Scored:
    expected = float(body.answer)
    unit = f" {body.unit}" if body.unit else ""
    base.expected = f"{fmt_number(expected)}{unit} ({_tolerance_text(body)})"
    if answer is not None and answer.on_paper:  # numbers are typed by a person, never read
        base.crops = list(answer.crops)
        base.messages.append("Written on paper and not typed in yet: no points until it is.")
        message = "written on paper and not typed in yet — type it in scans/resolve.csv"
        return Scored(base, [_problem(where, item, message)])
    if answer is None or answer.value is None or answer.value == []:
        return _unanswered(base)
    raw = answer.value
    if isinstance(raw, list):
        base.answer = ", ".join(raw)
        base.messages.append(f"Expected one number, got a list: {base.answer}.")
        return Scored(base, [_problem(where, item, "one number expected, got a list")])
    base.answer = raw
    got = parse_number(raw, body.unit)
    if got is None:
        base.messages.append(f"Expected a number, got {raw!r}.")
        return Scored(base, [_problem(where, item, f"{raw!r} is not a number")])
    base.answer_shown = f"{fmt_number(got)}{unit}"
    diff = abs(got - expected)
    allowed = []
    if body.abs_tol is not None:
        allowed.append(body.abs_tol)
    if body.rel_tol is not None:
        allowed.append(body.rel_tol * abs(expected))
    if not allowed:
        allowed.append(DEFAULT_REL_TOL * max(abs(expected), 1e-12))
    if diff <= max(allowed) * (1 + 1e-12):
        base.points = item.points
    else:
        rel = diff / abs(expected) if expected else math.inf
        base.messages.append(
            f"Expected {fmt_number(expected)}{unit}, got {fmt_number(got)}{unit}: "
            f"absolute difference {fmt_number(diff)} (up to {fmt_number(max(allowed))} allowed), "
            f"relative difference {fmt_number(rel)}."
        )
    return Scored(base)


# ---------------------------------------------------------------- text


def _as_text(answer: Answer | None) -> str | None:
    if answer is None or answer.value is None:
        return None
    text = "\n".join(answer.value) if isinstance(answer.value, list) else answer.value
    return text if text.strip() else None


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A keyword matches at the start of a word, case-insensitively ('product' in 'products')."""
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(words), re.IGNORECASE)


def rubric_matches(rubric, text: str) -> list[int]:
    """Indices of the rubric items whose keywords or regex occur in `text`."""
    matched = []
    for index, rule in enumerate(rubric):
        hit = any(keyword_pattern(k).search(text) for k in rule.keywords if k.strip())
        if not hit and rule.regex:
            try:
                hit = re.search(rule.regex, text, re.IGNORECASE) is not None
            except re.error:
                hit = False
        if hit:
            matched.append(index)
    return matched


def _score_short(item, body, answer, base, where, code) -> Scored:
    base.expected = body.reference
    if answer is not None and answer.on_paper:
        return _to_review_on_paper(base, answer)
    text = _as_text(answer)
    if text is None:
        return _unanswered(base)
    base.answer = text
    hits = rubric_matches(body.rubric, text)
    total = sum(r.points for r in body.rubric)
    scale = item.points / total if total else 0.0
    base.matched = [body.rubric[i].description for i in hits]
    base.suggested = round(min(item.points, sum(body.rubric[i].points for i in hits) * scale), 4)
    base.points = None
    base.status = "review"
    return Scored(base)


def _score_open(item, body, answer, base, where, code) -> Scored:
    base.expected = "; ".join(f"{r.description} ({fmt_points(r.points)})" for r in body.rubric)
    if answer is not None and answer.on_paper:
        return _to_review_on_paper(base, answer)
    text = _as_text(answer)
    if text is None:
        return _unanswered(base)
    base.answer = text
    base.points = None
    base.status = "review"
    return Scored(base)


# ---------------------------------------------------------------- code


def _score_code(item, body, answer, base, where, code: TaskResult | None) -> Scored:
    functions = list(body.functions)
    base.code_task = body.task
    base.expected = "every check passes for " + ", ".join(f"{f}()" for f in functions)
    problems: list[SubmissionProblem] = []
    if code is None and answer is not None and answer.on_paper:
        return _to_review_on_paper(base, answer)  # no file: the code written on paper
    if answer is not None and answer.value is not None:
        problems.append(
            _problem(
                where,
                item,
                f"code is graded from {body.task}.py, not from "
                "answers.yaml; this answer was ignored",
            )
        )
    if code is None:
        filename = f"{body.task}.py"
        base.messages.append(
            f"{filename} was not submitted: expected a file {filename} defining "
            + ", ".join(f"{f}()" for f in functions)
            + "."
        )
        return Scored(base, problems)
    base.answer = code.filename
    if code.sandbox != "bwrap":
        base.messages.append(
            f"{code.filename} ran WITHOUT a sandbox ({code.sandbox}): the run opted out "
            "with --no-sandbox."
        )
    if code.failure:
        base.messages.append(
            f"Not graded yet: the grader failed while running {code.filename} "
            f"({code.failure}). The next run grades it again."
        )
        return Scored(base, problems)
    mine = [c for c in code.checks if c.function in functions]
    base.checks = mine
    if code.load_error:
        base.messages.append(f"{code.filename} could not be loaded: {code.load_error}")
    max_total = sum(c.max_score for c in mine)
    if not mine or max_total <= 0:
        if not code.load_error:
            base.messages.append(
                "No autograder check covers "
                + ", ".join(functions)
                + "; ask your TA to grade it by hand."
            )
        base.points = 0.0
        return Scored(base, problems)
    earned = sum(max(0.0, min(c.score, c.max_score)) for c in mine)
    base.points = item.points * earned / max_total
    ran = [c for c in mine if not c.skipped]
    failed = [c for c in ran if not c.passed]
    if failed:
        base.messages.append(
            f"{len(ran) - len(failed)} of {len(ran)} checks passed "
            f"({fmt_points(earned)} of {fmt_points(max_total)} check points)."
        )
    return Scored(base, problems)


_SCORERS = {
    "mcq": _score_mcq,
    "multi_select": _score_multi,
    "numeric": _score_numeric,
    "short_answer": _score_short,
    "open": _score_open,
    "code": _score_code,
}
