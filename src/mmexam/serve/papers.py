"""The built exam as the web app serves it: each student's paper, fields and answers.

`OnlineExam` reads a build folder's `variants.json` and the bank it was built
from, redraws every student's paper with the build's own code and refuses to
serve one that no longer matches variants.json (the same questions, option
order and parameters, or nothing). A paper is rendered by the build's
`exam.html.j2`, through `templates/serve/paper.html.j2`, which adds an input
for every gradable item: the page is the built exam.html with fields.

Fields are keyed as `mmexam grade` reads them: a printed number ("1.3",
"3.a") for answers.yaml, `file:<task>.py` for a code file. What a field may
hold is checked here (`check_value`), and `answers_yaml` / `submission_files`
write the last saved values in exactly the format `mmexam grade` reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from mmexam.errors import MmexamError
from mmexam.exam import Item, Manifest, Student
from mmexam.fmt import letter
from mmexam.grade.scoring import parse_number
from mmexam.grade.submissions import ANSWERS, MAX_ANSWER_CHARS, Submission
from mmexam.paths import DEFAULT_BANK, GRADERS, TEMPLATES

MAX_CODE_CHARS = 100_000
"""Longest code file kept (a task file is a few kilobytes)."""
CODE_PREFIX = "file:"


class ServeError(MmexamError):
    """The exam cannot be served (no build, a paper that no longer matches, bad options)."""


@dataclass(frozen=True)
class Field:
    """One answer field on a student's paper."""

    key: str  # "1.3", or "file:fusion.py"
    kind: str  # mcq, multi_select, numeric, short_answer, open, code
    letters: str = ""  # the option letters printed, for mcq / multi_select
    unit: str | None = None  # numeric: the unit a student may type after the number
    task: str | None = None  # code: the task whose file this is


def code_key(task: str) -> str:
    return f"{CODE_PREFIX}{task}.py"


class OnlineExam:
    """A build folder, ready to serve: the manifest, the bank and every student's paper."""

    def __init__(
        self,
        build: Path,
        bank: Path | None = None,
        *,
        graders: Path = GRADERS,
        default_bank: Path = DEFAULT_BANK,
    ) -> None:
        """`bank`: the bank the exam was built from (default: the one variants.json names,
        else `default_bank`, the course's); `graders`: the course's code tasks."""
        from mmexam.bank import load_bank

        self.build = build
        self.graders = graders
        path = build / "variants.json"
        try:
            self.manifest = Manifest.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise ServeError(
                f"{path}: not found — run `mmexam build --roster roster.csv --out {build}` first"
            ) from None
        except OSError as error:
            raise ServeError(f"{path}: cannot be read ({error.strerror})") from None
        except ValueError as error:
            raise ServeError(
                f"{path}: not a variants.json written by `mmexam build` ({error}) — rebuild"
            ) from None
        if bank is None:
            given = Path(self.manifest.bank)
            bank = given if given.is_dir() else default_bank
        self.bank_path = bank
        self.bank = load_bank(bank)
        self.students = {s.id: s for s in self.manifest.students}
        self._views: dict[str, dict[str, Any]] = {}
        self._fields: dict[str, dict[str, Field]] = {}
        for student in self.manifest.students:
            self._check(student)

    # ------------------------------------------------------------ papers

    def body(self, item: Item) -> Any:
        """The bank's question (or problem part) an item of a paper is."""
        question: Any = self.bank.questions[item.question]
        return question.parts[item.subpart] if item.subpart is not None else question

    def _check(self, student: Student) -> None:
        missing = [i.question for i in student.items if i.question not in self.bank.questions]
        if missing:
            raise ServeError(
                f"{self.bank_path}: question '{missing[0]}' of {student.id}'s paper is not in "
                "this bank — serve with the bank the exam was built from (--bank)"
            )

    def paper(self, sid: str) -> Any:
        """The student's paper, redrawn by the build's code and checked against variants.json."""
        from mmexam.build.variants import draw_paper

        student = self.students[sid]
        paper = draw_paper(
            self.bank, self.manifest.seed, sid, name=student.name, variant=student.variant
        )
        if paper.manifest_entry() != student:
            raise ServeError(
                f"{self.build / 'variants.json'}: {sid}'s paper drawn from {self.bank_path} "
                "differs from the one built (questions, option order or parameters) — serve "
                "with the bank and build the exam was made from"
            )
        return paper

    def view(self, sid: str) -> dict[str, Any]:
        """The build's HTML view of the student's paper (made once, then kept)."""
        if sid not in self._views:
            from mmexam.build.view import paper_view

            self._views[sid] = paper_view(self.paper(sid), "html", self.graders)
        return self._views[sid]

    def check_all(self) -> None:
        """Redraw every paper now, so a mismatch stops the server before anyone logs in."""
        for sid in self.students:
            self.view(sid)

    def fields(self, sid: str) -> dict[str, Field]:
        """Every answer field of the student's paper, in printed order."""
        if sid not in self._fields:
            fields: dict[str, Field] = {}
            for item in self.students[sid].items:
                body = self.body(item)
                if item.kind == "code":
                    key = code_key(body.task)
                    fields.setdefault(key, Field(key, "code", task=body.task))
                elif item.kind in ("mcq", "multi_select"):
                    n = len(item.options or body.options)
                    fields[item.number] = Field(
                        item.number, item.kind, letters="".join(letter(k) for k in range(n))
                    )
                else:
                    unit = getattr(body, "unit", None) if item.kind == "numeric" else None
                    fields[item.number] = Field(item.number, item.kind, unit=unit)
            self._fields[sid] = fields
        return self._fields[sid]

    def tasks(self, sid: str) -> list[str]:
        return [f.task for f in self.fields(sid).values() if f.task]

    @cached_property
    def all_tasks(self) -> list[str]:
        return sorted({t for sid in self.students for t in self.tasks(sid)})

    def starter(self, task: str) -> str:
        """The starter file students were given: build/starter/<task>.py, else generated."""
        built = self.build / "starter" / f"{task}.py"
        if built.is_file():
            return built.read_text(encoding="utf-8")
        from mmexam.build.starter import starter_text

        return starter_text(self.graders, task)

    def render(self, sid: str, online: Mapping[str, Any]) -> str:
        """The student's paper as one HTML page with its fields, from exam.html.j2."""
        from mmexam.build.render import templates

        template = templates(TEMPLATES).html.get_template("serve/paper.html.j2")
        return template.render({**self.view(sid), "online": online})


