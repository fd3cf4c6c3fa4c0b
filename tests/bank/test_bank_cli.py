"""mmexam validate, schema and bank stats through the CLI; none of them imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from mmexam.bank.reader import read_file
from mmexam.cli import app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GRADERS = FIXTURES / "graders"
REPO = Path(__file__).resolve().parent.parent.parent

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_validate_clean_bank_prints_counts(make_bank):
    root = make_bank()
    result = invoke("validate", root, "--graders", GRADERS)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        (
            "7 questions in 5 files (2 mcq, 1 multi_select, 1 numeric, 1 open, 1 problem, "
            "1 short_answer), 4 parts: no problems"
        ),
        "  mcq             3 questions (2 mcq, 1 multi_select); draws 2 x 2 = 4 points",
        "  short           2 questions (1 numeric, 1 short_answer); draws 1 x 5 = 5 points",
        "  fusion          1 question (1 problem); draws 1 x 10 = 10 points",
        "  bonus           1 question (1 open); draws 1 x 5 = 5 points (bonus)",
        "  parameterised: 2, in practice mode: 7",
    ]


def test_validate_broken_bank_lists_problems_and_exits_1(make_bank):
    root = make_bank("unknown-topic-part")
    result = invoke("validate", root, "--graders", GRADERS)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        (
            f"{root}/broken.yaml:4:11: misspelt-topic-and-part: part 'fusoin' is not in "
            "exam.yaml — did you mean 'fusion'?"
        ),
        (
            f"{root}/broken.yaml:5:22: misspelt-topic-and-part: topic 'contrastiv' is not in "
            "exam.yaml's topics — did you mean 'contrastive'? (or add it to exam.yaml)"
        ),
        (
            f"{root}/broken.yaml:5:34: misspelt-topic-and-part: topic 'memes' is not in "
            "exam.yaml's topics — use one of contrastive, diffusion, fusion (or add it to "
            "exam.yaml)"
        ),
        "3 errors in 1 file",
    ]


def test_validate_garbage_file_is_one_line_not_a_traceback(make_bank):
    root = make_bank()
    (root / "junk.yaml").write_bytes(b"\xff\xfe\x00garbage: [")
    result = invoke("validate", root, "--graders", GRADERS)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.splitlines() == [
        f"{root}/junk.yaml:1:1: the file is not UTF-8 (byte 0xff) — save it as UTF-8",
        "1 error in 1 file",
    ]


def test_validate_default_is_the_shipped_bank():
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output.splitlines()[0]


def test_schema_validates_real_files_and_catches_typos(make_bank):
    root = make_bank()
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    validator = jsonschema.Draft7Validator(schema)
    for name in ("mcq.yaml", "short.yaml", "problems.yaml", "bonus.yaml"):
        assert list(validator.iter_errors(read_file(root / name).data)) == []
    typo = {"questions": [{**read_file(root / "mcq.yaml").data["questions"][1], "optons": []}]}
    assert any("optons" in error.message for error in validator.iter_errors(typo))
    # Field descriptions reach the editor.
    assert "Letter of the correct option" in result.output


def test_schema_blueprint(make_bank):
    root = make_bank()
    result = invoke("schema", "--blueprint")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["title"] == "mmexam exam blueprint (exam.yaml)"
    validator = jsonschema.Draft7Validator(schema)
    exam = read_file(root / "exam.yaml").data
    assert list(validator.iter_errors(exam)) == []
    assert list(validator.iter_errors({**exam, "duration_minutes": "sixty"}))


def test_bank_stats_json(make_bank):
    root = make_bank()
    (root / "problems.yaml").write_text(
        (root / "problems.yaml")
        .read_text()
        .replace("task: demo", "task: fusion")
        .replace("[add_one, scale]", "[tensor_fusion]")
    )
    result = invoke("bank", "stats", root, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["questions"] == 7
    assert stats["parameterised"] == 2
    assert stats["kinds"] == {
        "mcq": 2,
        "multi_select": 1,
        "numeric": 1,
        "open": 1,
        "problem": 1,
        "short_answer": 1,
    }
    assert stats["part_kinds"] == {"code": 1, "mcq": 1, "numeric": 1}
    assert stats["difficulty"] == {"easy": 2, "medium": 3, "hard": 2}
    assert stats["topics"] == {"fusion": 4, "contrastive": 2, "diffusion": 2}
    assert [(p["id"], p["questions"], p["pick"]) for p in stats["parts"]] == [
        ("mcq", 3, 2),
        ("short", 2, 1),
        ("fusion", 1, 1),
        ("bonus", 1, 1),
    ]


def test_bank_stats_tables_and_errors(make_bank):
    root = make_bank()
    (root / "problems.yaml").unlink()
    (root / "exam.yaml").write_text(
        (root / "exam.yaml")
        .read_text()
        .replace("total_points: 19", "total_points: 9")
        .replace('  - id: fusion\n    title: "Fusion problem"\n    pick: 1\n    points: 10\n', "")
    )
    result = invoke("bank", "stats", root)
    assert result.exit_code == 0, result.output
    assert "6 questions, 1 parameterised, 6 in practice mode" in result.output
    assert "per difficulty" in result.output and "per topic" in result.output
    broken = invoke("bank", "stats", root / "nowhere")
    assert broken.exit_code == 1
    assert broken.output.strip() == (
        f"error: {root / 'nowhere'}: no such folder — give the bank folder (the one with exam.yaml)"
    )


def test_the_shipped_bank_meets_the_issue_minimums():
    result = invoke("bank", "stats", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    parts = {p["id"]: p for p in stats["parts"]}
    assert parts["mcq"]["questions"] >= 40
    assert parts["short"]["questions"] >= 12
    for part in ("fusion", "mllm", "generation"):
        assert parts[part]["questions"] >= 3
        assert parts[part]["part_kinds"].get("code", 0) >= parts[part]["questions"]
    assert parts["bonus"]["questions"] >= 6
    assert stats["parameterised"] >= 10


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "--no-math"], ["schema"], ["bank", "stats", "--json"]],
    ids=["help", "validate", "schema", "stats"],
)
def test_commands_do_not_import_torch(args):
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mmexam", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    imported = {
        line.split("|")[-1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "mmexam.bank" in imported or args == ["--help"]
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
