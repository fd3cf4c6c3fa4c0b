"""Turn pydantic validation errors into bank-author messages with a data path.

Pydantic reports `loc` paths through the *models* (with union tags such as
`'mcq'` or `'str'` mixed in); authors need the path through their *data*
(to find the line) and a sentence that says what to do. `explain()` walks
each `loc` against the data, drops the noise a union produces (an option
that is a mapping with a typo also "is not a valid string"), and words each
error with a fix, adding "did you mean" for unknown keys and values.
"""

from __future__ import annotations

import difflib
import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

_TYPE_ERRORS = {
    "string_type": "text",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


@dataclass(frozen=True)
class Explained:
    """One problem: where in the data (`path`), whether at the key, and the message."""

    path: tuple
    at_key: bool
    message: str


def dotted(path: tuple) -> str:
    """('parts', 0, 'options', 2) -> 'parts[0].options[2]'."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def suggest(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """The closest choice to `word`, if one is close enough."""
    matches = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in choices}
    return lowered.get(str(word).lower())


def did_you_mean(word: str, choices, *, listing: str = "use one of") -> str:
    """'did you mean 'x'?' or 'use one of a, b, c'."""
    near = suggest(word, choices)
    if near is not None:
        return f"did you mean '{near}'?"
    shown = sorted(choices)
    more = f", ... ({len(shown)} in all)" if len(shown) > 12 else ""
    return f"{listing} {', '.join(shown[:12])}{more}"


def describe(value: Any) -> str:
    """How a YAML value reads to an author."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text '{shown}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ---------------------------------------------------------------- model walking


def _expand(annotation: Any) -> list[Any]:
    """Unwrap Annotated/Optional/Union into concrete alternatives."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _expand(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in get_args(annotation):
            out.extend(_expand(arg))
        return out
    return [annotation]


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return get_args(field.annotation)[0]


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def models_at(root: type[BaseModel], loc: tuple) -> list[type[BaseModel]]:
    """The model classes that `loc` (a pydantic loc, tags included) points into."""
    current: list[Any] = [root]
    for step in loc:
        following: list[Any] = []
        for annotation in current:
            for option in _expand(annotation):
                if _is_model(option):
                    if isinstance(step, str) and step in option.model_fields:
                        following.append(option.model_fields[step].annotation)
                    elif isinstance(step, str) and step in (option.__name__, _kind_of(option)):
                        following.append(option)
                    continue
                origin = get_origin(option)
                if origin is list and isinstance(step, int):
                    following.append(get_args(option)[0])
                elif origin is dict and isinstance(step, str):
                    following.append(get_args(option)[1])
        if following:
            current = following
    return [option for annotation in current for option in _expand(annotation) if _is_model(option)]


def fields_at(root: type[BaseModel], loc: tuple) -> set[str]:
    names: set[str] = set()
    for model in models_at(root, loc):
        names.update(model.model_fields)
    return names


# ---------------------------------------------------------------- explain


def _walk(data: Any, loc: tuple, kind: str) -> tuple[tuple, tuple | None]:
    """(data path of loc, data path where the first union tag was skipped)."""
    path: list[Any] = []
    anchor: tuple | None = None
    current = data
    for step in loc:
        if (
            isinstance(current, dict)
            and step in current
            or isinstance(current, list)
            and isinstance(step, int)
            and 0 <= step < len(current)
        ):
            path.append(step)
            current = current[step]
        elif kind == "missing" and isinstance(current, dict) and step == loc[-1]:
            path.append(step)  # a missing key: the path ends where it would be
        elif anchor is None:
            anchor = tuple(path)
    return tuple(path), anchor


_SLUG_FIX = re.compile(r"[^a-z0-9]+")


def _slugify(value: Any) -> str:
    slug = _SLUG_FIX.sub("-", str(value).lower()).strip("-")
    return slug or "my-id"


def explain(error: ValidationError, data: Any, root: type[BaseModel]) -> list[Explained]:
    """Author-facing problems for a pydantic error raised validating `data` as `root`."""
    raw: list[dict[str, Any]] = [dict(e) for e in error.errors(include_url=False)]
    walked = [(_walk(data, tuple(e["loc"]), e["type"]), e) for e in raw]

    # Group the branches of each union: when one branch says something
    # specific, the other branches' "wrong type" errors are noise.
    specific: set[tuple] = set()
    for (path, anchor), e in walked:
        if anchor is not None and e["type"] not in _TYPE_ERRORS:
            specific.add(anchor)
    kept: list[tuple[tuple, tuple | None, dict]] = []
    merged: dict[tuple, list[dict]] = {}
    for (path, anchor), e in walked:
        if anchor is not None and e["type"] in _TYPE_ERRORS:
            if anchor in specific:
                continue
            merged.setdefault(path, []).append(e)
            continue
        kept.append((path, anchor, e))

    # A misspelt key also makes the right one "missing": say it once.
    suggested: set[tuple] = set()
    for path, _anchor, e in kept:
        if e["type"] == "extra_forbidden":
            near = suggest(str(path[-1]), fields_at(root, tuple(e["loc"])[:-1]))
            if near is not None:
                suggested.add((*path[:-1], near))
    out: list[Explained] = []
    for path, _anchor, e in kept:
        if e["type"] == "missing" and path in suggested:
            continue
        out.append(_word(path, e, data, root))
    for path, errors in merged.items():
        expected = list(dict.fromkeys(_TYPE_ERRORS[e["type"]] for e in errors))
        value = errors[0].get("input")
        name = _field_name(path)
        out.append(
            Explained(
                path,
                False,
                f"{name}: expected {' or '.join(expected)}, got "
                f"{describe(value)}{_quote_hint(value, expected)}",
            )
        )
    # One message per place and wording.
    unique: dict[tuple, Explained] = {}
    for item in out:
        unique.setdefault((item.path, item.message), item)
    return list(unique.values())


def _field_name(path: tuple) -> str:
    return dotted(path) if path else "this entry"


def _quote_hint(value: Any, expected: list[str]) -> str:
    if "text" in expected and isinstance(value, (bool, int, float)) and value is not None:
        shown = describe(value).replace("the number ", "")
        return f" — put it in quotes: '{shown}'"
    if value is None:
        return " — fill in the value"
    return ""


# Long by nature: one branch per pydantic error kind, each with its own wording.
def _word(path: tuple, e: dict, data: Any, root: type[BaseModel]) -> Explained:
    kind = e["type"]
    loc = tuple(e["loc"])
    ctx = e.get("ctx", {}) or {}
    value = e.get("input")
    name = _field_name(path)
    last = path[-1] if path else None

    if kind == "missing":
        return Explained(path[:-1], False, f"missing required key '{last}' — add it")
    if kind == "extra_forbidden":
        allowed = fields_at(root, loc[:-1])
        parent = _parent_kind(data, path)
        if parent == "mcq" and last == "answers":
            fix = "an mcq has one 'answer'; for several correct options use kind: multi_select"
        elif parent == "multi_select" and last == "answer":
            fix = "a multi_select lists its correct options under 'answers' (a list of letters)"
        else:
            fix = did_you_mean(str(last), allowed, listing="allowed keys:")
        return Explained(path, True, f"unknown key '{last}' — {fix}")
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return Explained(
            path,
            False,
            f"{name}: {describe(value)} is not one of "
            f"{', '.join(expected)} — {did_you_mean(str(value), expected)}",
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        if not expected:
            expected = sorted({k for m in models_at(root, loc) if (k := _kind_of(m))})
        if kind == "union_tag_not_found":
            return Explained(
                path, False, f"{name}: missing 'kind' — add kind: one of {', '.join(expected)}"
            )
        tag = ctx.get("tag", value)
        return Explained(
            (*path, "kind"),
            False,
            f"{name}: kind '{tag}' is not allowed here — {did_you_mean(str(tag), expected)}",
        )
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern == r"^[a-z]$":
            return Explained(
                path,
                False,
                f"{name}: {describe(value)} is not an option letter — "
                "use a single lower-case letter: a, b, c, ...",
            )
        return Explained(
            path,
            False,
            f"{name}: {describe(value)} is not a valid slug — use "
            f"lower-case letters, digits and dashes, e.g. '{_slugify(value)}'",
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(ctx.values()), "")
        bound = f"{bound:g}" if isinstance(bound, float) else bound
        sign = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }[kind]
        return Explained(
            path, False, f"{name} must be {sign} {bound}, got {describe(value)} — change the value"
        )
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        actual = ctx.get("actual_length")
        what = "at least" if kind == "too_short" else "at most"
        return Explained(path, False, f"{name} needs {what} {limit} item(s), has {actual}")
    if kind == "value_error":
        message = str(e.get("msg", "")).removeprefix("Value error, ")
        return Explained(path, False, f"{name}: {message}")
    if kind in _TYPE_ERRORS:
        parent = _parent_kind(data, path)
        if parent == "mcq" and last == "answer" and isinstance(value, list):
            return Explained(
                path,
                False,
                "answer: an mcq has exactly one correct option, so "
                "answer is one letter — for several use kind: multi_select",
            )
        wanted = _TYPE_ERRORS[kind]
        return Explained(
            path,
            False,
            f"{name}: expected {wanted}, got {describe(value)}{_quote_hint(value, [wanted])}",
        )
    return Explained(path, False, f"{name}: {e.get('msg', kind)}")


def _parent_kind(data: Any, path: tuple) -> str | None:
    current = data
    for step in path[:-1]:
        try:
            current = current[step]
        except (KeyError, IndexError, TypeError):
            return None
    return current.get("kind") if isinstance(current, dict) else None
