"""A paper as the templates see it: plain data, its text already in the target format.

`paper_view(paper, target, ...)` turns a `Paper` into nested dicts whose text
fields are HTML with MathML (target "html") or Typst (target "typst"),
converted by `mmexam.markup`. The templates only lay them out; they never
see Markdown or LaTeX, so no raw `$`, `\\frac` or `**` can reach a page.
A formula that does not convert is a `BuildError` naming the question.

For Typst, `mmexam.build.layout` then cuts the view into the fragments
that the library typesets and the papers place.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from mmexam import markup
from mmexam.build.starter import read_stubs
from mmexam.errors import BuildError, MmexamError
from mmexam.exam import Paper, PlacedQuestion
from mmexam.fmt import LETTERS, fmt_number, points_label

# Room left for an answer when the bank does not say (style, centimetres).
DEFAULT_SPACE: dict[str, tuple[str, float] | None] = {
    "mcq": None,
    "multi_select": None,
    "numeric": ("lines", 2.4),
    "short_answer": ("lines", 6.3),
    "code": ("box", 9.0),
    "open": ("lines", 8.1),
}

SCORING = {
    "all_or_nothing": "all or nothing: full points only for exactly the correct set",
    "per_option": "per option: each option marked correctly earns an equal share",
    "right_minus_wrong": "right minus wrong: (correct picks - wrong picks) / correct options, "
    "never below zero",
}


@lru_cache(maxsize=8192)
def _convert(target: str, text: str, inline: bool) -> str:
    if target == "typst":
        return markup.to_typst(text)
    html = markup.to_html(text)
    if inline and html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]  # one paragraph inside a line (an option, a unit, a table cell)
    return html


def fmt_value(value: Any) -> str:
    return fmt_number(value) if isinstance(value, (int, float)) else str(value)


class _Converter:
    """Converts one paper's text, naming the question when a formula fails."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __call__(self, text: str | None, where: str, inline: bool = False) -> str | None:
        if text is None:
            return None
        try:
            return _convert(self.target, text, inline)
        except MmexamError as error:
            snippet = getattr(error, "snippet", None)
            shown = f" in {snippet!r}" if snippet else ""
            raise BuildError(f"{where}: cannot convert the text{shown}: {error}") from None


def _space(body: Any) -> dict[str, Any] | None:
    if body.answer_space is not None:
        style, height = body.answer_space.style, body.answer_space.height_cm
    elif (default := DEFAULT_SPACE.get(body.kind)) is None:
        return None
    else:
        style, height = default
        if body.kind == "code":  # more functions to write, more room
            height = min(height + 4.0 * (len(body.functions) - 1), 20.0)
    return {"style": style, "height_cm": height, "lines": max(1, round(height / 0.9))}


def _tolerance(body: Any) -> str | None:
    parts: list[str] = []
    if body.abs_tol:
        parts.append(f"± {fmt_number(body.abs_tol)}")
    if body.rel_tol:
        parts.append(f"± {fmt_number(body.rel_tol * 100)} %")
    return " or ".join(parts) or None


