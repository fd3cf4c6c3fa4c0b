"""A student's result in Gradescope's autograder format (results.json).

The format is Gradescope's "Autograder Specifications" (gradescope-autograders
.readthedocs.io/en/latest/specs/): a top-level `score` (which overrides the
sum of the tests), an `output` for the whole submission, and `tests`, each
with `score`, `max_score`, `name`, `number`, `output`, `tags`, `visibility`.
One test per printed question; a code question's output lists every check
with its message. An item still waiting for a TA is an informational test
with no score (the spec allows tests without score when the top level has
one), so it is never shown as zero; the top-level score counts graded points
only and the output says how many items are pending.
"""

from __future__ import annotations

from mmexam.grade.results import ItemResult, StudentResult
from mmexam.grade.scoring import fmt_points

KIND_NAMES = {
    "mcq": "Multiple choice",
    "multi_select": "Select all that apply",
    "numeric": "Numeric answer",
    "short_answer": "Short answer",
    "code": "Code",
    "open": "Open question",
}

VISIBILITY = "after_published"
"""Tests appear to students when the TA publishes grades, not while grading goes on."""


def _round(x: float) -> float:
    return round(x + 0.0, 4)


def item_output(item: ItemResult) -> str:
    """The plain-text feedback for one item, as Gradescope shows it in a <pre> block."""
    lines = []
    if item.answer_shown or item.answer:
        lines.append(f"Your answer: {item.answer_shown or item.answer}")
    if item.pending:
        lines.append("Pending: a TA has not reviewed this answer yet.")
    elif item.expected and item.kind != "code" and item.points != item.max_points:
        lines.append(f"Expected: {item.expected}")
    lines.extend(item.messages)
    for check in item.checks:
        mark = "PASS" if check.passed else "FAIL"
        head = f"[{mark}] {check.name} ({fmt_points(check.score)}/{fmt_points(check.max_score)})"
        lines.append(head)
        if not check.passed and check.message:
            lines.extend("    " + line for line in check.message.splitlines())
    if item.comment:
        lines.append(f"Reviewer: {item.comment}")
    return "\n".join(lines)


def to_gradescope(result: StudentResult) -> dict:
    """The results.json object for one student."""
    tests = []
    for item in result.items:
        test: dict = {
            "name": f"{item.number} {KIND_NAMES[item.kind]}" + (" (bonus)" if item.bonus else ""),
            "number": item.number,
            "output": item_output(item),
            "output_format": "text",
            "tags": [item.part, item.kind],
            "visibility": VISIBILITY,
        }
        if item.pending:
            test["name"] += " — pending review"
        else:
            test["score"] = _round(item.points or 0.0)
            test["max_score"] = _round(item.max_points)
        tests.append(test)
    summary = [f"{fmt_points(result.total)} points" + (f" + {fmt_points(result.bonus_total)} bonus"
                                                        if result.bonus_total else "")]
    if result.pending:
        summary.append(f"{result.pending} answer(s) still wait for manual review and are not "
                       "counted yet.")
    if result.problems:
        summary.append("Problems with your submission:")
        summary.extend(f"- {p.line()}" for p in result.problems)
    return {
        "score": _round(result.total + result.bonus_total),
        "output": "\n".join(summary),
        "output_format": "text",
        "visibility": VISIBILITY,
        "stdout_visibility": "hidden",
        "extra_data": {
            "student": result.id,
            "variant": result.variant,
            "total": _round(result.total),
            "bonus": _round(result.bonus_total),
            "pending": result.pending,
            "status": result.status,
        },
        "tests": tests,
    }
