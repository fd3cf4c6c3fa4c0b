"""Check what questions say: parameter templates and Markdown/LaTeX markup.

Templates: every templated string of a parameterised question is rendered
for several drawn values — every combination when there are at most 64,
else all-smallest, all-largest and six seeded random draws — and must
render; a numeric answer must render to a number; options must stay
distinct for every draw; every parameter must be used; a question without
params must not contain template syntax.

Markup: every text, option, solution, explanation, reference, rubric
description and the blueprint's printed strings go through
`markup.scan`; each distinct formula is converted once with tex2typst and
latex2mathml, and the Typst results are checked in one compile. Verdicts
are remembered across runs (`mathcache`).
"""

from __future__ import annotations

import itertools
import random
import re
import zlib
from dataclasses import dataclass
from typing import Any

from mmexam import markup
from mmexam.bank import params as P
from mmexam.bank.context import Context, Entry
from mmexam.bank.explain import did_you_mean, dotted
from mmexam.bank.mathcache import MarkupCache
from mmexam.bank.reader import Document
from mmexam.bank.rules import check_distinct_options, part_label
from mmexam.fmt import LETTERS

MAX_COMBINATIONS = 64
RANDOM_DRAWS = 6
MARKUP_DRAWS = 3

# Strings that are not Markdown: grading hints and answers.
_NOT_MARKUP = frozenset({"keywords", "regex", "answer", "answers"})
# Jinja-looking text in a question without params: `{{ name }}` (spaces
# inside, unlike LaTeX's `x^{{2}}`) or a `{% ... %}` block.
_STRAY_TEMPLATE = re.compile(r"\{\{\s+[^{}]*?\s+\}\}|\{%.*?%\}")


@dataclass
class _Site:
    """Where a string lives: enough to report a problem at its line."""

    file: str
    doc: Document
    path: tuple  # full data path in the file
    qid: str | None
    text: str
    local: tuple  # the path inside the question (or exam.yaml), for the message
    note: str = ""  # e.g. "for d_a=2, d_b=3: "

    @property
    def field(self) -> str:
        return dotted(self.local)


# ---------------------------------------------------------------- draws


def draws(question: Any) -> list[dict[str, Any]]:
    """The parameter values validation renders with (see module docstring)."""
    items = list(question.params.items())
    sizes = [P.param_size(p) for _, p in items]
    total = 1
    for size in sizes:
        total *= size
        if total > MAX_COMBINATIONS:
            break
    if total <= MAX_COMBINATIONS:
        names = [name for name, _ in items]
        return [
            dict(zip(names, combo))
            for combo in itertools.product(*(list(P.param_values(p)) for _, p in items))
        ]
    low = {name: P.param_extremes(p)[0] for name, p in items}
    high = {name: P.param_extremes(p)[1] for name, p in items}
    rng = random.Random(zlib.crc32(question.id.encode()))
    chosen = [low, high] + [
        {name: P.draw_value(p, rng) for name, p in items} for _ in range(RANDOM_DRAWS)
    ]
    unique: dict[tuple, dict[str, Any]] = {}
    for values in chosen:
        unique.setdefault(tuple(sorted((k, repr(v)) for k, v in values.items())), values)
    return list(unique.values())


