"""A synthetic graded class with known copying pairs, for `integrity_detection.py` and the tests.

Papers are drawn by the build's own code (`draw_paper`); answers come from an
ability model (see `integrity_detection.py`'s docstring for the whole
recipe); copying pairs are injected; every item is scored by the grading
core (`score_item`) and saved as `mmexam grade` saves it. `make_class` writes
build/variants.json, submissions/ and grades/graded/ under a folder.
"""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mmexam.bank import load_bank
from mmexam.bank.params import instantiate
from mmexam.build.variants import draw_paper
from mmexam.exam import Item, Manifest, Student, content_hash
from mmexam.grade.results import StudentResult, save_result
from mmexam.grade.scoring import score_item
from mmexam.grade.submissions import Answer
from mmexam.paths import DEFAULT_BANK, GRADERS
from mmexam.starter import generate_starter

LETTERS = "abcdefghijklmnopqrstuvwxyz"
KINDS = ("full", "partial", "code", "numeric")
SHIFT = {"easy": -0.9, "medium": 0.0, "hard": 0.9}


# ---------------------------------------------------------------- papers


def same_questions(bank: Any, seed: int) -> Any:
    """The bank with every part's pool cut to one drawn paper's questions: one set for all.

    Options are still shuffled and parameters still drawn per student (the
    common "same exam, shuffled" design); the shipped blueprint instead draws
    10 of 69 multiple-choice questions and 1 of 3 problems per part. The set
    is the paper the build draws for a reference id, so it meets the bank's
    own constraints (exclusions, topic cover).
    """
    paper = draw_paper(bank, seed, "reference")
    parts = []
    for paper_part in paper.parts:
        part = paper_part.part
        ids = [q.id for q in paper_part.questions]
        parts.append(part.model_copy(update={"pool": part.pool.model_copy(update={"ids": ids})}))
    return replace(bank, blueprint=bank.blueprint.model_copy(update={"parts": parts}))


def draw_class(n: int, seed: int, same: bool = False) -> tuple[Any, Manifest]:
    """The bank and a manifest for `n` roster ids, drawn by the build's own code."""
    bank = load_bank(DEFAULT_BANK)
    if same:
        bank = same_questions(bank, seed)
    students = [
        draw_paper(bank, seed, f"s{k:05d}", name=f"Student {k}").manifest_entry()
        for k in range(1, n + 1)
    ]
    used = {i.question for s in students for i in s.items}
    manifest = Manifest(
        seed=seed,
        bank=str(DEFAULT_BANK),
        question_hashes={q: content_hash(bank.questions[q]) for q in sorted(used)},
        students=students,
    )
    return bank, manifest


def body_of(bank: Any, item: Item) -> tuple[Any, str | None]:
    """The instantiated bank body of one item, and its problem's setup text."""
    question = instantiate(bank.questions[item.question], dict(item.params))
    if item.subpart is not None:
        return question.parts[item.subpart], question.text
    return question, None


# ---------------------------------------------------------------- answering


@dataclass
class ItemModel:
    """How the class answers one item (by question key)."""

    difficulty: float
    discrimination: float
    popularity: list[float]
    slips: list[float]


def key_of(item: Item) -> str:
    return item.question + ("" if item.subpart is None else f".{LETTERS[item.subpart]}")


def item_model(rng: random.Random, bank: Any, item: Item, options: int) -> ItemModel:
    level = getattr(bank.questions[item.question], "difficulty", "medium")
    weights = [rng.gammavariate(0.7, 1.0) + 0.02 for _ in range(max(options, 1))]
    total = sum(weights)
    slips = [rng.gammavariate(0.8, 1.0) for _ in range(7)]
    return ItemModel(
        difficulty=SHIFT.get(level, 0.0) + rng.gauss(0, 0.6),
        discrimination=rng.uniform(0.8, 1.8),
        popularity=[w / total for w in weights],
        slips=[s / sum(slips) for s in slips],
    )


def p_right(theta: float, model: ItemModel) -> float:
    return 1 / (1 + math.exp(-model.discrimination * (theta - model.difficulty)))


