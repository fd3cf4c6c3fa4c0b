"""Read one YAML file into plain data plus the line:column of every value.

The bank's YAML is read from the parser's event stream (libyaml when
available) by a small iterative builder rather than by PyYAML's
constructors, so that:

- every value and every mapping key keeps its position (`Document.where`),
  which lets a validation error deep inside a question say `file:line:col`;
- nothing is recursive: a file nested a thousand levels deep is an error,
  not a `RecursionError`;
- aliases are counted as they expand: a "billion laughs" file stops with an
  error after a bounded amount of work instead of eating memory;
- plain scalars follow YAML 1.2 (the core schema): `yes`, `no`, `on`, `off`
  stay text, `1e-3` is a number, dates stay text;
- only the standard tags are accepted: no `!!python/...` objects;
- a duplicate key is reported instead of silently keeping the last value.

Problems are returned as `ReadProblem(line, col, message)` with 1-based
positions and messages that say how to fix them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _EventSource
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _EventSource  # type: ignore[assignment]

MAX_DEPTH = 64


@dataclass(frozen=True, order=True)
class ReadProblem:
    """Something wrong with a file as YAML; line and col are 1-based (0 = unknown)."""

    line: int
    col: int
    message: str


class ReadError(Exception):
    """The file cannot be read as YAML at all."""

    def __init__(self, problem: ReadProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Document:
    """A YAML file's data and where each piece of it came from.

    Positions are kept per container (by its identity), so that reading a
    big file does not build a path tuple for every value.
    """

    data: Any
    root_at: tuple[int, int] = (1, 1)
    # id(container) -> {key or index: (line, col) of the value}
    value_at: dict[int, Any] = field(default_factory=dict)
    # id(mapping) -> {key: (line, col) of the key}
    key_at: dict[int, dict[str, tuple[int, int]]] = field(default_factory=dict)
    # (id(container), key or index) of strings written as literal blocks (`|`)
    block_scalars: set[tuple[int, Any]] = field(default_factory=set)
    problems: list[ReadProblem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def where(self, path: tuple, *, key: bool = False) -> tuple[int, int]:
        """(line, col) of the value at `path` (or of its key), else of its nearest ancestor."""
        best = self.root_at
        container = self.data
        last = len(path) - 1
        for depth, step in enumerate(path):
            table = self.value_at.get(id(container))
            if table is None:
                return best
            if key and depth == last:
                keys = self.key_at.get(id(container))
                if keys is not None and step in keys:
                    return keys[step]
            try:
                best = table[step]
                container = container[step]
            except (KeyError, IndexError, TypeError):
                return best
        return best

    def is_block_scalar(self, path: tuple) -> bool:
        """Whether the string at `path` was written as a literal block (`|`)."""
        if not path:
            return False
        container = self.data
        try:
            for step in path[:-1]:
                container = container[step]
        except (KeyError, IndexError, TypeError):
            return False
        return (id(container), path[-1]) in self.block_scalars


# ---------------------------------------------------------------- scalars (YAML 1.2 core)

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")

_STD = "tag:yaml.org,2002:"


_NUMERIC_START = frozenset("0123456789+-.")


def _plain(value: str) -> Any:
    if value and value[0] not in _NUMERIC_START and value[0] not in "~nNtTfF":
        return value  # plain text: not null, bool or number
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    try:
        if _INT.match(value):
            return int(value)
        if _OCT.match(value):
            return int(value, 0)
        if _HEX.match(value):
            return int(value, 0)
    except ValueError:  # more digits than int() accepts: keep the text
        return value
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


def _tagged(value: str, tag: str) -> Any:
    """A scalar with an explicit standard tag; raises ValueError when it does not fit."""
    name = tag[len(_STD) :]
    if name == "str":
        return value
    resolved = _plain(value)
    if name == "null" and resolved is None:
        return None
    if name == "bool" and isinstance(resolved, bool):
        return resolved
    if name == "int" and isinstance(resolved, int) and not isinstance(resolved, bool):
        return resolved
    if name == "float" and isinstance(resolved, (int, float)) and not isinstance(resolved, bool):
        return float(resolved)
    raise ValueError(f"'{value}' is not a valid !!{name}")


# ---------------------------------------------------------------- builder


@dataclass
class _Frame:
    kind: str  # "map" or "seq"
    container: Any
    positions: Any  # list (seq) or dict (map): where each value starts
    keys: dict[str, tuple[int, int]]  # where each key starts (maps)
    anchor: str | None
    where: tuple[int, int]
    size: int = 1
    key: tuple[str, tuple[int, int]] | None = None
    merges: list[tuple[Any, tuple[int, int]]] = field(default_factory=list)


def _pos(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def read_text(text: str, *, max_values: int | None = None) -> Document:
    """Parse YAML text; raises ReadError for a file that is not YAML at all."""
    if max_values is None:
        max_values = 2 * len(text) + 100_000
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        line, col = _line_col(text, error.start)
        raise ReadError(
            ReadProblem(
                line, col, "the text holds an unpaired surrogate character — save the file as UTF-8"
            )
        ) from None
    doc = Document(data=None, lines=text.split("\n"))
    try:
        _build(text, doc, max_values)
    except yaml.MarkedYAMLError as error:
        raise ReadError(_syntax_problem(error, text)) from None
    except yaml.reader.ReaderError as error:
        line, col = _line_col(text, error.position)
        code = error.character if isinstance(error.character, int) else ord(str(error.character))
        raise ReadError(
            ReadProblem(line, col, f"character U+{code:04X} is not allowed in YAML — delete it")
        ) from None
    except yaml.YAMLError as error:  # any other parser complaint, without a position
        raise ReadError(ReadProblem(1, 1, f"not valid YAML: {error}")) from None
    return doc


def read_file(path: Path, *, max_values: int | None = None) -> Document:
    """Read and parse a YAML file; raises ReadError (empty, not UTF-8, not YAML...)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        col = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise ReadError(
            ReadProblem(
                line,
                col,
                f"the file is not UTF-8 (byte 0x{raw[error.start]:02x}) — save it as UTF-8",
            )
        ) from None
    return read_text(text, max_values=max_values)


