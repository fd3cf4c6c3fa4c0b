"""The student bundle: the practice pool with its answers, and what `practice check` replays.

Layout of an exported bundle folder:

```
practice/
  bundle.json             Bundle: blueprint, practice questions (answers, explanations), tasks
  starter/<task>.py       the stub students implement (signatures, docstrings)
  fixtures/<task>/...     the public checks' reference outputs, precomputed
```

Questions are stored as bank models (not instantiated), so parameterised
questions are drawn fresh each time they are practised. The worked
`solution` of a `code` question is left out: it is the reference code.
Nothing of `graders/` is copied but the starter stubs (generated from the
references, solution blocks cleared) and the fixtures the checks engine
exports for public checks. `practice check --bundle` needs nothing else: no
graders/ folder, no reference.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmexam.bank.bank import Bank, practice_allowed
from mmexam.bank.models import Blueprint, Code, CodePart, Problem, Question
from mmexam.errors import PracticeError

BUNDLE_FILE = "bundle.json"
FORMAT_VERSION = 1


class BundleTask(BaseModel):
    """A code task students can practise with `mmexam practice check`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(
        description="Task name, e.g. 'fusion' (the file students write is fusion.py)."
    )
    functions: list[str] = Field(description="The functions students implement.")
    starter: str = Field(description="The starter stub, relative to the bundle folder.")
    fixtures: str = Field(
        description="Folder of the public checks' fixtures, relative to the bundle."
    )
    checks: list[str] = Field(description="Names of the public checks the fixtures cover.")


class Bundle(BaseModel):
    """bundle.json: everything the quiz and `practice check` need, nothing secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT_VERSION, description="Bundle format version.")
    blueprint: Blueprint = Field(description="The exam's blueprint: parts, topics, duration.")
    questions: list[Question] = Field(description="The practice-eligible questions, with answers.")
    tasks: list[BundleTask] = Field(default_factory=list, description="Code tasks to practise.")

    def task(self, name: str) -> BundleTask | None:
        return next((t for t in self.tasks if t.task == name), None)


def in_practice(question: Question, blueprint: Blueprint) -> bool:
    """Whether practice mode offers `question`: its own `practice` if set, else its part's."""
    return practice_allowed(question, blueprint)


def practice_questions(questions: list[Question], blueprint: Blueprint) -> list[Question]:
    """The questions practice mode offers (see `in_practice`)."""
    return [q for q in questions if in_practice(q, blueprint)]


def without_reference_code(question: Question) -> Question:
    """Drop the worked solution of code questions and code parts (it is the reference code)."""
    if isinstance(question, Code):
        return question.model_copy(update={"solution": None})
    if isinstance(question, Problem):
        parts = [
            p.model_copy(update={"solution": None}) if isinstance(p, CodePart) else p
            for p in question.parts
        ]
        return question.model_copy(update={"parts": parts})
    return question


def bundle_from_bank(bank, tasks: list[BundleTask] | None = None) -> Bundle:
    """The practice pool of a loaded `Bank` as a bundle (in memory)."""
    pool = practice_questions(list(bank.questions.values()), bank.blueprint)
    questions = [without_reference_code(q) for q in pool]
    return Bundle(blueprint=bank.blueprint, questions=questions, tasks=tasks or [])