def _body_view(
    body: Any,
    order: list[int] | None,
    where: str,
    convert: _Converter,
    stubs: Callable[[Any, str], list[str]],
) -> dict[str, Any]:
    """The fields every kind shares, and the ones of its own kind."""
    view: dict[str, Any] = {
        "kind": body.kind,
        "points": fmt_number(body.points),
        "points_label": points_label(body.points),
        "text": convert(body.text, where, inline=True),
        "solution": convert(body.solution, f"{where} (solution)"),
        "explanation": convert(body.explanation, f"{where} (explanation)"),
        "space": _space(body),
        "options": [],
        "answer": None,
    }
    # Keep a question on one page unless its answer space or code is too tall for that.
    space = view["space"]
    view["keep"] = body.kind != "code" and (space is None or space["height_cm"] <= 14)
    if body.kind in ("mcq", "multi_select"):
        correct = {body.answer} if body.kind == "mcq" else set(body.answers)
        for k, index in enumerate(order or range(len(body.options))):
            option = body.options[index]
            text = option if isinstance(option, str) else option.text
            view["options"].append(
                {
                    "letter": LETTERS[k],
                    "text": convert(text, f"{where} option {LETTERS[index]}", inline=True),
                    "correct": LETTERS[index] in correct,
                }
            )
        view["answer"] = ", ".join(o["letter"] for o in view["options"] if o["correct"])
        if body.kind == "multi_select":
            view["scoring"] = SCORING[body.scoring]
    elif body.kind == "numeric":
        view["answer"] = fmt_number(float(body.answer))
        view["tolerance"] = _tolerance(body)
        view["unit"] = convert(body.unit, f"{where} (unit)", inline=True) if body.unit else None
    elif body.kind == "short_answer":
        view["reference"] = convert(body.reference, f"{where} (reference)")
    elif body.kind == "code":
        view["task"] = body.task
        view["functions"] = list(body.functions)
        view["stubs"] = stubs(body, where)
    if body.kind in ("short_answer", "open"):
        view["rubric"] = [
            {
                "points": fmt_number(item.points),
                "description": convert(item.description, f"{where} (rubric)", inline=True),
                "keywords": list(item.keywords),
                "regex": item.regex,
            }
            for item in body.rubric
        ]
    return view


def _question_view(
    placed: PlacedQuestion, convert: _Converter, stubs: Callable[[Any, str], list[str]]
) -> dict[str, Any]:
    question = placed.question
    params = [{"name": name, "value": fmt_value(value)} for name, value in placed.params.items()]
    if placed.parts:
        view = {
            "id": placed.id,
            "number": placed.number,
            "kind": "problem",
            "points": fmt_number(placed.points),
            "points_label": points_label(placed.points),
            "text": convert(question.text, placed.id, inline=True),
            "solution": convert(question.solution, f"{placed.id} (solution)"),
            "explanation": convert(question.explanation, f"{placed.id} (explanation)"),
            "params": params,
        }
        part_views = []
        for sub in placed.parts:
            where = f"{placed.id} part {sub.label}"
            part_view = _body_view(sub.body, sub.order, where, convert, stubs)
            part_view.update(number=sub.number, label=sub.label, id=placed.id)
            part_views.append(part_view)
        view["parts"] = part_views
        return view
    view = _body_view(question, placed.order, placed.id, convert, stubs)
    view.update(id=placed.id, number=placed.number, params=params, parts=[])
    return view


def paper_view(paper: Paper, target: str, graders: Path) -> dict[str, Any]:
    """Everything a template needs to lay out one paper (exam or key) for one target."""
    if target not in ("typst", "html"):
        raise ValueError(f"unknown target {target!r}")
    convert = _Converter(target)
    blueprint = paper.blueprint

    def stubs(body: Any, where: str) -> list[str]:
        return [s.source for s in read_stubs(graders, body.task, tuple(body.functions), where)]

    total = sum(p.part.points for p in paper.parts if not p.part.bonus)
    bonus = sum(p.part.points for p in paper.parts if p.part.bonus)
    parts: list[dict[str, Any]] = []
    for paper_part in paper.parts:
        part = paper_part.part
        parts.append(
            {
                "number": paper_part.number,
                "id": part.id,
                "title": part.title,
                "points": fmt_number(part.points),
                "points_label": points_label(part.points),
                "bonus": part.bonus,
                "instructions": convert(part.instructions, f"exam.yaml part '{part.id}'"),
                "questions": [_question_view(q, convert, stubs) for q in paper_part.questions],
            }
        )
    return {
        "course": blueprint.course,
        "title": blueprint.title,
        "term": blueprint.term,
        "duration": blueprint.duration_minutes,
        "instructions": convert(blueprint.instructions, "exam.yaml instructions"),
        "total": fmt_number(total),
        "bonus": fmt_number(bonus) if bonus else None,
        "student": {"id": paper.student, "name": paper.name} if paper.name else None,
        "variant": paper.variant,
        "parts": parts,
        "params": [
            {"number": q["number"], "id": q["id"], "params": q["params"]}
            for p in parts
            for q in p["questions"]
            if q["params"]
        ],
    }
