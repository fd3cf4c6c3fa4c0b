"""Per-student feedback.html: every question with the answer, points, the correct answer, why.

Rendered from `templates/feedback.html.j2` with autoescaping on: whatever a
student wrote is shown as text, never as HTML. Question text, options,
references and explanations come from the bank (Markdown + LaTeX) and go
through `mmexam.markup.to_html`, so math appears as MathML and the page
needs no JavaScript and no network.
"""

from __future__ import annotations

import functools

import jinja2
from markupsafe import Markup, escape

from mmexam.fmt import fmt_points
from mmexam.grade.gradescope import KIND_NAMES, plain
from mmexam.grade.results import ItemResult, RunInfo, StudentResult

MARKDOWN_EXPECTED = {"mcq", "multi_select", "short_answer", "open"}


@functools.lru_cache(maxsize=4096)
def markdown(text: str | None) -> Markup:
    """Bank Markdown + LaTeX as HTML; a formula that cannot convert is shown as text."""
    if not text:
        return Markup("")
    from mmexam.errors import MmexamError
    from mmexam.markup import to_html

    try:
        return Markup(to_html(text))
    except MmexamError:
        return Markup(f'<p class="raw">{escape(text)}</p>')


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    from mmexam.paths import TEMPLATES

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["points"] = fmt_points
    env.filters["markdown"] = markdown
    env.filters["plain"] = plain
    return env


def item_view(item: ItemResult) -> dict:
    """What the template shows for one item."""
    expected = item.expected
    if expected is not None and item.kind in MARKDOWN_EXPECTED:
        expected_html = markdown(expected)
    elif expected is not None:
        expected_html = Markup(f"<p>{escape(expected)}</p>")
    else:
        expected_html = Markup("")
    if item.answer_shown and item.kind in ("mcq", "multi_select"):
        answer_html = markdown(item.answer_shown)
    elif item.answer_shown:
        answer_html = Markup(f"<p>{escape(item.answer_shown)}</p>")
    else:
        answer_html = None
    if item.pending:
        state = "pending"
    elif item.points is not None and item.points >= item.max_points - 1e-9:
        state = "full"
    elif item.points:
        state = "partial"
    else:
        state = "zero"
    messages = item.messages
    if item.kind == "mcq" and answer_html is not None:
        # the answer and the correct answer already sit side by side
        messages = [m for m in messages if not m.startswith("Expected ")]
    rows, code_feedback = code_view(item)
    if any(c.cause == "not_loaded" for c in item.checks):
        # the file's block says it once, with the points it costs
        messages = [m for m in messages if " could not be loaded: " not in m]
    return {
        "item": item,
        "messages": messages,
        "kind_name": KIND_NAMES[item.kind],
        "state": state,
        "expected_html": expected_html,
        "answer_html": answer_html,
        "checks": rows,
        "code_feedback": code_feedback,
    }


def code_view(item: ItemResult) -> tuple[list[dict], list[str]]:
    """A code item's checks table (one row per check, its verdict) and its feedback: one
    block per broken function, then every other failed check with, for a failed value
    check, its failing inputs as a snippet — hidden checks' too: this page is written
    after grading (`mmexam.checks.present`)."""
    from mmexam.checks.present import failure_text, group_failures
    from mmexam.checks.results import TaskResult

    if not item.checks:
        return [], []
    filename = item.answer or ""
    grouped = group_failures(TaskResult(task="", filename=filename, checks=item.checks))
    css = {"passed": "pass", "skipped": "skip"}
    rows = []
    for c in item.checks:
        verdict = grouped.verdict(c)
        rows.append(
            {
                "name": c.name,
                "hidden": c.visibility == "hidden",
                "verdict": {"passed": "pass", "FAILED": "fail"}.get(verdict, verdict),
                "css": css.get(verdict, "fail"),
                "score": c.score,
                "max_score": c.max_score,
            }
        )
    texts = [block.text() for block in grouped.broken]
    texts += [f"{c.name}:\n{failure_text(c, filename, reveal_hidden=True)}" for c in grouped.failed]
    return rows, texts


def render_feedback(info: RunInfo, result: StudentResult) -> str:
    """The feedback page of one student."""
    parts = []
    for index, part in enumerate(info.parts, start=1):
        items = [i for i in result.items if i.part == part.id]
        if not items:
            continue
        contexts_seen: set[str] = set()
        views = []
        for item in items:
            view = item_view(item)
            context = item.context if item.context and item.question not in contexts_seen else None
            if item.context:
                contexts_seen.add(item.question)
            view["context_html"] = markdown(context) if context else None
            views.append(view)
        pending = sum(1 for i in items if i.pending)
        parts.append(
            {
                "number": index,
                "info": part,
                "points": result.part_points(part.id),
                "max": sum(i.max_points for i in items),
                "pending": pending,
                "entries": views,
            }
        )
    template = environment().get_template("feedback.html.j2")
    return template.render(info=info, result=result, parts=parts)