def _syntax_problem(error: yaml.MarkedYAMLError, text: str) -> ReadProblem:
    mark = error.problem_mark or error.context_mark
    line, col = _pos(mark) if mark is not None else (1, 1)
    problem = (error.problem or "").strip()
    context = (error.context or "").strip()
    offset = mark.index if mark is not None else -1
    at = text[offset] if 0 <= offset < len(text) else ""
    line_text = text.split("\n")[line - 1] if 0 < line <= text.count("\n") + 1 else ""
    if at == "\t" or (problem.startswith("found character") and "\t" in line_text[:col]):
        return ReadProblem(
            line,
            col,
            "a tab is used for indentation — YAML indents with spaces; replace the tab with spaces",
        )
    what = problem + (f" ({context})" if context else "")
    if "unknown escape character" in problem:
        fix = (
            "in double quotes a backslash starts an escape: write LaTeX in single quotes "
            "('...') or in a | block"
        )
    elif "mapping values are not allowed" in problem:
        fix = "quote the text if it contains ': ', or fix the indentation"
    elif "could not find expected ':'" in problem or "expected <block end>" in problem:
        fix = "check the indentation of this line and the one before"
    elif "end of stream" in problem and "quoted" in context:
        fix = "close the quote"
    elif "flow" in context:
        fix = "close the bracket, or quote items that contain commas or brackets"
    else:
        fix = "check the indentation and quoting near here"
    return ReadProblem(line, col, f"YAML syntax error: {what} — {fix}")


# Long by nature: one YAML event loop, its state in locals; splitting would pass ten variables.
def _build(text: str, doc: Document, max_values: int) -> None:
    source = _EventSource(text)
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int]] = {}
    documents = 0
    values = 0
    get_event = source.get_event
    scalar_event = yaml.ScalarEvent
    try:
        while True:
            event = get_event()
            if event.__class__ is scalar_event:  # the common case first
                values += 1
                mark = event.start_mark
                where = (mark.line + 1, mark.column + 1)
                top = stack[-1] if stack else None
                if top is not None and top.key is None and top.kind == "map":
                    top.key = (event.value, where)
                    continue
                style = event.style
                if event.tag is None and not style and event.implicit[0]:
                    value = _plain(event.value)
                else:
                    value = _scalar(event, doc, where)
                if style == '"':
                    _mangled_latex(text[mark.index : event.end_mark.index], doc, where)
                elif style == "|" and top is not None:
                    slot = top.key[0] if top.kind == "map" and top.key else len(top.container)
                    doc.block_scalars.add((id(top.container), slot))
                if event.anchor is not None:
                    anchors[event.anchor] = (value, 1)
                _place(stack, doc, value, 1, where)
                continue
            if isinstance(event, yaml.StreamEndEvent) or event is None:
                break
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    line, col = _pos(event.start_mark)
                    doc.problems.append(
                        ReadProblem(
                            line,
                            col,
                            "a second YAML document ('---') — keep one document "
                            "per file; everything after this line is ignored",
                        )
                    )
                    break
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
                continue
            where = _pos(event.start_mark)

            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise ReadError(
                        ReadProblem(
                            *where,
                            f"nested more than {MAX_DEPTH} levels deep — flatten the structure",
                        )
                    )
                _check_tag(event, doc, where)
                if stack and stack[-1].kind == "map" and stack[-1].key is None:
                    raise ReadError(
                        ReadProblem(
                            *where, "a list or mapping used as a key — keys must be plain text"
                        )
                    )
                is_map = isinstance(event, yaml.MappingStartEvent)
                container: Any = {} if is_map else []
                positions: Any = {} if is_map else []
                keys: dict[str, tuple[int, int]] = {}
                doc.value_at[id(container)] = positions
                if is_map:
                    doc.key_at[id(container)] = keys
                kind = "map" if is_map else "seq"
                stack.append(_Frame(kind, container, positions, keys, event.anchor, where))
                values += 1
                continue

            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                if frame.kind == "map":
                    _apply_merges(frame, doc)
                if frame.anchor is not None:
                    anchors[frame.anchor] = (frame.container, frame.size)
                _place(stack, doc, frame.container, frame.size, frame.where)
                continue

            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    if any(f.anchor == event.anchor for f in stack):
                        message = f"alias *{event.anchor} refers to a value that contains it"
                    else:
                        message = f"alias *{event.anchor} is not defined above"
                    raise ReadError(
                        ReadProblem(
                            *where,
                            message + f" — define the anchor &{event.anchor} before using it",
                        )
                    )
                value, size = anchors[event.anchor]
                values += size
                if values > max_values:
                    raise ReadError(
                        ReadProblem(
                            *where,
                            f"aliases expand this file to more than {max_values:,} values "
                            "(a 'billion laughs' YAML bomb?) — use fewer nested aliases",
                        )
                    )
                if stack and stack[-1].kind == "map" and stack[-1].key is None:
                    raise ReadError(
                        ReadProblem(*where, "an alias used as a key — keys must be plain text")
                    )
                _place(stack, doc, value, size, where)
                continue
    finally:
        source.dispose()


