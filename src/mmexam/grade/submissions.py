"""Read a folder of submissions: one folder or `.zip` per student, never trusted.

A submission holds `answers.yaml` (answers by printed question number) and one
Python file per code task (`fusion.py`, ...). Everything is read into memory:
a zip is never extracted to disk, so a member named `../../x` cannot land
anywhere; such members, links, oversized or too many files are skipped and
recorded as problems. A folder is read without following symbolic links.
Nothing here raises for a bad submission: each problem becomes a
`SubmissionProblem` in that student's result.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import yaml

from mmexam.grade.results import IntakeKind, IntakeNote, SubmissionProblem

ANSWERS = "answers.yaml"
MAX_FILE_BYTES = 1 << 20
"""Largest single file read (1 MiB): answers and code are a few kilobytes."""
MAX_TOTAL_BYTES = 8 << 20
"""Most bytes read from one submission (8 MiB)."""
MAX_FILES = 200
"""Most files read from one submission."""
MAX_DEPTH = 4
"""Deepest folder level read inside a submission."""
MAX_ANSWER_CHARS = 20_000
"""Longest answer kept; longer ones are cut, with a problem recorded."""

AnswerValue = str | list[str] | None


@dataclass(frozen=True)
class Entry:
    """One student's submission in the submissions folder (or an LMS's download).

    kind: "folder" or "zip" (one per student, named by id), or "members": the
    files `members` lists, (name in `path` -> name in the submission), where
    `path` is an LMS's bulk zip or a folder of its flat files.
    """

    id: str
    path: Path
    kind: str
    members: tuple[tuple[str, str], ...] = ()
    label: str = ""  # the name the submission came under, for messages
    lms: str | None = None  # "canvas", "moodle", "gradescope"
    lms_id: str | None = None  # the LMS's own id of the student
    name_hint: str | None = None  # the student's name as the LMS wrote it
    notes: tuple[IntakeNote, ...] = ()
    suggestion: str | None = None  # the nearest roster id, when none matched

    @property
    def where(self) -> str:
        return self.label or self.path.name


@dataclass
class Submission:
    """The files of one submission, read into memory, with what went wrong."""

    id: str
    kind: str
    files: dict[str, bytes] = field(default_factory=dict)
    problems: list[SubmissionProblem] = field(default_factory=list)
    intake: list[IntakeNote] = field(default_factory=list)

    def problem(self, where: str, message: str, number: str | None = None) -> None:
        self.problems.append(SubmissionProblem(where=where, message=message, number=number))

    def note(self, kind: IntakeKind, where: str, message: str) -> None:
        """Record a decision intake took (a renamed file accepted, ...), once."""
        note = IntakeNote(kind=kind, where=where, message=message)
        if note not in self.intake:
            self.intake.append(note)

    def digest(self) -> str:
        """sha256 over the file names and contents: changes when anything submitted changes."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            data = self.files[name]
            h.update(f"{name}\0{len(data)}\0".encode())
            h.update(data)
        for problem in self.problems:
            h.update(problem.line().encode())
        for note in self.intake:
            h.update(note.line().encode())
        return h.hexdigest()


@dataclass
class Answer:
    """One answer from answers.yaml: typed (`value`), or written on paper (`crops`: pictures
    of it, relative to the submission folder, as `mmexam scan` writes `{on_paper: [...]}`)."""

    value: AnswerValue
    line: int
    crops: tuple[str, ...] = ()

    @property
    def on_paper(self) -> bool:
        """Whether the answer is a picture of the paper, not text."""
        return bool(self.crops) and self.value is None


@dataclass
class Answers:
    """answers.yaml, parsed: answers by normalised printed number, and the version named."""

    by_number: dict[str, Answer] = field(default_factory=dict)
    problems: list[SubmissionProblem] = field(default_factory=list)
    variant: Answer | None = None  # `variant: B` (or `version: B`) on an anonymous paper


# ---------------------------------------------------------------- reading


def read_submission(entry: Entry) -> Submission:
    """Read every usable file of a submission into memory."""
    sub = Submission(entry.id, "zip" if entry.kind == "zip" else "folder")
    sub.intake.extend(entry.notes)
    if entry.kind == "zip":
        _read_zip(entry.path, entry.path.name, sub)
    elif entry.kind == "members":
        _read_members(entry, sub)
    else:
        _read_folder(entry.path, sub)
    _strip_common_folder(sub)
    return sub