def wrong_number(rng: random.Random, value: float, model: ItemModel) -> float:
    """A slip a student makes on their own numbers."""
    slip = rng.choices(range(7), weights=model.slips)[0]
    options = [value * 2, value / 2, value + 1, value - 1, -value, 0.0]
    if slip < 6:
        wrong = options[slip]
    else:
        wrong = value + rng.choice([-3, -2, 2, 3]) * max(1.0, abs(value) / 10)
    return wrong if wrong != value else value + 1


def written(rng: random.Random, body: Any) -> str:
    """Rubric points in a student's own words: some points, words dropped, order changed."""
    points = [r.description for r in body.rubric]
    rng.shuffle(points)
    chosen = points[: rng.randint(1, len(points))]
    sentences = []
    for point in chosen:
        words = [w for w in point.split() if rng.random() > 0.25]
        if rng.random() < 0.5 and len(words) > 4:
            cut = rng.randint(1, len(words) - 2)
            words = words[cut:] + ["so"] + words[:cut]
        sentences.append(" ".join(words))
    filler = rng.choice(["", "I think ", "Basically, ", "In short: ", "From the lecture, "])
    return filler + ". ".join(sentences) + "."


def printed(item: Item, authored: Iterable[int]) -> list[str]:
    order = item.options or []
    return sorted(LETTERS[order.index(a)] for a in authored)


@dataclass
class Student_:
    """One simulated student: their answers (by printed number) and code files."""

    entry: Student
    theta: float
    answers: dict[str, Any] = field(default_factory=dict)
    code: dict[str, str] = field(default_factory=dict)


def answer_item(rng: random.Random, bank: Any, item: Item, theta: float, model: ItemModel) -> Any:
    body, _ = body_of(bank, item)
    right = rng.random() < p_right(theta, model)
    blank = rng.random() < 0.08 * (1 - p_right(theta, model))
    if blank or item.kind == "code":
        return None
    if item.kind == "mcq":
        key = ord(body.answer) - 97
        if right:
            return printed(item, [key])[0]
        wrong = [k for k in range(len(body.options)) if k != key]
        weights = [model.popularity[k] for k in wrong]
        return printed(item, [rng.choices(wrong, weights=weights)[0]])[0]
    if item.kind == "multi_select":
        keys = {ord(a) - 97 for a in body.answers}
        chosen = []
        for k in range(len(body.options)):
            if k in keys:
                chosen += [k] if rng.random() < p_right(theta + 0.7, model) else []
            elif rng.random() < (1 - p_right(theta, model)) * model.popularity[k] * 2:
                chosen.append(k)
        return printed(item, chosen or [rng.randrange(len(body.options))])
    if item.kind == "numeric":
        value = float(body.answer)
        return _fmt(value if right else wrong_number(rng, value, model))
    return written(rng, body)


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e12 else f"{x:.6g}"


# ---------------------------------------------------------------- code


