"""The bank's consistency rules, beyond what each question's schema says.

Each rule adds `Problem`s to the `Context`, at the line of the value that
is wrong, with a message saying what to change:

- ids are unique across files (both places are reported), and `excludes:`
  names questions that exist;
- a question's part and topics exist in exam.yaml;
- mcq/multi_select answers name real options, options are distinct (so
  exactly one is correct), rubric items add up to the points, regexes compile,
  rubric keywords are not common words or bare symbols;
- a problem's parts add up to its points, and each question is worth what
  its blueprint part gives it (part points / pick);
- code questions name a task folder in graders/ and functions the starter
  generated from its reference.py defines (read with `ast`, never imported);
- every question has a solution or explanation;
- the blueprint: part ids unique, totals match total_points/bonus_points,
  pool ids and topics exist, and every pool holds enough questions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mmexam.bank.bank import in_pool
from mmexam.bank.context import Context, Entry
from mmexam.bank.explain import did_you_mean
from mmexam.bank.models import (
    Code,
    CodePart,
    Mcq,
    McqPart,
    MultiSelect,
    MultiSelectPart,
    Open,
    OpenPart,
    Problem,
    ShortAnswer,
    ShortAnswerPart,
)
from mmexam.errors import StarterError
from mmexam.fmt import LETTERS, letter_list, letter_span
from mmexam.starter import REFERENCE, generate_starter

EPS = 1e-9


def part_label(index: int, part: Any) -> str:
    if part.label:
        return part.label
    return f"({LETTERS[index]})" if index < len(LETTERS) else f"({index + 1})"


def option_text(option: Any) -> str:
    return option if isinstance(option, str) else option.text


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------- ids


def check_ids(ctx: Context) -> None:
    seen: dict[str, list[Entry]] = {}
    for entry in ctx.entries:
        qid = entry.data.get("id") if isinstance(entry.data, dict) else None
        if isinstance(qid, str):
            seen.setdefault(qid, []).append(entry)
    for qid, entries in seen.items():
        if len(entries) < 2:
            continue
        for entry in entries:
            others = [e for e in entries if e is not entry]
            where = ", ".join(f"{o.file}:{o.doc.where((*o.path, 'id'))[0]}" for o in others)
            ctx.at(
                entry,
                ("id",),
                f"duplicate id '{qid}' — also at {where}; ids must be unique "
                "across the bank, rename one",
            )


def check_excludes(ctx: Context) -> None:
    """`excludes:` names other questions of the bank."""
    ids = [e.question.id for e in ctx.valid()]
    known = set(ids)
    for entry in ctx.valid():
        for k, other in enumerate(entry.question.excludes):
            if other == entry.question.id:
                ctx.at(
                    entry,
                    ("excludes", k),
                    "a question cannot exclude itself — drop it from excludes",
                )
            elif other not in known:
                ctx.at(
                    entry,
                    ("excludes", k),
                    f"excludes '{other}', which is not a question in the bank — "
                    f"{did_you_mean(other, ids)}",
                )


# ---------------------------------------------------------------- per question


def check_question(ctx: Context, entry: Entry) -> None:
    question = entry.question
    blueprint = ctx.blueprint
    if blueprint is not None:
        part_ids = [p.id for p in blueprint.parts]
        if question.part not in part_ids:
            ctx.at(
                entry,
                ("part",),
                f"part '{question.part}' is not in exam.yaml — "
                f"{did_you_mean(question.part, part_ids)}",
            )
        else:
            check_worth(ctx, entry, next(p for p in blueprint.parts if p.id == question.part))
        for k, topic in enumerate(question.topics):
            if topic not in blueprint.topics:
                ctx.at(
                    entry,
                    ("topics", k),
                    f"topic '{topic}' is not in exam.yaml's topics — "
                    f"{did_you_mean(topic, list(blueprint.topics))} (or add it to exam.yaml)",
                )
    if isinstance(question, Problem):
        total = sum(p.points for p in question.parts)
        if question.points is not None and abs(question.points - total) > EPS:
            ctx.at(
                entry,
                ("points",),
                f"points is {question.points:g} but the parts add up to "
                f"{total:g} — make them equal, or leave points out",
            )
        has_key = bool(question.solution or question.explanation)
        for k, part in enumerate(question.parts):
            check_body(ctx, entry, ("parts", k), part, f"part {part_label(k, part)}: ")
            if not has_key and needs_key(part):
                ctx.at(
                    entry,
                    ("parts", k),
                    f"part {part_label(k, part)} has no solution or "
                    "explanation — add one (the answer key and feedback show why the answer "
                    "is right), or give the problem a solution",
                )
    else:
        check_body(ctx, entry, (), question, "")
        if needs_key(question):
            ctx.at(
                entry,
                (),
                "no solution or explanation — add one (the answer key and "
                "feedback show why the answer is right)",
            )


def needs_key(body: Any) -> bool:
    """An auto-graded answer (mcq, multi_select, numeric) must come with a why.

    A short answer's `reference`, an open question's rubric and a code task's
    reference solution in graders/ already are their keys.
    """
    if body.kind not in ("mcq", "multi_select", "numeric"):
        return False
    return not (body.solution or body.explanation)


def check_worth(ctx: Context, entry: Entry, part: Any) -> None:
    question = entry.question
    expected = part.points / part.pick
    if isinstance(question, Problem):
        worth = (
            question.points
            if question.points is not None
            else sum(p.points for p in question.parts)
        )
        what = "worth" if question.points is not None else "its parts add up to"
    else:
        worth, what = question.points, "worth"
    if abs(worth - expected) <= EPS:
        return
    where = ("points",) if isinstance(entry.data, dict) and "points" in entry.data else ()
    each = "each question" if part.pick > 1 else "its question"
    ctx.at(
        entry,
        where,
        f"{what} {worth:g} points, but part '{part.id}' gives {each} "
        f"{expected:g} ({part.points:g} points / {part.pick} picked) — make it worth "
        f"{expected:g}",
    )


def check_body(ctx: Context, entry: Entry, sub: tuple, body: Any, label: str) -> None:
    if isinstance(body, (Mcq, McqPart)):
        check_mcq(ctx, entry, sub, body, label)
    elif isinstance(body, (MultiSelect, MultiSelectPart)):
        check_multi_select(ctx, entry, sub, body, label)
    elif isinstance(body, (ShortAnswer, ShortAnswerPart, Open, OpenPart)):
        check_rubric(ctx, entry, sub, body, label)
    elif isinstance(body, (Code, CodePart)):
        check_code(ctx, entry, sub, body, label)
    numeric = getattr(body, "kind", None) == "numeric"
    if numeric and isinstance(body.answer, str) and not entry.question.params:
        try:
            float(body.answer)
        except ValueError:
            ctx.at(
                entry,
                (*sub, "answer"),
                f"{label}answer '{body.answer}' is not a number "
                "— write a number, or add params to make it a template",
            )


def check_mcq(ctx: Context, entry: Entry, sub: tuple, body: Any, label: str) -> None:
    """An mcq: its answer and accepted letters name options; the options differ."""
    count = len(body.options)
    index = LETTERS.find(body.answer)
    if index >= count:
        ctx.at(
            entry,
            (*sub, "answer"),
            f"{label}answer '{body.answer}' is not one of the "
            f"options {letter_span(count)} — use one of {letter_list(count)}",
        )
    for k, extra in enumerate(body.accept):
        if LETTERS.find(extra) >= count:
            ctx.at(
                entry,
                (*sub, "accept", k),
                f"{label}accept '{extra}' is not one of the options {letter_span(count)} "
                f"— use one of {letter_list(count)}",
            )
        elif extra == body.answer or extra in body.accept[:k]:
            ctx.at(
                entry,
                (*sub, "accept", k),
                f"{label}accept '{extra}' is already accepted — list each extra letter "
                "once, and not the answer",
            )
    check_distinct_options(ctx, entry, sub, body.options, label)


def check_multi_select(ctx: Context, entry: Entry, sub: tuple, body: Any, label: str) -> None:
    """A multi_select: its answers name options, each once; the options differ."""
    count = len(body.options)
    seen: set[str] = set()
    for k, answer in enumerate(body.answers):
        if LETTERS.find(answer) >= count:
            ctx.at(
                entry,
                (*sub, "answers", k),
                f"{label}answer '{answer}' is not one of the "
                f"options {letter_span(count)} — use letters from {letter_list(count)}",
            )
        if answer in seen:
            ctx.at(
                entry,
                (*sub, "answers", k),
                f"{label}answer '{answer}' is listed twice — list each correct option once",
            )
        seen.add(answer)
    check_distinct_options(ctx, entry, sub, body.options, label)


def check_rubric(ctx: Context, entry: Entry, sub: tuple, body: Any, label: str) -> None:
    """A rubric: its items add up to the points; keywords and regexes are usable."""
    total = sum(item.points for item in body.rubric)
    if abs(total - body.points) > EPS:
        ctx.at(
            entry,
            (*sub, "points"),
            f"{label}points is {body.points:g} but the rubric "
            f"items add up to {total:g} — make them equal",
        )
    for k, item in enumerate(body.rubric):
        check_keywords(ctx, entry, (*sub, "rubric", k), item.keywords, label)
        if item.regex is None:
            continue
        try:
            re.compile(item.regex)
        except re.error as error:
            ctx.at(
                entry,
                (*sub, "rubric", k, "regex"),
                f"{label}rubric[{k}].regex is not a valid regular expression ({error}) — fix it",
            )


# Words that occur in almost any answer: a keyword made of them suggests a
# rubric item for every student and so means nothing.
GENERIC_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "not",
        "no",
        "yes",
        "if",
        "so",
        "as",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "can",
        "could",
        "may",
        "other",
        "others",
        "same",
        "both",
        "each",
        "all",
        "any",
        "some",
        "more",
        "less",
        "depends",
        "data",
        "use",
        "used",
        "do",
        "does",
        "true",
        "false",
    ]
)


def check_keywords(ctx: Context, entry: Entry, sub: tuple, keywords: list[str], label: str) -> None:
    """A rubric keyword must name something: not a common word, not just symbols or digits."""
    for j, keyword in enumerate(keywords):
        text = keyword.strip().casefold()
        letters = [c for c in text if c.isalpha()]
        if text in GENERIC_WORDS:
            why = "a word almost every answer contains"
        elif not letters:
            why = "no word at all (symbols and digits match almost any formula)"
        else:
            continue
        ctx.at(
            entry,
            (*sub, "keywords", j),
            f"{label}rubric keyword '{keyword}' is too generic to mean anything ({why}) — "
            "use a phrase that only an answer meeting the item would contain, or a regex",
        )


def check_distinct_options(
    ctx: Context, entry: Entry, sub: tuple, options: list[Any], label: str, values: str = ""
) -> bool:
    """Report options that read the same; True when all are distinct."""
    first: dict[str, int] = {}
    clean = True
    for k, option in enumerate(options):
        text = normalise(option_text(option))
        if text in first:
            j = first[text]
            ctx.at(
                entry,
                (*sub, "options", k),
                f"{label}{values}options {LETTERS[j]} and "
                f"{LETTERS[k]} read the same ('{option_text(option).strip()[:40]}') — make "
                "every option different, so exactly the keyed ones are correct",
            )
            clean = False
        else:
            first[text] = k
    return clean


# ---------------------------------------------------------------- code tasks


class Tasks:
    """What graders/ holds: task folders and the functions their generated starters define."""

    def __init__(self, graders: Path) -> None:
        self.graders = graders
        self._functions: dict[str, set[str] | str] = {}

    def names(self) -> list[str]:
        if not self.graders.is_dir():
            return []
        return sorted(
            p.name
            for p in self.graders.iterdir()
            if p.is_dir() and not p.name.startswith((".", "_"))
        )

    def functions(self, task: str) -> set[str] | str:
        """The starter's top-level function names, or a message saying what is missing."""
        if task not in self._functions:
            self._functions[task] = self._read(task)
        return self._functions[task]

    def _read(self, task: str) -> set[str] | str:
        folder = self.graders / task
        if not self.graders.is_dir():
            return (
                f"there is no graders folder at {self.graders} — code questions need "
                "graders/<task>/reference.py"
            )
        if not folder.is_dir():
            return (
                f"task '{task}' is not a folder in {self.graders} — "
                f"{did_you_mean(task, self.names(), listing='tasks:')}"
            )
        reference = folder / REFERENCE
        if not reference.is_file():
            return (
                f"task '{task}' has no {REFERENCE} in {folder} — add the reference, "
                "its solution bodies marked, that the starter is generated from"
            )
        try:
            tree = ast.parse(generate_starter(reference), filename=str(reference))
        except StarterError as error:
            return str(error)
        return {
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }


