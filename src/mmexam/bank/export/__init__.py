"""`mmexam bank export --to moodle-xml|qti`: the auto-gradable bank as an LMS quiz bank.

For instructors who run the multiple-choice part as an LMS quiz. What goes out
(`lms_items`): every mcq, multi_select and numeric question, and every short
answer as an essay with its rubric and model answer as grader information —
problem parts of those kinds too, each with the problem's setup in front. Code
and open questions stay out (listed in the result's notes). A parameterised
question goes out as N drawn versions (seeded: the same seed gives the same
versions), grouped so a quiz can draw one of them. Math stays LaTeX, written
between `\\(...\\)` and `\\[...\\]`, which Moodle's MathJax filter and Canvas
render; the rest of the Markdown becomes HTML (`lms_html`).

The writers: `mmexam.bank.export.moodle` (Moodle XML) and
`mmexam.bank.export.qti` (IMS QTI 1.2 in an IMS content package, as Canvas
imports it).
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field
from typing import Any

from markdown_it.renderer import RendererHTML

from mmexam.bank.params import draw_params, instantiate

EXPORTED = ("mcq", "multi_select", "numeric", "short_answer")


@dataclass(frozen=True)
class LmsItem:
    """One question (or one drawn version of one) as it goes to the LMS."""

    ident: str  # unique: "<question id>" or "<question id>-v2", ".a" for a problem part
    group: str  # the bank question it comes from (versions share it)
    part: str  # the blueprint part id
    kind: str
    title: str
    body: Any  # the instantiated body (McqBody, ..., a problem part)
    context: str | None  # a problem's shared setup, shown before the part
    points: float


@dataclass
class LmsExport:
    """Everything that goes out, and what was left out."""

    title: str
    course: str
    items: list[LmsItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def lms_items(bank: Any, *, versions: int = 3, seed: int = 0) -> LmsExport:
    """The bank's auto-gradable items, parameterised ones as `versions` drawn versions."""
    blueprint = bank.blueprint
    export = LmsExport(title=blueprint.title, course=blueprint.course)
    for qid, question in sorted(bank.questions.items()):
        drawn = _versions(question, versions, seed)
        for k, values in enumerate(drawn, start=1):
            suffix = f"-v{k}" if len(drawn) > 1 else ""
            q = instantiate(question, values) if values else question
            for label, body, context in _bodies(q):
                if body.kind not in EXPORTED:
                    continue
                title = f"{qid}{label}" + (f" (version {k})" if suffix else "")
                export.items.append(
                    LmsItem(
                        f"{qid}{label}{suffix}",
                        f"{qid}{label}",
                        question.part,
                        body.kind,
                        title,
                        body,
                        context,
                        body.points,
                    )
                )
    first: dict[str, int] = {}
    for index, item in enumerate(export.items):
        first.setdefault(item.group, index)
    export.items.sort(key=lambda i: first[i.group])  # versions together, part by part
    kept = {i.group.split(".")[0] for i in export.items}
    left = sorted(set(bank.questions) - kept)
    if left:
        export.notes.append(
            f"left out {len(left)} question(s) an LMS quiz cannot grade (code, open): "
            + ", ".join(left)
        )
    return export


def _versions(question: Any, versions: int, seed: int) -> list[dict]:
    """Distinct parameter draws (at most `versions`); [{}] for a plain question."""
    if not getattr(question, "params", None):
        return [{}]
    rng = random.Random(f"{seed}:{question.id}")
    found: list[dict] = []
    for _ in range(versions * 20):
        values = draw_params(question, rng)
        if values not in found:
            found.append(values)
        if len(found) == versions:
            break
    return found


def _bodies(question: Any) -> list[tuple[str, Any, str | None]]:
    """(label, body, context): the question itself, or a problem's parts."""
    if question.kind != "problem":
        return [("", question, None)]
    return [(f".{chr(ord('a') + k)}", part, question.text) for k, part in enumerate(question.parts)]


def option_texts(body: Any) -> list[str]:
    return [o if isinstance(o, str) else o.text for o in body.options]


def correct_indices(body: Any) -> list[int]:
    letters = [body.answer] if body.kind == "mcq" else list(body.answers)
    return [ord(letter) - ord("a") for letter in letters]


def numeric_tolerance(body: Any) -> float:
    """The accepted absolute error of a numeric answer (the wider of abs_tol and rel_tol)."""
    answer = float(body.answer)
    return max(body.abs_tol or 0.0, (body.rel_tol or 0.0) * abs(answer))


class _LmsRenderer(RendererHTML):
    """markdown-it's HTML, with formulas left as LaTeX for MathJax."""

    def math_inline(self, tokens, idx, options, env) -> str:
        return "\\(" + html.escape(tokens[idx].content, quote=False) + "\\)"

    def math_inline_double(self, tokens, idx, options, env) -> str:
        return "\\[" + html.escape(tokens[idx].content, quote=False) + "\\]"

    def math_block(self, tokens, idx, options, env) -> str:
        return "<p>\\[" + html.escape(tokens[idx].content.strip(), quote=False) + "\\]</p>\n"


def lms_html(text: str | None) -> str:
    """Bank Markdown as HTML for an LMS: math as `\\(...\\)` / `\\[...\\]`, nothing else raw."""
    if not text:
        return ""
    from mmexam.markup.parsing import make_parser

    md = make_parser()
    md.renderer = _LmsRenderer(md)
    md.enable("text_join")
    return md.render(text).strip()


def rubric_html(body: Any) -> str:
    """A short answer's grader information: the rubric items and the model answer."""
    items = "".join(
        f"<li>{item.points:g} pt: {lms_html(item.description)}</li>" for item in body.rubric
    )
    reference = lms_html(getattr(body, "reference", None))
    return f"<p>Rubric</p><ul>{items}</ul>" + (
        f"<p>Model answer</p>{reference}" if reference else ""
    )