def _markup_draws(all_draws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(all_draws) <= MARKUP_DRAWS:
        return all_draws
    middle = all_draws[len(all_draws) // 2]
    return [all_draws[0], all_draws[-1], middle]


def _show(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


class _Note:
    """'for d_a=2, d_b=3: ', formatted only when a problem is reported."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __str__(self) -> str:
        return f"for {_show(self.values)}: "

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


# ---------------------------------------------------------------- templates


def _markup_path(path: tuple) -> bool:
    return not any(step in _NOT_MARKUP for step in path if isinstance(step, str))


def _site(entry: Entry, path: tuple, text: str, note: str = "") -> _Site:
    return _Site(entry.file, entry.doc, (*entry.path, *path), entry.qid, text, path, note)


def check_templates(ctx: Context, entry: Entry, sites: list[_Site]) -> None:
    """Render a question's templates; collect the strings to check as markup in `sites`."""
    question = entry.question
    data = question.model_dump(mode="python")
    strings = list(P.templated_strings(data))
    if not question.params:
        _check_untemplated(ctx, entry, strings, sites)
        return

    templated = [(path, text) for path, text in strings if P.is_template(text)]
    # Strings without a template read the same for every draw: check them once.
    sites.extend(
        _site(entry, path, text)
        for path, text in strings
        if _markup_path(path) and not P.is_template(text)
    )
    if not _check_names(ctx, entry, templated):
        return

    numeric_answers = {path for path, _ in templated if _is_numeric_answer(data, path)}
    groups = _option_groups(data, {path for path, _ in templated})
    # Failures come from expressions: evaluate each distinct one per draw
    # (reported at the first string using it); put whole strings together
    # only where the result is checked: options, numeric answers, markup.
    first_use, whole = _split_expressions(templated)
    assembled = numeric_answers | {path for _, options in groups for path, _ in options}
    every = draws(question)
    for_markup = {id(v) for v in _markup_draws(every)}
    reported: set[tuple] = set()
    for values in every:
        note = _Note(values)
        memo = _evaluate_draw(ctx, entry, reported, note, values, first_use, whole)
        if memo is None:
            continue
        markup_draw = id(values) in for_markup
        rendered: dict[tuple, str] = {}
        for path, text in templated:
            if path in assembled or markup_draw:
                rendered[path] = P.render(text, values, memo)
        for path in numeric_answers:
            try:
                P.numeric_answer(rendered[path])
            except P.TemplateFailure as failure:
                _report_render(ctx, entry, reported, path, note, failure)
        for sub, options in groups:
            texts = [rendered.get(path, text) for path, text in options]
            if len({" ".join(t.split()).casefold() for t in texts}) == len(texts):
                continue
            if (sub, "options") in reported:
                continue
            reported.add((sub, "options"))
            label = f"part {part_label(sub[1], question.parts[sub[1]])}: " if sub else ""
            check_distinct_options(ctx, entry, sub, texts, label, str(note))
        if markup_draw:
            sites.extend(
                _site(entry, path, rendered[path], str(note))
                for path, _ in templated
                if _markup_path(path)
            )


def _check_untemplated(
    ctx: Context, entry: Entry, strings: list[tuple[tuple, str]], sites: list[_Site]
) -> None:
    """A question without params: braces are a mistake; every string is checked once."""
    for path, text in strings:
        stray = _STRAY_TEMPLATE.search(text) if "{" in text else None
        if stray:
            ctx.at(
                entry,
                path,
                f"{dotted(path)}: '{stray.group()}' looks like a template, but "
                "the question has no params — add params, or remove the braces",
            )
    sites.extend(_site(entry, path, text) for path, text in strings if _markup_path(path))


def _split_expressions(
    templated: list[tuple[tuple, str]],
) -> tuple[dict[str, tuple], list[tuple[tuple, str]]]:
    """(each distinct expression -> the first path using it, templates rendered whole)."""
    first_use: dict[str, tuple] = {}
    whole: list[tuple[tuple, str]] = []  # templates that Jinja renders as a whole
    for path, text in templated:
        found = P.expressions(text)
        if found is None:
            whole.append((path, text))
            continue
        for expression in found:
            first_use.setdefault(expression, path)
    return first_use, whole


def _evaluate_draw(
    ctx: Context,
    entry: Entry,
    reported: set[tuple],
    note: _Note,
    values: dict[str, Any],
    first_use: dict[str, tuple],
    whole: list[tuple[tuple, str]],
) -> dict[str, str] | None:
    """Evaluate each distinct expression, and render each whole template, for one draw.

    Returns the expressions' results, or None when one failed (reported)."""
    memo: dict[str, str] = {}
    failed = False
    for expression, path in first_use.items():
        try:
            memo[expression] = P.evaluate(expression, values)
        except P.TemplateFailure as failure:
            failed = _report_render(ctx, entry, reported, path, note, failure)
    for path, text in whole:
        try:
            P.render(text, values)
        except P.TemplateFailure as failure:
            failed = _report_render(ctx, entry, reported, path, note, failure)
    return None if failed else memo


def _report_render(
    ctx: Context,
    entry: Entry,
    reported: set[tuple],
    path: tuple,
    note: _Note,
    failure: P.TemplateFailure,
) -> bool:
    if ("render", path) not in reported:
        reported.add(("render", path))
        ctx.at(
            entry,
            path,
            f"{dotted(path)}: {note}{failure.reason} — fix the template or the parameter ranges",
        )
    return True


def _check_names(ctx: Context, entry: Entry, templated: list[tuple[tuple, str]]) -> bool:
    """Every template parses and reads only params; every param is used."""
    names = set(entry.question.params)
    used: set[str] = set()
    clean = True
    for path, text in templated:
        try:
            variables = P.template_variables(text)
        except P.TemplateFailure as failure:
            ctx.at(
                entry, path, f"{dotted(path)}: {failure.reason} — fix the {{{{ ... }}}} expression"
            )
            clean = False
            continue
        used |= variables
        for name in sorted(variables - names):
            ctx.at(
                entry,
                path,
                f"{dotted(path)}: template uses '{name}', which is not a "
                f"parameter — {did_you_mean(name, names, listing='params are:')}",
            )
            clean = False
    for name in entry.question.params:
        if name not in used:
            ctx.at(
                entry,
                ("params", name),
                f"parameter '{name}' is never used — use "
                f"{{{{ {name} }}}} in the text or answers, or remove it",
                key=True,
            )
    return clean


def _is_numeric_answer(data: dict, path: tuple) -> bool:
    if not path or path[-1] != "answer":
        return False
    container = data
    for step in path[:-1]:
        container = container[step]
    return isinstance(container, dict) and container.get("kind") == "numeric"


def _option_groups(data: dict, templated: set[tuple]) -> list[tuple[tuple, list]]:
    """(sub, [(path, text)]) for each mcq/multi_select whose options hold a template
    and are distinct as written (duplicates as written are reported by the rules)."""
    bodies: list[tuple[tuple, dict]] = [((), data)]
    bodies += [(("parts", k), part) for k, part in enumerate(data.get("parts") or [])]
    groups = []
    for sub, body in bodies:
        if body.get("kind") not in ("mcq", "multi_select"):
            continue
        options: list[tuple[tuple, str]] = []
        for k, option in enumerate(body["options"]):
            if isinstance(option, str):
                options.append(((*sub, "options", k), option))
            else:
                options.append(((*sub, "options", k, "text"), option["text"]))
        if not any(path in templated for path, _ in options):
            continue
        if len({" ".join(t.split()).casefold() for _, t in options}) < len(options):
            continue
        groups.append((sub, options))
    return groups


def blueprint_sites(ctx: Context) -> list[_Site]:
    if ctx.blueprint is None or ctx.blueprint_doc is None:
        return []
    blueprint = ctx.blueprint
    out = []
    for key in ("course", "title", "term", "instructions"):
        text = getattr(blueprint, key)
        if text:
            out.append(_Site(ctx.blueprint_file, ctx.blueprint_doc, (key,), None, text, (key,)))
    for k, part in enumerate(blueprint.parts):
        for key in ("title", "instructions"):
            text = getattr(part, key)
            if text:
                out.append(
                    _Site(
                        ctx.blueprint_file,
                        ctx.blueprint_doc,
                        ("parts", k, key),
                        f"part {part.id}",
                        text,
                        ("parts", k, key),
                    )
                )
    return out


# ---------------------------------------------------------------- markup


def _locate(site: _Site, needle: str) -> tuple[int, int]:
    """The line:col of `needle` inside the site's string, else the string's own position."""
    line, col = site.doc.where(site.path)
    if not needle:
        return line, col
    lines = site.doc.lines
    first = needle.strip().split("\n")[0].strip("…")
    if not first:
        return line, col
    stop = min(len(lines), line + site.text.count("\n") + 2)
    for number in range(line, stop + 1):
        found = lines[number - 1].find(first) if 0 < number <= len(lines) else -1
        if found >= 0:
            return number, found + 1
    return line, col


def check_markup(
    ctx: Context, sites: list[_Site], verdicts: MarkupCache, typeset: bool = True
) -> None:
    occurrences: dict[str, list[_Site]] = {}
    reported: set[tuple] = set()
    for site in sites:
        found = verdicts.scan(site.text)
        if found.problem is not None:
            key = (site.file, site.path, found.problem.reason)
            if key not in reported:
                reported.add(key)
                line, col = _locate(site, found.problem.snippet)
                ctx.add(site.file, line, col, site.qid, f"{site.field}: {site.note}{found.problem}")
        for formula in found.formulas:
            occurrences.setdefault(formula.tex, []).append(site)

    pending: dict[str, str] = {}
    for tex in occurrences:
        if tex in verdicts:
            continue
        try:
            typst_math = markup.math_to_typst(tex)
            markup.math_to_mathml(tex)
        except markup.MarkupError as error:
            verdicts.set(tex, str(error))
            continue
        if typeset:
            pending[tex] = typst_math
        else:
            verdicts.set(tex, None)
    if pending:
        failures = markup.check_typst_math(list(pending.values()))
        for tex, typst_math in pending.items():
            failure = failures.get(typst_math)
            verdicts.set(
                tex,
                None
                if failure is None
                else (
                    f"math '${tex}$' cannot be typeset: Typst says '{failure}' (converted to "
                    f"'{typst_math}') — rewrite the formula with standard commands"
                ),
            )

    for tex, places in occurrences.items():
        message = verdicts.get(tex)
        if message is None:
            continue
        for site in places:
            key = (site.file, site.path, tex)
            if key in reported:
                continue
            reported.add(key)
            line, col = _locate(site, tex)
            ctx.add(site.file, line, col, site.qid, f"{site.field}: {site.note}{message}")


__all__ = ["LETTERS", "blueprint_sites", "check_markup", "check_templates", "draws"]