def check_code(ctx: Context, entry: Entry, sub: tuple, body: Any, label: str) -> None:
    tasks: Tasks = ctx.tasks
    defined = tasks.functions(body.task)
    if isinstance(defined, str):
        ctx.at(entry, (*sub, "task"), f"{label}{defined}")
        return
    starter = tasks.graders / body.task / REFERENCE
    for k, function in enumerate(body.functions):
        if function not in defined:
            hint = (
                did_you_mean(function, defined, listing="it defines:")
                if defined
                else "it defines no functions"
            )
            ctx.at(
                entry,
                (*sub, "functions", k),
                f"{label}function '{function}' is not defined in {starter} — {hint}",
            )


# ---------------------------------------------------------------- blueprint


def check_blueprint(ctx: Context) -> None:
    blueprint = ctx.blueprint
    if blueprint is None:
        return
    seen: dict[str, int] = {}
    for k, part in enumerate(blueprint.parts):
        if part.id in seen:
            ctx.at_blueprint(
                ("parts", k, "id"),
                f"duplicate part id '{part.id}' (also "
                f"parts[{seen[part.id]}]) — give each part its own id",
                label=f"part {part.id}",
            )
        seen.setdefault(part.id, k)

    doc = ctx.blueprint_doc
    assert doc is not None
    for bonus, key in ((False, "total_points"), (True, "bonus_points")):
        total = sum(p.points for p in blueprint.parts if p.bonus == bonus)
        declared = blueprint.total_points if not bonus else blueprint.bonus_points
        if abs(total - declared) > EPS:
            kind = "bonus" if bonus else "non-bonus"
            where = (key,) if key in doc.data else ()
            ctx.at_blueprint(
                where,
                f"the {kind} parts add up to {total:g} points, but {key} is "
                f"{declared:g} — make them agree",
            )

    valid_ids = {
        e.data.get("id"): e
        for e in ctx.entries
        if isinstance(e.data, dict) and isinstance(e.data.get("id"), str)
    }
    for k, part in enumerate(blueprint.parts):
        check_pool_refs(ctx, k, part, valid_ids, blueprint.topics)
        check_pool(ctx, k, part)
        check_cover(ctx, k, part)


