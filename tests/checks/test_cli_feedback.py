"""What `mmexam check` tells a student: one block per broken function, --function, the
failing inputs as a snippet that reproduces the wrong output, the student's line, and
the exit status (0 all passed, 1 a check failed, 2 a usage error)."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mmexam.checks import plans
from mmexam.checks.tasks import starter_source, task_functions
from mmexam.cli import app
from mmexam.paths import GRADERS

BUGGY = Path(__file__).resolve().parent.parent / "fixtures" / "buggy"

pytestmark = pytest.mark.sandbox


def _check(*args):
    return CliRunner().invoke(app, ["check", *args])


def _public(task):
    return [p for p in plans(task) if p.visibility == "public"]


def test_the_starter_gives_one_block_per_function_without_hints(tmp_path):
    path = tmp_path / "fusion.py"
    path.write_text(starter_source("fusion"))
    result = _check("fusion", str(path))
    assert result.exit_code == 1, result.output
    out = result.stdout
    functions = task_functions("fusion")
    assert out.count("raised NotImplementedError") == len(functions), out
    assert "Hint:" not in out  # the hints are about values: none applies to a crash
    for function in functions:
        mine = [p for p in _public("fusion") if p.function == function]
        points = sum(p.points for p in mine)
        block = [line for line in out.splitlines() if line.startswith(f"{function}: raised")]
        assert len(block) == 1, out
        assert f"— costs {points:g} point" in block[0], block
        assert all(p.name in block[0] for p in mine), block  # the checks it costs
        assert "(fusion.py, line " in block[0]
    assert "crashed" in out  # the table still lists each check, and why it failed


def test_a_file_that_does_not_import_is_said_once(tmp_path):
    path = tmp_path / "fusion.py"
    path.write_text("import torch\n\ndef tensor_fusion(x_a, x_b:\n    return x_a\n")
    result = _check("fusion", str(path))
    assert result.exit_code == 1, result.output
    public = _public("fusion")
    points = sum(p.points for p in public)
    assert result.stdout.count("SyntaxError") == 1, result.stdout
    line = next(x for x in result.stdout.splitlines() if "SyntaxError" in x)
    assert line.startswith("fusion.py could not be loaded: SyntaxError")
    assert "(fusion.py, line 3)" in line
    assert line.endswith(f"— costs {points:g} points (all {len(public)} checks)"), line


def test_exit_at_import_is_said_once(tmp_path):
    path = tmp_path / "fusion.py"
    path.write_text("import sys\nsys.exit(3)\n")
    result = _check("fusion", str(path), "--function", "tensor_fusion")
    assert result.exit_code == 1, result.output
    assert result.stdout.count("sys.exit(3)") == 1, result.stdout


def test_function_runs_only_that_functions_checks():
    path = BUGGY / "fusion" / "tensor_fusion__missing_one.py"
    result = _check("fusion", str(path), "--function", "tensor_fusion", "--json")
    assert result.exit_code == 1, result.output
    checks = json.loads(result.stdout)["checks"]
    want = {p.name for p in _public("fusion") if p.function == "tensor_fusion"}
    assert {c["name"] for c in checks} == want
    assert {c["function"] for c in checks} == {"tensor_fusion"}


def test_function_on_a_passing_file_exits_zero():
    path = GRADERS / "fusion" / "reference.py"
    result = _check("fusion", str(path), "--function", "gated_fusion")
    assert result.exit_code == 0, result.output
    assert "tensor_fusion" not in result.stdout


def test_an_unknown_function_is_a_usage_error(tmp_path):
    path = tmp_path / "fusion.py"
    path.write_text("")
    result = _check("fusion", str(path), "--function", "tensor_fuson")
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: unknown function 'tensor_fuson' for fusion — its functions: "
        + ", ".join(task_functions("fusion"))
        + "\n"
    )


def test_json_exit_status_follows_the_checks():
    buggy = _check("fusion", str(BUGGY / "fusion" / "tensor_fusion__missing_one.py"), "--json")
    assert buggy.exit_code == 1, buggy.output
    assert json.loads(buggy.stdout)["score"] < json.loads(buggy.stdout)["max_score"]
    good = _check("fusion", str(GRADERS / "fusion" / "reference.py"), "--json")
    assert good.exit_code == 0, good.output


def _tensor(text):
    """A tensor printed by torch (`tensor([[...]])`) or shown as a nested list."""
    text = text.strip()
    if text.startswith("tensor("):
        return eval(text, {"tensor": torch.tensor, "torch": torch})
    return torch.tensor(ast.literal_eval(text), dtype=torch.float64)


@pytest.mark.parametrize(
    ("task", "fixture"),
    [
        ("fusion", "tensor_fusion__missing_one"),
        ("fusion", "additive_multiplicative__swapped_weights"),
        ("contrastive", "info_nce__no_temperature"),
    ],
)
def test_the_snippet_reproduces_the_wrong_output(tmp_path, task, fixture):
    """Pasted into a fresh python beside the student's file, the snippet prints what the
    check reported the function returned — and not what was expected."""
    path = tmp_path / f"{task}.py"
    shutil.copyfile(BUGGY / task / f"{fixture}.py", path)
    function = fixture.split("__")[0]
    result = _check(task, str(path), "--function", function)
    assert result.exit_code == 1, result.output
    out = result.stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("Try it"))
    code = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        code.append(line[4:])
    assert code[0] == "import torch" and code[1] == f"from {task} import {function}"
    assert code[-1].startswith(f"print({function}(")
    got_line = [line for line in lines if line.lstrip().startswith("Got:")]
    if got_line:
        expected_line = next(line for line in lines if line.lstrip().startswith("Expected:"))
        reported = _tensor(got_line[0].split(":", 1)[1])
        expected = _tensor(expected_line.split(":", 1)[1])
    else:  # one number: the message says it ('Expected 1.01155, got 1.11185')
        numbers = re.search(r"[Ee]xpected (\S+), got (\S+)\n", out).groups()
        expected, reported = (torch.tensor(float(x), dtype=torch.float64) for x in numbers)

    done = subprocess.run(
        [sys.executable, "-c", "\n".join(code)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    printed = _tensor(" ".join(done.stdout.split()))
    if not got_line:
        printed = printed.reshape(())
    assert printed.shape == reported.shape
    # torch prints 4 decimals, the feedback 6 significant digits
    torch.testing.assert_close(printed.double(), reported, rtol=1e-3, atol=1e-4)
    assert printed.shape != expected.shape or not torch.allclose(
        printed.double(), expected, rtol=1e-3, atol=1e-4
    )

    # the student's line: the return statement of the function, read from the file
    source = path.read_text().splitlines()
    shown = next(line for line in lines if line.lstrip().startswith("Your line:"))
    number = int(re.search(rf"{task}\.py, line (\d+): ", shown).group(1))
    assert source[number - 1].strip().startswith("return"), (shown, source)
    assert shown.endswith(source[number - 1].strip())


def test_the_line_is_the_outer_functions_return(tmp_path):
    path = tmp_path / "fusion.py"
    path.write_text(
        "import torch\n"
        "\n"
        "def _helper(x):\n"
        "    return x * 2\n"
        "\n"
        "def tensor_fusion(x_a, x_b):\n"
        "    y = _helper(x_a)\n"
        "    out = torch.cat([y, x_b], dim=1)\n"
        "    return out\n"
    )
    result = _check("fusion", str(path), "--function", "tensor_fusion")
    assert result.exit_code == 1, result.output
    assert "Your line: fusion.py, line 9: return out" in result.stdout, result.stdout


def test_hidden_checks_show_no_snippet(tmp_path):
    path = tmp_path / "fusion.py"
    shutil.copyfile(BUGGY / "fusion" / "tensor_fusion__missing_one.py", path)
    result = _check("fusion", str(path), "--function", "tensor_fusion", "--hidden")
    assert result.exit_code == 1, result.output
    hidden = [p.name for p in plans("fusion") if p.visibility == "hidden"]
    sections = result.stdout.split("\n\n")
    for name in hidden:
        for section in sections:
            if section.startswith(f"{name}:"):
                assert "Try it" not in section and "Got" not in section, section