_YAML_ESCAPES = {
    "0": "null",
    "a": "bell",
    "b": "backspace",
    "t": "tab",
    "n": "newline",
    "v": "vertical tab",
    "f": "form feed",
    "r": "carriage return",
    "e": "escape",
    "N": "next line",
    "L": "line separator",
    "P": "paragraph separator",
    "x": "a \\x.. escape",
    "u": "a \\u.... escape",
    "U": "a \\U.... escape",
}
_BACKSLASH_WORD = re.compile(r"\\(\\|[A-Za-z]+|.)")  # a `\\` pair is consumed first


def _mangled_latex(raw: str, doc: Document, where: tuple[int, int]) -> None:
    """LaTeX in double quotes: YAML turns `\\frac` into a form feed and 'rac'."""
    from mmexam.markup import LATEX_COMMANDS

    for match in _BACKSLASH_WORD.finditer(raw):
        word = match.group(1)
        if len(word) > 1 and word in LATEX_COMMANDS and word[0] in _YAML_ESCAPES:
            doc.problems.append(
                ReadProblem(
                    *where,
                    f"'\\{word}' in double quotes: YAML reads '\\{word[0]}' as "
                    f"{_YAML_ESCAPES[word[0]]}, so the LaTeX is lost — write LaTeX in single quotes "
                    "('...') or in a | block",
                )
            )
            return


def _check_tag(event, doc: Document, where: tuple[int, int]) -> None:
    tag = getattr(event, "tag", None)
    if tag in (None, "!", f"{_STD}map", f"{_STD}seq", f"{_STD}omap"):
        return
    shown = tag.replace(_STD, "!!")
    doc.problems.append(
        ReadProblem(
            *where, f"unsupported YAML tag {shown} — remove it; the bank only holds plain data"
        )
    )


def _scalar(event, doc: Document, where: tuple[int, int]) -> Any:
    tag = event.tag
    if tag not in (None, "!"):
        if tag.startswith(_STD) and tag[len(_STD) :] in ("str", "int", "float", "bool", "null"):
            try:
                return _tagged(event.value, tag)
            except ValueError as error:
                doc.problems.append(
                    ReadProblem(*where, f"{error} — remove the tag or fix the value")
                )
                return event.value
        shown = tag.replace(_STD, "!!")
        doc.problems.append(
            ReadProblem(
                *where, f"unsupported YAML tag {shown} — remove it; the bank only holds plain data"
            )
        )
        return event.value
    if event.style or not event.implicit[0]:
        return event.value
    return _plain(event.value)


def _place(
    stack: list[_Frame], doc: Document, value: Any, size: int, where: tuple[int, int]
) -> None:
    if not stack:
        doc.data = value
        doc.root_at = where
        return
    top = stack[-1]
    top.size += size
    if top.kind == "seq":
        top.container.append(value)
        top.positions.append(where)
        return
    assert top.key is not None
    key, key_where = top.key
    top.key = None
    if key == "<<":
        top.merges.append((value, where))
        return
    if key in top.container:
        first = top.keys.get(key, (0, 0))
        doc.problems.append(
            ReadProblem(
                *key_where, f"duplicate key '{key}' (first at line {first[0]}) — keep only one"
            )
        )
    top.container[key] = value
    top.positions[key] = where
    top.keys[key] = key_where


def _apply_merges(frame: _Frame, doc: Document) -> None:
    """YAML merge keys: `<<: *base` fills in the keys this mapping does not set."""
    for value, where in frame.merges:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                doc.problems.append(
                    ReadProblem(*where, "'<<' must merge a mapping or a list of mappings")
                )
                continue
            for key, item in source.items():
                if key not in frame.container:
                    frame.container[key] = item
                    frame.positions[key] = where
                    frame.keys[key] = where