def load_bundle(folder: Path) -> Bundle:
    """Read `folder/bundle.json`; a missing or broken bundle is one `PracticeError`."""
    path = Path(folder) / BUNDLE_FILE
    if not Path(folder).is_dir():
        raise PracticeError(
            f"{folder}: no such folder — pass the folder made by `mmexam practice export`"
        )
    if not path.is_file():
        raise PracticeError(
            f"{path}: not found — {folder} is not a practice bundle "
            "(make one with `mmexam practice export`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PracticeError(f"{path}: not valid JSON ({error}) — export the bundle again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        found = data.get("format") if isinstance(data, dict) else None
        raise PracticeError(
            f"{path}: bundle format {found!r}, this mmexam reads format {FORMAT_VERSION} — "
            "export the bundle again with this version"
        )
    try:
        return Bundle.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PracticeError(
            f"{path}: {where}: {first['msg']} ({error.error_count()} problem(s)) — "
            "export the bundle again"
        ) from None


def write_bundle_json(bundle: Bundle, folder: Path) -> Path:
    """Write bundle.json into `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BUNDLE_FILE
    path.write_text(
        bundle.model_dump_json(indent=1, exclude_defaults=False) + "\n", encoding="utf-8"
    )
    return path


# ---------------------------------------------------------------- export


class ExportResult(BaseModel):
    """What `export_bundle` wrote."""

    out: Path = Field(description="The bundle folder.")
    questions: int = Field(description="Practice questions in the bundle.")
    by_part: dict[str, int] = Field(description="Practice questions per blueprint part.")
    excluded: list[str] = Field(description="Questions left out (practice: false).")
    exam_items: int = Field(
        default=0, description="Questions in the bundle that the real exam's pools may draw."
    )
    tasks: list[BundleTask] = Field(description="Code tasks with starter and public fixtures.")
    files: list[str] = Field(description="Every file written, relative to the bundle folder.")


def code_tasks(questions: list[Question]) -> list[str]:
    """The code tasks the questions ask for, in order of first appearance."""
    tasks: list[str] = []
    for question in questions:
        bodies = question.parts if isinstance(question, Problem) else [question]
        for body in bodies:
            if body.kind == "code" and body.task not in tasks:
                tasks.append(body.task)
    return tasks


STUDENT_README = """\
# Midterm practice bundle

Everything here is for practice; none of it is graded.

    mmexam practice quiz --bundle {folder}               # a terminal quiz with instant feedback
    mmexam practice quiz --bundle {folder} --review      # the questions you missed, first
    mmexam practice check fusion fusion.py --bundle {folder}   # the public checks on your code

starter/ holds the stubs to implement (copy one, e.g. starter/fusion.py to fusion.py);
fixtures/ holds the public checks' expected outputs, which `practice check` replays.
The real grading runs these checks and more (hidden ones) on the same sandbox.
"""


BUNDLE_ENTRIES = {BUNDLE_FILE, "README.md", "starter", "fixtures"}


def _prepare_folder(out: Path) -> None:
    """Refuse to write into a folder that holds anything but an earlier bundle."""
    if out.exists() and not out.is_dir():
        raise PracticeError(f"{out}: exists and is not a folder — choose another --out")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in BUNDLE_ENTRIES)
        if foreign:
            raise PracticeError(
                f"{out}: holds {foreign[0]}, which is not part of a practice bundle — "
                "choose another --out or empty the folder (nothing was written)"
            )


def exam_pool_items(bank: Bank, questions: list[Question]) -> list[str]:
    """Ids of `questions` that a part of the real exam may draw (its pool holds them)."""
    drawable = {q.id for part in bank.blueprint.parts for q in bank.pool(part)}
    return [q.id for q in questions if q.id in drawable]


def _write_tasks(
    pool: list[Question], out: Path, graders: Path
) -> tuple[list[BundleTask], list[str]]:
    """Write each code task's starter stub and public fixtures under `out`.

    Returns the tasks as the bundle lists them, and the files written (relative to `out`)."""
    from mmexam.checks import export_fixtures
    from mmexam.checks.tasks import task_functions
    from mmexam.starter import REFERENCE, generate_starter

    files = []
    tasks = []
    for task in code_tasks(pool):
        starter = Path("starter") / f"{task}.py"
        (out / "starter").mkdir(exist_ok=True)
        (out / starter).write_text(generate_starter(graders / task / REFERENCE), encoding="utf-8")
        json_path = export_fixtures(task, out / "fixtures", graders=graders)
        document = json.loads(json_path.read_text(encoding="utf-8"))
        tasks.append(
            BundleTask(
                task=task,
                functions=task_functions(task, graders),
                starter=starter.as_posix(),
                fixtures="fixtures",
                checks=[check["name"] for check in document["checks"]],
            )
        )
        files += [starter.as_posix(), f"fixtures/{task}.json", f"fixtures/{task}.safetensors"]
        if (out / "fixtures" / f"{task}.modules.py").is_file():
            files.append(f"fixtures/{task}.modules.py")
    return tasks, files


def export_bundle(
    bank_path: Path,
    out: Path,
    *,
    graders: Path | None = None,
    include_exam_items: bool = False,
) -> ExportResult:
    """Write the student bundle of the bank at `bank_path` into `out`.

    The bundle holds the practice questions (answers and explanations; no
    worked solution of a code question), the starter stub of each code task
    they ask for, and the public checks' fixtures from the checks engine.
    Reference code and hidden checks never enter it.

    A practice question that the exam's pools may also draw would hand
    students an item of the real exam: unless `include_exam_items`, the
    export refuses (before writing anything) and says how many and which.
    """
    import shutil

    from mmexam.bank import load_bank
    from mmexam.paths import GRADERS

    graders = graders or GRADERS
    out = Path(out)
    bank = load_bank(Path(bank_path), graders=graders)
    every = list(bank.questions.values())
    pool = practice_questions(every, bank.blueprint)
    if not pool:
        raise PracticeError(
            f"{bank_path}: no question is practice-eligible (all say practice: false) — "
            "nothing to export"
        )
    leaking = exam_pool_items(bank, pool)
    if leaking and not include_exam_items:
        shown = ", ".join(leaking[:5]) + (
            f" and {len(leaking) - 5} more" if len(leaking) > 5 else ""
        )
        raise PracticeError(
            f"{bank_path}: {len(leaking)} of the {len(pool)} practice questions are in the real "
            f"exam's pool ({shown}): students would hold items of the exam — mark them "
            "`practice: false` (or `practice: false` on their part in exam.yaml), or pass "
            "--include-exam-items when this bank's exam is public or for practice only"
        )
    _prepare_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / BUNDLE_FILE).unlink(missing_ok=True)  # until the export finishes, no bundle
    for stale in ("starter", "fixtures"):
        if (out / stale).is_dir():
            shutil.rmtree(out / stale)
    tasks, files = _write_tasks(pool, out, graders)
    bundle = Bundle(
        blueprint=bank.blueprint,
        questions=[without_reference_code(q) for q in pool],
        tasks=tasks,
    )
    (out / "README.md").write_text(STUDENT_README.format(folder=out.as_posix()), encoding="utf-8")
    write_bundle_json(bundle, out)  # last: a bundle.json means the export finished
    by_part: dict[str, int] = {}
    for question in pool:
        by_part[question.part] = by_part.get(question.part, 0) + 1
    return ExportResult(
        out=out,
        questions=len(pool),
        by_part=by_part,
        excluded=[q.id for q in every if not in_practice(q, bank.blueprint)],
        exam_items=len(leaking),
        tasks=tasks,
        files=sorted(files + ["README.md", BUNDLE_FILE]),
    )