def _read_members(entry: Entry, sub: Submission) -> None:
    """The files an LMS's download holds for one student; a zip the student uploaded is
    read as their submission (one level, with the same caps)."""
    total = [0]
    archive = None
    try:
        if entry.path.is_file():
            archive = zipfile.ZipFile(entry.path)
        for member, name in entry.members:
            where = f"{entry.path.name}: {member}"
            limit = MAX_TOTAL_BYTES if name.lower().endswith(".zip") else MAX_FILE_BYTES
            data = _member_bytes(archive, entry.path, member, sub, where, limit)
            if data is None:
                continue
            if name.lower().endswith(".zip"):
                _read_zip(io.BytesIO(data), name, sub, total)
            elif not _accept(sub, name, data, total):
                return
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        sub.problem(entry.path.name, f"not a readable zip file ({error}); download it again")
    finally:
        if archive is not None:
            archive.close()


def _member_bytes(
    archive: zipfile.ZipFile | None,
    root: Path,
    member: str,
    sub: Submission,
    where: str,
    limit: int,
) -> bytes | None:
    """One file of an LMS download (a zip member, or a file of its folder), at most `limit`."""
    if archive is None:
        return _read_capped(root / member, sub, member, limit)
    info = archive.getinfo(member)
    data = None
    if info.file_size <= limit:
        try:
            with archive.open(info) as handle:
                data = handle.read(limit + 1)
        except Exception as error:  # noqa: BLE001 — zlib errors and friends: a corrupt member
            sub.problem(where, f"cannot be read from the zip ({type(error).__name__}); ignored")
            return None
    if data is None or len(data) > limit:
        sub.problem(where, f"larger than {limit >> 10} KiB; ignored")
        return None
    return data


def _accept(sub: Submission, name: str, data: bytes, total: list[int]) -> bool:
    """Add one file within the caps; False once the submission is full."""
    if len(sub.files) >= MAX_FILES:
        sub.problem(name, f"more than {MAX_FILES} files; the rest were not read")
        return False
    if total[0] + len(data) > MAX_TOTAL_BYTES:
        sub.problem(
            name, f"the submission is over {MAX_TOTAL_BYTES >> 20} MiB; the rest was not read"
        )
        return False
    total[0] += len(data)
    sub.files[name] = data
    return True


def _read_folder(root: Path, sub: Submission) -> None:
    total = [0]
    stack: list[tuple[Path, PurePosixPath, int]] = [(root, PurePosixPath(), 0)]
    while stack:
        folder, rel, depth = stack.pop()
        try:
            children = sorted(os.scandir(folder), key=lambda d: d.name)
        except OSError as error:
            sub.problem(str(rel) or ".", f"cannot list the folder ({error.strerror})")
            continue
        for child in children:
            name = (rel / child.name).as_posix()
            if child.name.startswith(".") or child.name == "__pycache__":
                continue
            if child.is_symlink():
                sub.problem(name, "a symbolic link; links are not followed, so it was ignored")
                continue
            if child.is_dir(follow_symlinks=False):
                if depth + 1 > MAX_DEPTH:
                    sub.problem(name, f"nested more than {MAX_DEPTH} folders deep; ignored")
                else:
                    stack.append((Path(child.path), rel / child.name, depth + 1))
                continue
            if not child.is_file(follow_symlinks=False):
                sub.problem(name, "not a regular file; ignored")
                continue
            data = _read_capped(Path(child.path), sub, name)
            if data is not None and not _accept(sub, name, data, total):
                return


def _read_capped(
    path: Path, sub: Submission, name: str, limit: int = MAX_FILE_BYTES
) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        sub.problem(name, f"cannot be read ({error.strerror})")
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        sub.problem(name, f"larger than {limit >> 10} KiB; ignored")
        return None
    return data


