"""The grouping of failures (`mmexam.checks.present`) and the snippets (`mmexam.checks.repro`),
on result models made by hand: no sandbox."""

import subprocess
import sys
from types import SimpleNamespace

import torch

from mmexam.checks.plan import Call
from mmexam.checks.present import failure_text, group_failures
from mmexam.checks.repro import INLINE_ELEMENTS, make_repro, save_inputs, snippet
from mmexam.checks.results import CheckResult, TaskResult


def _check(name, *, cause=None, error="", points=2.0, visibility="public", repro=None):
    function = name.split(".")[0]
    return CheckResult(
        name=name,
        function=function,
        score=0.0 if cause else points,
        max_score=points,
        passed=cause is None,
        message=f"{function}: message of {name}\n  Hint: a hint",
        visibility=visibility,
        cause=cause,
        error=error,
        repro=repro,
    )


RAISED = "raised RuntimeError: shapes cannot be multiplied (f.py, line 7)"


def test_crashes_group_per_function_with_their_cost_and_not_credited_checks():
    result = TaskResult(
        task="fusion",
        filename="f.py",
        checks=[
            _check("a.values", cause="crashed", error=RAISED),
            _check("a.sym", cause="not_credited", points=1),
            _check(
                "a.hidden",
                cause="crashed",
                error="raised RuntimeError (its message is not shown for hidden inputs)",
                visibility="hidden",
            ),
            _check("b.values", cause="missing", error="f.py has no function b — define def b(x)"),
            _check("c.values", cause="wrong"),
            _check("d.values"),
        ],
    )
    grouped = group_failures(result)
    assert [b.text() for b in grouped.broken] == [
        f"a: {RAISED} — costs 5 points (checks a.values, a.sym, a.hidden)",
        "b: f.py has no function b — define def b(x) — costs 2 points (check b.values)",
    ]
    assert [c.name for c in grouped.failed] == ["c.values"]
    verdicts = [grouped.verdict(c) for c in result.checks]
    assert verdicts == ["crashed", "FAILED", "crashed", "not run", "FAILED", "passed"]


def test_different_errors_of_one_function_stay_in_its_block():
    result = TaskResult(
        task="t",
        filename="f.py",
        checks=[
            _check(
                "a.values", cause="crashed", error="raised NotImplementedError: a (f.py, line 3)"
            ),
            _check("a.big", cause="crashed", error="exceeded 10 s CPU"),
        ],
    )
    (block,) = group_failures(result).broken
    assert block.text() == (
        "a: raised NotImplementedError (f.py, line 3) — costs 4 points (checks a.values, a.big)"
        "\n  also: exceeded 10 s CPU"
    )


def test_a_file_that_does_not_load_is_one_block():
    error = "could not load f.py: SyntaxError: invalid syntax (f.py, line 2)"
    checks = [_check(n, cause="not_loaded", error=error) for n in ("a.values", "b.values")]
    result = TaskResult(task="t", filename="f.py", checks=checks, load_error="SyntaxError: x")
    (block,) = group_failures(result).broken
    assert block.function is None
    assert (
        block.text() == "f.py could not be loaded: SyntaxError: x — costs 4 points (all 2 checks)"
    )


def _repro(x, y, got, line=2, function="f"):
    plan = SimpleNamespace(function=function, params=("x", "y"))
    call = Call(label="case 1", args=(x, y), expected=got)
    outcome = SimpleNamespace(ok=True, value=got, line=line)
    return make_repro(plan, call, outcome, "import torch\ndef f(x, y):  return x - y\n")