def check_pool_refs(
    ctx: Context, index: int, part: Any, valid_ids: dict[Any, Entry], topics: dict[str, str]
) -> None:
    """The ids and topics a part's pool names exist (and the ids belong to the part)."""
    label = f"part {part.id}"
    for j, qid in enumerate(part.pool.ids or []):
        entry = valid_ids.get(qid)
        if entry is None:
            ctx.at_blueprint(
                ("parts", index, "pool", "ids", j),
                f"pool id '{qid}' is not a "
                f"question in the bank — {did_you_mean(qid, list(valid_ids))}",
                label=label,
            )
        elif entry.data.get("part") != part.id:
            ctx.at_blueprint(
                ("parts", index, "pool", "ids", j),
                f"question '{qid}' belongs to "
                f"part '{entry.data.get('part')}', not '{part.id}' — change its "
                "part or drop it from the pool",
                label=label,
            )
    for j, topic in enumerate(part.pool.topics or []):
        if topic not in topics:
            ctx.at_blueprint(
                ("parts", index, "pool", "topics", j),
                f"pool topic '{topic}' is not in topics — {did_you_mean(topic, list(topics))}",
                label=label,
            )


def check_pool(ctx: Context, index: int, part: Any) -> None:
    """Enough questions for `pick`: counted from what authors wrote, valid or not,
    so one typo does not also report an unfillable pool."""
    count = 0
    for entry in ctx.entries:
        data = entry.data
        if not isinstance(data, dict):
            continue
        topics = data.get("topics") if isinstance(data.get("topics"), list) else []
        if in_pool(str(data.get("id")), str(data.get("part")), topics or [], part):
            count += 1
    if count >= part.pick:
        return
    narrowed = []
    if part.pool.ids is not None:
        narrowed.append("listed in pool.ids")
    if part.pool.topics is not None:
        narrowed.append(f"tagged with one of {', '.join(part.pool.topics)}")
    which = f"questions with part: {part.id}" + (f" {' and '.join(narrowed)}" if narrowed else "")
    ctx.at_blueprint(
        ("parts", index, "pick"),
        f"part '{part.id}' draws {part.pick} "
        f"question{'s' if part.pick != 1 else ''} but its pool has {count} — add "
        f"{which}, or lower pick",
        label=f"part {part.id}",
    )


