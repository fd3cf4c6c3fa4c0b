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

import functools

from mmexam.fmt import fmt_points
from mmexam.grade.results import ItemResult, StudentResult

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


@functools.lru_cache(maxsize=4096)
def plain(text: str) -> str:
    """Bank Markdown + LaTeX as readable text (Gradescope shows test output as plain text)."""
    if "$" not in text and "*" not in text and "`" not in text:
        return text
    from mmexam.errors import MmexamError
    from mmexam.markup import to_plain

    try:
        return to_plain(text).strip()
    except MmexamError:
        return text


def item_output(item: ItemResult) -> str:
    """The plain-text feedback for one item, as Gradescope shows it in a <pre> block."""
    choice = item.kind in ("mcq", "multi_select")
    lines = []
    if item.answer_shown or item.answer:
        shown = item.answer_shown or item.answer or ""
        lines.append(f"Your answer: {plain(shown) if choice else shown}")
    if item.pending:
        lines.append("Pending: a TA has not reviewed this answer yet.")
    messages = [plain(m) if choice else m for m in item.messages]
    explained = any(m.startswith("Expected") for m in messages)
    if (
        item.expected
        and item.kind != "code"
        and not item.pending
        and not explained
        and (item.points or 0) < item.max_points
    ):
        expected = plain(item.expected) if choice or item.kind == "short_answer" else item.expected
        lines.append(f"Expected: {expected}")
    lines.extend(messages)
    for check in item.checks:
        if check.skipped:
            lines.append(f"[SKIP] {check.name}: {check.message}")
            continue
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
            "tags": sorted({item.part, item.kind}),
            "visibility": VISIBILITY,
        }
        if item.pending:
            test["name"] += " — pending review"
        else:
            test["score"] = _round(item.points or 0.0)
            test["max_score"] = _round(item.max_points)
        tests.append(test)
    summary = [
        f"{fmt_points(result.total)} points"
        + (f" + {fmt_points(result.bonus_total)} bonus" if result.bonus_total else "")
    ]
    if result.pending:
        summary.append(
            f"{result.pending} answer(s) still wait for manual review and are not counted yet."
        )
    if result.problems:
        summary.append("Problems with your submission:")
        summary.extend(f"- {p.line()}" for p in result.problems)
    if result.intake:
        summary.append("How your submission was read:")
        summary.extend(f"- {n.line()}" for n in result.intake)
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