class _Rework(ast.NodeTransformer):
    """A student's own version of a reference function body."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        args = [a.arg for a in node.args.args] or ["x"]
        body = list(node.body)
        doc = body[:1] if body and isinstance(body[0], ast.Expr) else []
        rest = body[len(doc) :]
        extras = [
            f"assert {self.rng.choice(args)} is not None",
            f"n_{self.rng.randint(0, 99)} = {self.rng.choice(args)}.shape[0]",
            f"print('debug', {self.rng.choice(args)}.shape)",
            f"{args[0]} = {args[0]}.contiguous()",
            f"if {self.rng.choice(args)}.dim() == 0:\n    raise ValueError('empty input')",
            f"tmp_{self.rng.randint(0, 99)} = {self.rng.choice(args)}.dtype",
            f"device = {args[0]}.device",
        ]
        for line in self.rng.sample(extras, self.rng.randint(1, 3)):
            rest.insert(self.rng.randint(0, max(len(rest) - 1, 0)), ast.parse(line).body[0])
        node.body = doc + rest
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        self.generic_visit(node)
        call = node.value
        if isinstance(call, ast.Call) and call.args and self.rng.random() < 0.5:
            hoisted = ast.Assign(
                targets=[ast.Name(id=f"part_{self.rng.randint(0, 999)}", ctx=ast.Store())],
                value=call.args[0],
                lineno=0,
            )
            call.args[0] = ast.Name(id=hoisted.targets[0].id, ctx=ast.Load())  # type: ignore[attr-defined]
            return [hoisted, node]
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        self.generic_visit(node)
        if node.arg == "dim" and isinstance(node.value, ast.Constant) and self.rng.random() < 0.5:
            node.value = ast.Constant(value=-1 if node.value.value == 1 else node.value.value)
        return node


def solution(reference: str) -> str:
    """The reference without its solution markers (what a perfect student writes)."""
    return "\n".join(
        line
        for line in reference.splitlines()
        if "# BEGIN SOLUTION" not in line and "# END SOLUTION" not in line
    )


def own_code(rng: random.Random, reference: str) -> str:
    tree = _Rework(rng).visit(ast.parse(solution(reference)))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


class _Rename(ast.NodeTransformer):
    """Every local variable and argument renamed; function names kept (the grader calls them)."""

    def __init__(self, rng: random.Random, keep: set[str]):
        self.rng, self.keep, self.names = rng, keep, {}

    def _new(self, name: str) -> str:
        if name in self.keep:
            return name
        if name not in self.names:
            self.names[name] = f"{self.rng.choice(['val', 'my', 'tmp', 'q'])}_{len(self.names)}"
        return self.names[name]

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg)
        return node


def disguise(rng: random.Random, source: str) -> str:
    """Copied code: variables renamed, top-level functions reordered, comments rewritten."""
    tree = ast.parse(source)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    keep = functions | {"torch", "F", "nn", "math", "print", "len", "range", "ValueError"}
    tree = _Rename(rng, keep).visit(tree)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    rng.shuffle(defs)
    tree.body = others + defs
    text = ast.unparse(ast.fix_missing_locations(tree))
    return "# my solution, written for the midterm\n" + text.replace("\n\n", "\n\n# next\n") + "\n"


# ---------------------------------------------------------------- the class


def simulate(bank: Any, manifest: Manifest, seed: int) -> list[Student_]:
    rng = random.Random(seed)
    models: dict[str, ItemModel] = {}
    references = {t: (GRADERS / t / "reference.py").read_text() for t in _tasks(bank)}
    starters = {t: generate_starter(GRADERS / t / "reference.py") for t in references}
    students = []
    for entry in manifest.students:
        s = Student_(entry, rng.gauss(0, 1))
        for item in entry.items:
            key = key_of(item)
            if key not in models:
                models[key] = item_model(rng, bank, item, len(item.options or []) or 4)
            value = answer_item(rng, bank, item, s.theta, models[key])
            if value is not None:
                s.answers[item.number] = value
            if item.kind == "code":
                task = body_of(bank, item)[0].task
                if task in s.code or task not in references:
                    continue
                roll = rng.random()
                if roll < 0.1:
                    continue  # not submitted
                if roll < 0.1 + 0.25 * (1 - p_right(s.theta, models[key])):
                    s.code[task] = starters[task]
                else:
                    s.code[task] = own_code(rng, references[task])
        students.append(s)
    return students


def _tasks(bank: Any) -> set[str]:
    found = set()
    for q in bank.questions.values():
        for body in getattr(q, "parts", None) or [q]:
            if getattr(body, "kind", None) == "code":
                found.add(body.task)
    return found


def _copy_answer(copier: Student_, source: Student_, item: Item, by_key: dict) -> None:
    """Take one answer from the source: the same question by content, else the answer sheet."""
    theirs = by_key.get(key_of(item))
    if theirs is not None and theirs.number in source.answers:
        value = source.answers[theirs.number]
        if item.kind in ("mcq", "multi_select"):
            letters = [value] if isinstance(value, str) else value
            authored = [theirs.options[LETTERS.index(x)] for x in letters]
            mine = printed(item, authored)
            value = mine[0] if item.kind == "mcq" else mine
        copier.answers[item.number] = value
    elif item.number in source.answers:
        mine = next((i for i in source.entry.items if i.number == item.number), None)
        if mine is not None and mine.kind == item.kind:
            copier.answers[item.number] = source.answers[item.number]


def inject(students: list[Student_], per_kind: int, seed: int) -> dict[tuple[str, str], str]:
    """Make copiers copy; return {(a, b) sorted ids: kind}."""
    rng = random.Random(seed + 1)
    free = list(range(len(students)))
    rng.shuffle(free)
    used: set[int] = set()
    pairs: dict[tuple[str, str], str] = {}

    def take(test) -> tuple[Student_, Student_]:
        for i in free:
            for j in free:
                if i != j and i not in used and j not in used and test(students[i], students[j]):
                    used.update((i, j))
                    return students[i], students[j]
        raise SystemExit("not enough students to inject the pairs: raise --students")

    def record(c: Student_, s: Student_, kind: str) -> None:
        pairs[tuple(sorted((c.entry.id, s.entry.id)))] = kind  # type: ignore[index]

    for kind in KINDS:
        for _ in range(per_kind):
            if kind == "full":
                copier, source = take(lambda c, s: True)
                by_key = {key_of(i): i for i in source.entry.items}
                copier.answers.clear()
                for item in copier.entry.items:
                    _copy_answer(copier, source, item, by_key)
                copier.code = {t: src for t, src in source.code.items()}
            elif kind == "partial":
                copier, source = take(lambda c, s: True)
                by_key = {key_of(i): i for i in source.entry.items}
                mcqs = [i for i in copier.entry.items if i.part == "mcq"]
                for item in rng.sample(mcqs, round(0.3 * len(mcqs))):
                    copier.answers.pop(item.number, None)
                    _copy_answer(copier, source, item, by_key)
            elif kind == "code":
                copier, source = take(
                    lambda c, s: (
                        bool(set(c.code) & set(s.code))
                        and any(
                            "BEGIN" not in s.code[t] and "NotImplementedError" not in s.code[t]
                            for t in set(c.code) & set(s.code)
                        )
                    )
                )
                for task in sorted(set(copier.code) & set(source.code)):
                    copier.code[task] = disguise(rng, source.code[task])
            else:
                copier, source = take(_numeric_partner)
                problem = _numeric_partner(copier, source)
                by_key = {key_of(i): i for i in source.entry.items}
                for item in copier.entry.items:
                    if item.question == problem and item.kind == "numeric":
                        copier.answers.pop(item.number, None)
                        _copy_answer(copier, source, item, by_key)
            record(copier, source, kind)
    return pairs


def _numeric_partner(c: Student_, s: Student_) -> str | None:
    """A problem both got, with numeric parts, different parameters, and source answers."""
    mine = {i.question: i for i in c.entry.items if i.kind == "numeric"}
    for item in s.entry.items:
        other = mine.get(item.question)
        if other is not None and other.params != item.params and item.number in s.answers:
            return item.question
    return None


# ---------------------------------------------------------------- grading and files


def write_submissions(students: list[Student_], root: Path) -> None:
    for s in students:
        folder = root / s.entry.id
        folder.mkdir(parents=True)
        (folder / "answers.yaml").write_text(yaml.safe_dump(s.answers, allow_unicode=True))
        for task, source in s.code.items():
            (folder / f"{task}.py").write_text(source)


def grade(bank: Any, students: list[Student_], out: Path) -> None:
    """Score every item with the grading core and save graded/<id>.json as `mmexam grade` does."""
    for s in students:
        items = []
        for item in s.entry.items:
            body, context = body_of(bank, item)
            raw = s.answers.get(item.number)
            answer = None if raw is None else Answer(value=raw, line=1)
            items.append(score_item(item, body, answer, context=context).result)
        save_result(
            out,
            StudentResult(
                id=s.entry.id,
                name=s.entry.name,
                variant=s.entry.variant,
                source="folder",
                items=items,
            ),
        )


def make_class(
    work: Path, students: int, seed: int, per_kind: int, same: bool = False
) -> dict[tuple[str, str], str]:
    """A graded synthetic class under `work` (build/variants.json, submissions/, grades/).

    Returns the injected pairs, {(a, b) sorted ids: kind}.
    """
    bank, manifest = draw_class(students, seed, same)
    simulated = simulate(bank, manifest, seed)
    injected = inject(simulated, per_kind, seed)
    (work / "build").mkdir(parents=True)
    (work / "build" / "variants.json").write_text(manifest.model_dump_json())
    write_submissions(simulated, work / "submissions")
    grade(bank, simulated, work / "grades")
    return injected
