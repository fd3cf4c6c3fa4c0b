"""`mmexam practice export`: the student bundle, and the proof that it leaks nothing.

The shipped bank is exported once per test session (the checks engine computes
the public fixtures from the references, which takes a few seconds).
"""

import ast
import json
import re

import pytest
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.errors import PracticeError
from mmexam.paths import DEFAULT_BANK, GRADERS
from mmexam.practice.bundle import BUNDLE_FILE, load_bundle
from mmexam.starter import generate_starter

runner = CliRunner()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def reference_body_lines() -> dict[str, str]:
    """Every statement line of every function body in graders/*/reference.py, whitespace removed.

    Docstrings and comments are left out (the starter stubs share the docstrings),
    and so are lines too short to tell apart from ordinary prose ("return z").
    """
    lines = {}
    for reference in sorted(GRADERS.glob("*/reference.py")):
        source = reference.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            for statement in body:
                segment = ast.get_source_segment(source, statement) or ""
                for line in segment.splitlines():
                    code = _squash(line.split("#", 1)[0])
                    if len(code) >= 16:
                        lines[code] = (
                            f"{reference.parent.name}/reference.py:{node.name}: {line.strip()}"
                        )
    return lines


def hidden_check_names() -> set[str]:
    from mmexam.checks import list_tasks, plans

    return {p.name for task in list_tasks() for p in plans(task) if p.visibility == "hidden"}


def strings_in(value) -> list[str]:
    """Every string (keys too) inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def bundle_texts(folder) -> dict[str, str]:
    """Each bundle file as text; JSON files also with every string value decoded."""
    texts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="ignore")
        if path.suffix == ".json":
            text += "\n" + "\n".join(strings_in(json.loads(text)))
        texts[path.relative_to(folder).as_posix()] = text
    return texts


def find_leaks(folder) -> list[str]:
    """Every reference body line and hidden check name found in any file under `folder`."""
    texts = bundle_texts(folder)
    body_lines = reference_body_lines()
    hidden = hidden_check_names()
    leaks = []
    for name, text in texts.items():
        squashed = _squash(text)
        leaks += [f"{name}: {where}" for code, where in body_lines.items() if code in squashed]
        words = {w.strip(".") for w in re.findall(r"[\w.]+", text)}  # names are such tokens
        leaks += [f"{name}: hidden check {check}" for check in sorted(hidden) if check in words]
    return leaks


def test_the_bundle_holds_no_reference_code_and_no_hidden_check(shipped_bundle):
    assert len(reference_body_lines()) > 20 and len(hidden_check_names()) > 5
    leaks = find_leaks(shipped_bundle[0])
    assert not leaks, "\n".join(leaks)


def test_the_leak_search_finds_a_planted_leak(tmp_path):
    line = next(iter(reference_body_lines().values())).split(": ", 1)[1]
    hidden = min(hidden_check_names())
    (tmp_path / "notes.md").write_text(f"Try this:\n    {line}\n")
    (tmp_path / "data.json").write_text(json.dumps({"checks": [{"name": hidden}]}))
    leaks = find_leaks(tmp_path)
    assert len(leaks) == 2 and any("hidden check" in leak for leak in leaks), leaks


def test_the_bundle_holds_the_practice_pool_starters_and_public_fixtures(shipped_bundle):
    from mmexam.bank import load_bank
    from mmexam.checks import list_tasks, plans

    folder, output = shipped_bundle
    tasks = list_tasks()
    expected_files = {BUNDLE_FILE, "README.md"}
    for task in tasks:
        expected_files |= {
            f"starter/{task}.py",
            f"fixtures/{task}.json",
            f"fixtures/{task}.safetensors",
        }
        if (GRADERS / task / "modules.py").is_file():  # the trusted modules its checks pass
            expected_files.add(f"fixtures/{task}.modules.py")
    assert {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    } == expected_files
    bundle = load_bundle(folder)
    bank = load_bank(DEFAULT_BANK)
    assert [q.id for q in bundle.questions] == [
        q.id for q in bank.questions.values() if bank.in_practice(q)
    ]
    assert bundle.blueprint == bank.blueprint
    for task in tasks:
        entry = bundle.task(task)
        assert (folder / entry.starter).read_text() == generate_starter(
            GRADERS / task / "reference.py"
        )
        assert entry.checks == [p.name for p in plans(task) if p.visibility == "public"]
    assert f"{len(bundle.questions)} practice questions" in output


def test_export_leaves_out_non_practice_questions_and_code_solutions(tmp_path, fixture_copy):
    bank = fixture_copy("banks/practice")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["practice", "export", "--bank", str(bank), "--out", str(out), "--include-exam-items"]
    )
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out)
    ids = [q.id for q in bundle.questions]
    assert "hidden-from-practice" not in ids and "fusion-problem" in ids
    assert "Exam only yes" not in (out / BUNDLE_FILE).read_text()
    problem = next(q for q in bundle.questions if q.id == "fusion-problem")
    assert problem.parts[2].kind == "code" and problem.parts[2].solution is None
    assert problem.parts[0].explanation == "(2+1)(2+1) = 9."
    assert [t.task for t in bundle.tasks] == ["fusion"]
    assert "left out (practice: false): hidden-from-practice" in result.output

    quiz = runner.invoke(
        app,
        ["practice", "quiz", "--bundle", str(out), "--part", "fusion", "--seed", "0"],
        input="9\n",
        env={"MMEXAM_HOME": str(tmp_path / "home")},
    )
    assert quiz.exit_code == 0, quiz.output
    assert "✓ Right — 3 / 3 points." in quiz.output
    assert "Quiz ended (end of input)." in quiz.output
    assert "Score so far: 3 / 3 points (100%)" in quiz.output


def test_export_never_writes_into_a_foreign_folder(tmp_path, fixture_copy):
    bank = fixture_copy("banks/practice")
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    result = runner.invoke(
        app, ["practice", "export", "--bank", str(bank), "--out", str(out), "--include-exam-items"]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"error: {out}: holds thesis.tex, which is not part of")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "bundle.json: not found — {folder} is not a practice bundle"),
        ("{", "bundle.json: not valid JSON"),
        ('{"format": 99}', "bundle.json: bundle format 99, this mmexam reads format 1"),
        ('{"format": 1, "questions": []}', "bundle.json: blueprint: Field required"),
    ],
)
def test_a_broken_bundle_is_one_line(tmp_path, content, message):
    folder = tmp_path / "bundle"
    folder.mkdir()
    if content is not None:
        (folder / BUNDLE_FILE).write_text(content)
    with pytest.raises(PracticeError, match=re.escape(message.format(folder=folder))):
        load_bundle(folder)
    result = runner.invoke(app, ["practice", "quiz", "--bundle", str(folder)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output


def test_a_part_marked_practice_false_leaves_all_its_questions_out(tmp_path, fixture_copy):
    bank = fixture_copy("banks/practice")
    blueprint = bank / "exam.yaml"
    text = blueprint.read_text(encoding="utf-8")
    blueprint.write_text(text.replace("  - id: fusion\n", "  - id: fusion\n    practice: false\n"))
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["practice", "export", "--bank", str(bank), "--out", str(out), "--include-exam-items"]
    )
    assert result.exit_code == 0, result.output
    parts = {q.part for q in load_bundle(out).questions}
    assert "fusion" not in parts and "mcq" in parts
    assert "fusion-problem" in result.output.split("left out (practice: false):", 1)[1]