# ---------------------------------------------------------------- values


def check_value(field: Field, value: Any) -> str | list[str]:
    """The value to store for a field, or a ServeError saying why it cannot be stored."""
    where = field.key.removeprefix(CODE_PREFIX)
    if field.kind == "multi_select":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ServeError(f"{where}: expected a list of letters")
        chosen = sorted(set(value))
        bad = [v for v in chosen if len(v) != 1 or v not in field.letters]
        if bad:
            raise ServeError(f"{where}: {bad[0]!r} is not one of the letters {field.letters}")
        return chosen
    if not isinstance(value, str):
        raise ServeError(f"{where}: expected text")
    if field.kind == "mcq":
        if value and (len(value) != 1 or value not in field.letters):
            raise ServeError(f"{where}: {value!r} is not one of the letters {field.letters}")
        return value
    limit = MAX_CODE_CHARS if field.kind == "code" else MAX_ANSWER_CHARS
    if len(value) > limit:
        raise ServeError(f"{where}: longer than {limit} characters")
    if "\0" in value:
        raise ServeError(f"{where}: contains a NUL character")
    return value


def reading(field: Field, value: str) -> str | None:
    """How grading will read a numeric answer ('0.75'), or None when it is not a number."""
    got = parse_number(value, field.unit)
    if got is None:
        return None
    return format(got, ".10g") if math.isfinite(got) else None


# ---------------------------------------------------------------- the hand-off to grading


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line text where YAML allows one (the emitter falls back)."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _list(dumper: yaml.SafeDumper, items: list[str]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def answers_yaml(student: Student, fields: Mapping[str, Field], values: Mapping[str, Any]) -> str:
    """answers.yaml as `mmexam grade` reads it: one `number: answer` per answered item."""
    lines = [f"# {student.name or student.id} ({student.id}) — saved answers, from mmexam serve"]
    for key, field in fields.items():
        if field.kind == "code" or key not in values:
            continue
        value = values[key]
        if value in ("", []):
            continue
        text = yaml.dump(
            {key: value},
            Dumper=_Dumper,
            allow_unicode=True,
            default_flow_style=False,
            sort_keys=False,
            width=100,
        )
        lines.append(text.rstrip("\n"))
    return "\n".join(lines) + "\n"


def submission_files(
    student: Student, fields: Mapping[str, Field], values: Mapping[str, Any]
) -> dict[str, bytes]:
    """The files of the student's submission: answers.yaml and each saved code file."""
    files = {ANSWERS: answers_yaml(student, fields, values).encode("utf-8")}
    for key, field in fields.items():
        if field.kind == "code" and isinstance(values.get(key), str):
            files[key.removeprefix(CODE_PREFIX)] = values[key].encode("utf-8")
    return files


def receipt(sid: str, files: dict[str, bytes]) -> str:
    """The submission's sha256, as `mmexam grade` computes it over the exported files."""
    return Submission(sid, "folder", dict(files)).digest()