def check_cover(ctx: Context, index: int, part: Any) -> None:
    """A part's `cover` names known topics, fits in `pick`, and each has enough questions."""
    blueprint = ctx.blueprint
    assert blueprint is not None
    label = f"part {part.id}"
    pool = [
        e.question
        for e in ctx.valid()
        if in_pool(e.question.id, e.question.part, e.question.topics, part)
    ]
    for j, cover in enumerate(part.cover):
        for m, topic in enumerate(cover.topics):
            if topic not in blueprint.topics:
                ctx.at_blueprint(
                    ("parts", index, "cover", j, "topics", m),
                    f"cover topic '{topic}' is not in topics — "
                    f"{did_you_mean(topic, list(blueprint.topics))}",
                    label=label,
                )
        have = sum(1 for q in pool if any(t in cover.topics for t in q.topics))
        if have < cover.min:
            ctx.at_blueprint(
                ("parts", index, "cover", j, "min"),
                f"cover {j + 1} needs {cover.min} question(s) per paper but the pool has "
                f"{have} with one of its topics — add questions or lower min",
                label=label,
            )
    needed = sum(cover.min for cover in part.cover)
    if needed > part.pick:
        ctx.at_blueprint(
            ("parts", index, "cover"),
            f"the covers need {needed} questions per paper but the part draws {part.pick} — "
            "lower their min or raise pick",
            label=label,
        )