def _read_zip(
    source: Path | IO[bytes], where: str, sub: Submission, total: list[int] | None = None
) -> None:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        sub.problem(where, f"not a readable zip file ({error}); re-create it with a zip tool")
        return
    total = total if total is not None else [0]
    with archive:
        members = archive.infolist()
        for info in members:
            name = info.filename
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                sub.problem(f"{where}: {name}", "a symbolic link inside the zip; ignored")
                continue
            clean = _safe_member_name(name)
            if clean is None:
                sub.problem(
                    f"{where}: {name}",
                    "a path that leaves the submission folder (../ or absolute); ignored",
                )
                continue
            parts = PurePosixPath(clean).parts
            if any(p.startswith(".") or p in ("__MACOSX", "__pycache__") for p in parts):
                continue
            if len(parts) - 1 > MAX_DEPTH:
                sub.problem(
                    f"{where}: {name}", f"nested more than {MAX_DEPTH} folders deep; ignored"
                )
                continue
            if info.flag_bits & 0x1:
                sub.problem(f"{where}: {name}", "encrypted; submit an unencrypted zip")
                continue
            if info.file_size > MAX_FILE_BYTES:
                sub.problem(f"{where}: {name}", f"larger than {MAX_FILE_BYTES >> 10} KiB; ignored")
                continue
            try:
                with archive.open(info) as handle:
                    data = handle.read(MAX_FILE_BYTES + 1)
            except (
                zipfile.BadZipFile,
                OSError,
                ValueError,
                NotImplementedError,
                EOFError,
            ) as error:
                sub.problem(f"{where}: {name}", f"cannot be read from the zip ({error}); ignored")
                continue
            except Exception as error:  # noqa: BLE001 — zlib errors and friends: a corrupt member
                sub.problem(
                    f"{where}: {name}", f"corrupt in the zip ({type(error).__name__}); ignored"
                )
                continue
            if len(data) > MAX_FILE_BYTES:
                sub.problem(f"{where}: {name}", f"larger than {MAX_FILE_BYTES >> 10} KiB; ignored")
                continue
            if clean in sub.files:
                sub.problem(f"{where}: {name}", "appears twice in the zip; the first copy was used")
                continue
            if not _accept(sub, clean, data, total):
                return