def _run(code, folder):
    done = subprocess.run(
        [sys.executable, "-c", code + "\n"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_snippet_inputs_are_bit_identical(tmp_path):
    """NaN, infinities, -0.0, subnormals and every float dtype come back with the same bits."""
    (tmp_path / "sub.py").write_text("import torch\ndef f(x, y):\n    return x, y\n")
    specials = [float("nan"), float("inf"), -float("inf"), -0.0, 1e-45, 1 / 3]
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        x = torch.cat([torch.tensor(specials, dtype=dtype), torch.randn(6, dtype=dtype)])
        y = torch.randn(2, 3, dtype=dtype)
        repro = _repro(x.reshape(3, 4), y, y)
        code = snippet(repro, "sub.py").replace(
            "print(f(x, y))",
            "import base64\nout = f(x, y)\n"
            "print(base64.b64encode(out[0].contiguous().view(torch.uint8).numpy()).decode(),"
            " base64.b64encode(out[1].contiguous().view(torch.uint8).numpy()).decode())",
        )
        import base64

        a, b = _run(code, tmp_path).split()
        assert (
            base64.b64decode(a) == x.reshape(3, 4).contiguous().view(torch.uint8).numpy().tobytes()
        )
        assert base64.b64decode(b) == y.contiguous().view(torch.uint8).numpy().tobytes()


def test_line_text_is_read_from_the_source_and_a_bad_line_is_dropped():
    x = torch.ones(2)
    assert _repro(x, x, x, line=2).code == "def f(x, y):  return x - y"
    assert _repro(x, x, x, line=99).line is None
    text = failure_text(_check("f.values", cause="wrong", repro=_repro(x, x, x)), "f.py")
    assert "Your line: f.py, line 2: def f(x, y):  return x - y" in text
    assert text.index("Your line") < text.index("Hint:") < text.index("Try it")


def test_hidden_checks_show_their_inputs_only_after_grading():
    x = torch.ones(2)
    check = _check("f.values", cause="wrong", visibility="hidden", repro=_repro(x, x, x))
    assert "Try it" not in failure_text(check, "f.py")
    assert "Got" not in failure_text(check, "f.py")
    assert "Try it" in failure_text(check, "f.py", reveal_hidden=True)


def test_large_inputs_are_loaded_from_a_file(tmp_path):
    (tmp_path / "sub.py").write_text("import torch\ndef f(x, y):\n    return x - y\n")
    x = torch.randn(INLINE_ELEMENTS, dtype=torch.float32)
    y = torch.randn(INLINE_ELEMENTS, dtype=torch.float32)
    repro = _repro(x, y, x - y)
    save_inputs(repro, tmp_path / "mmexam-feedback" / "f.values.pt")
    code = snippet(repro, "sub.py", inputs_file="mmexam-feedback/f.values.pt")
    assert "torch.load('mmexam-feedback/f.values.pt')" in code and "torch.tensor(" not in code
    code = code.replace("print(f(x, y))", "print(f(x, y).tolist())")
    assert _run(code, tmp_path).strip() == str((x - y).tolist())
    small = _repro(x[:3], y[:3], x[:3])
    assert "torch.load" not in snippet(small, "sub.py", inputs_file="unused.pt")


def test_a_file_name_that_is_no_module_name_is_run_by_path(tmp_path):
    (tmp_path / "fusion (1).py").write_text("def f(x, y):\n    return x * y\n")
    x = torch.tensor([2.0])
    code = snippet(_repro(x, x, x), "fusion (1).py")
    assert _run(code, tmp_path).strip() == "tensor([4.])"


def test_grade_feedback_groups_and_shows_hidden_snippets_after_grading():
    """The feedback page (written after grading): one block per broken function, the
    table's verdicts, and a hidden check's failing inputs."""
    from mmexam.grade.feedback import code_view
    from mmexam.grade.results import ItemResult

    x = torch.tensor([1.5, -2.0])
    checks = [
        _check("a.values", cause="crashed", error=RAISED),
        _check("a.hidden", cause="crashed", error=RAISED, visibility="hidden"),
        _check("f.values", cause="wrong", visibility="hidden", repro=_repro(x, x, x)),
    ]
    item = ItemResult(
        number="3",
        part="code",
        question="fusion",
        kind="code",
        max_points=6,
        points=0,
        status="auto",
        answer="f.py",
        checks=checks,
    )
    rows, texts = code_view(item)
    assert [r["verdict"] for r in rows] == ["crashed", "crashed", "fail"]
    assert texts[0] == f"a: {RAISED} — costs 4 points (checks a.values, a.hidden)"
    assert len(texts) == 2 and texts[1].startswith("f.values:\n")
    assert "x = torch.tensor([1.5, -2.0], dtype=torch.float32)" in texts[1]
    assert sum("Hint:" in t for t in texts) == 1  # the wrong value's, not the crash's