def _safe_member_name(name: str) -> str | None:
    """The member's path inside the submission, or None if it would leave it."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    if any("\0" in p for p in parts):
        return None
    return "/".join(parts)


def _strip_common_folder(sub: Submission) -> None:
    """Accept `s123/answers.yaml` inside s123.zip: drop one folder that holds everything."""
    while sub.files and not any("/" not in name for name in sub.files):
        tops = {name.split("/", 1)[0] for name in sub.files}
        if len(tops) != 1:
            return
        sub.files = {name.split("/", 1)[1]: data for name, data in sub.files.items()}


# ---------------------------------------------------------------- decoding


def decode_text(sub: Submission, name: str) -> str | None:
    """The file as text, or None if it was not submitted. Non-UTF-8 is a problem, not a stop."""
    data = sub.files.get(name)
    if data is None:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        sub.problem(
            f"{name}:{line}",
            f"not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "unreadable characters were replaced by \ufffd — save the file as UTF-8",
        )
        return data.decode("utf-8", errors="replace")


COPY_SUFFIX = re.compile(r"^(?P<stem>.+?)(?:\s*\((?P<paren>\d+)\)|[-_ ](?P<dash>\d+))?$")
"""A name as an LMS or a browser renames a re-upload: `fusion (1)`, `fusion-2`, `fusion_1`."""


def _copy_of(name: str, wanted: str) -> int | None:
    """The copy number if `name` is `wanted` as an LMS renames it (0: only the case differs)."""
    stem, dot, ext = name.rpartition(".")
    want_stem, _, want_ext = wanted.rpartition(".")
    if not dot or ext.lower() != want_ext.lower():
        return None
    if stem.lower() == want_stem.lower():
        return 0
    match = COPY_SUFFIX.match(stem)
    if match is None or match["stem"].lower() != want_stem.lower():
        return None
    return int(match["paren"] or match["dash"] or 0)


def find_file(sub: Submission, wanted: str, *, also: tuple[str, ...] = ()) -> str | None:
    """The submitted name for `wanted` (or one of `also`, e.g. answers.yml): exact, else the
    name as an LMS renames it (`fusion (1).py`, `fusion-2.py`, `Fusion.py`), the latest copy
    when there are several. Every choice that is not exact is recorded on the submission."""
    for name in (wanted, *also):
        if name in sub.files:
            others = sorted(n for n in sub.files if n != name and _copy_of(n, name) is not None)
            if others:
                sub.note(
                    "file",
                    name,
                    f"graded {name}; also submitted {', '.join(others)}, which was not graded",
                )
            return name
    found = sorted(
        ((copy, n) for n in sub.files if "/" not in n for w in (wanted, *also)
         if (copy := _copy_of(n, w)) is not None),
        key=lambda cn: (cn[0], cn[1]),
    )  # fmt: skip
    if not found:
        return None
    copy, name = found[-1]
    others = [n for _, n in found[:-1]]
    why = "only the case differs" if copy == 0 else "the name an LMS gives a re-upload"
    if others:
        why += f"; the latest of {', '.join([*others, name])}"
    sub.note("file", name, f"accepted as {wanted} ({why})")
    return name


def answers_file(sub: Submission) -> str | None:
    """The submitted answers file: answers.yaml, answers.yml, or either as an LMS renames it."""
    return find_file(sub, ANSWERS, also=("answers.yml",))


# ---------------------------------------------------------------- answers.yaml


class _Loader(yaml.SafeLoader):
    """Plain YAML composition only: no tags are constructed, nothing runs."""


def normalise_number(raw: str) -> str:
    """'1.3', ' 3.A ', 'Q1.3', '(1.3)' -> '1.3'."""
    text = raw.strip().strip("()[]").strip().lower()
    if text.startswith("q") and text[1:2].isdigit():
        text = text[1:]
    return text.rstrip(".:)").replace(" ", "")


_NULLS = {"", "~", "null", "Null", "NULL"}
ON_PAPER = "on_paper"
"""The key of an answer written on paper: `2.1: {on_paper: [crops/2.1.png]}`."""
VERSION_KEYS = ("variant", "version")
"""The keys that name the anonymous version a student wrote (`variant: B`)."""


def parse_answers(text: str, filename: str = ANSWERS) -> Answers:
    """Parse answers.yaml into answers by printed number, keeping every key a string.

    YAML would read the key `1.10` as the float 1.1; here every key and every
    scalar answer is kept exactly as written, so `1.10` and `1.1` stay apart
    and `b` stays the letter b. Lists (for select-all-that-apply) are lists of
    strings. Problems (bad YAML, duplicates, nested maps) are collected.
    """
    result = Answers()

    def problem(line: int | None, message: str, number: str | None = None) -> None:
        where = f"{filename}:{line}" if line else filename
        result.problems.append(SubmissionProblem(where=where, message=message, number=number))

    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        start = getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error).splitlines()[0]
        context = getattr(error, "context", None)
        if start is not None and context and line is not None and start.line + 1 != line:
            # an unclosed bracket or quote: point at where it was opened
            reason = f"{context} that starts here: {reason} at line {line}"
            line = start.line + 1
        problem(
            line,
            f"not valid YAML ({reason}); no answers could be read — write one "
            "'number: answer' per line, e.g. '1.3: b'",
        )
        return result
    except (ValueError, RecursionError) as error:
        problem(None, f"not valid YAML ({error}); no answers could be read")
        return result
    if root is None:
        return result
    if not isinstance(root, yaml.MappingNode):
        problem(
            root.start_mark.line + 1, "should be a mapping of 'number: answer' lines, e.g. '1.3: b'"
        )
        return result
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            problem(line, "a question number must be plain text like 1.3")
            continue
        number = normalise_number(key_node.value)
        crops: tuple[str, ...] = ()
        value: AnswerValue = None
        if _is_on_paper(value_node):
            crops, message = _crops(value_node)
        else:
            value, message = _scalar_or_list(value_node)
        if number in VERSION_KEYS:
            if not isinstance(value, str) or not value.strip():
                problem(line, f"{key_node.value}: write the version printed on your paper, "
                        "e.g. 'variant: B'")  # fmt: skip
            else:
                result.variant = Answer(value.strip(), line)
            continue
        if message:
            problem(line, f"{number}: {message}", number)
            continue
        if isinstance(value, str) and len(value) > MAX_ANSWER_CHARS:
            problem(
                line, f"{number}: answer longer than {MAX_ANSWER_CHARS} characters; cut", number
            )
            value = value[:MAX_ANSWER_CHARS]
        if number in result.by_number:
            first = result.by_number[number].line
            problem(
                line,
                f"{number} is answered twice (lines {first} and {line}); the last one counts",
                number,
            )
        result.by_number[number] = Answer(value, line, crops)
    return result


def _is_on_paper(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.MappingNode)
        and len(node.value) == 1
        and isinstance(node.value[0][0], yaml.ScalarNode)
        and node.value[0][0].value == ON_PAPER
    )


def _crops(node: yaml.Node) -> tuple[tuple[str, ...], str | None]:
    """The pictures of `{on_paper: [...]}`: relative paths inside the submission folder."""
    value, message = _scalar_or_list(node.value[0][1])
    paths = [value] if isinstance(value, str) else (value or [])
    if message or not paths:
        return (), f"{ON_PAPER} needs the pictures of the answer, e.g. [crops/2.1.png]"
    for path in paths:
        if _safe_member_name(path) != path:
            return (), f"{ON_PAPER}: {path!r} is not a path inside the submission folder"
    return tuple(paths), None


def _scalar_or_list(node: yaml.Node) -> tuple[AnswerValue, str | None]:
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.value in _NULLS:
            return None, None
        return node.value, None
    if isinstance(node, yaml.SequenceNode):
        values = []
        for child in node.value[:64]:
            if not isinstance(child, yaml.ScalarNode):
                return None, "a list may only hold letters or numbers, e.g. [a, c]"
            if child.value not in _NULLS:
                values.append(child.value)
        return values, None
    return None, "expected an answer (a letter, number, text or list), got a nested mapping"
