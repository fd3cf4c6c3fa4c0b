"""`mmexam practice check`: the public checks, the same verdicts and messages as `mmexam check`.

The bundle's fixtures are replayed in the same sandbox the real grading uses,
on the references, on buggy implementations (tests/fixtures/buggy/) and on
hostile files (tests/fixtures/hostile/); each result must equal, check by
check, what `mmexam check` (the live public checks) gives.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.checks import run_checks
from mmexam.cli import app
from mmexam.cli.check import as_document
from mmexam.paths import GRADERS
from mmexam.practice.check import practice_checks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TASKS = ["fusion", "contrastive", "mllm", "generation"]
REFERENCES = [(task, GRADERS / task / "reference.py") for task in TASKS]
BUGGY = [
    ("fusion", FIXTURES / "buggy/fusion/tensor_fusion__missing_one.py"),
    ("contrastive", FIXTURES / "buggy/contrastive/info_nce__no_temperature.py"),
    ("mllm", FIXTURES / "buggy/mllm/gated_cross_attention__no_tanh.py"),
    ("generation", FIXTURES / "buggy/generation/p_sample_step__noise_at_t0.py"),
]
HOSTILE = [
    ("fusion", FIXTURES / f"hostile/{name}.py")
    for name in (
        "eq_always_true",
        "tensor_subclass",
        "monkeypatch_torch",
        "sys_exit",
        "read_graders_absolute",
    )
]

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox():
    from mmexam.paths import trusted_modules
    from mmexam.sandbox import Sandbox

    box = Sandbox(modules=trusted_modules())
    yield box
    box.close()


def both(task, path, bundle, sandbox):
    source = path.read_text(encoding="utf-8")
    live = run_checks(task, source, hidden=False, sandbox=sandbox, filename=path.name)
    replay = practice_checks(task, source, filename=path.name, bundle=bundle, sandbox=sandbox)
    return as_document(live), as_document(replay)


@pytest.mark.parametrize(("task", "path"), REFERENCES, ids=[t for t, _ in REFERENCES])
def test_the_reference_passes_every_public_check_from_the_bundle(
    task, path, shipped_bundle, sandbox
):
    live, replay = both(task, path, shipped_bundle[0], sandbox)
    assert replay == live
    assert replay["checks"] and all(c["passed"] for c in replay["checks"]), replay
    assert all(c["visibility"] == "public" for c in replay["checks"])


@pytest.mark.parametrize(
    ("task", "path"), BUGGY + HOSTILE, ids=[p.stem for _, p in BUGGY + HOSTILE]
)
def test_buggy_and_hostile_files_get_the_same_verdicts_and_messages(
    task, path, shipped_bundle, sandbox
):
    live, replay = both(task, path, shipped_bundle[0], sandbox)
    assert replay == live
    assert replay["score"] < replay["max_score"]


def test_the_cli_prints_what_mmexam_check_prints(shipped_bundle):
    runner = CliRunner()
    path = FIXTURES / "buggy/fusion/gated_fusion__softmax_wrong_axis.py"
    real = runner.invoke(app, ["check", "fusion", str(path), "--json"])
    practice = runner.invoke(
        app,
        ["practice", "check", "fusion", str(path), "--json", "--bundle", str(shipped_bundle[0])],
    )
    assert real.exit_code == 1 and practice.exit_code == 1, practice.output  # checks fail
    assert practice.stdout == real.stdout
    checks = {c["name"]: c for c in json.loads(practice.stdout)["checks"]}
    assert not checks["gated_fusion.values"]["passed"]
    assert "softmax" in checks["gated_fusion.values"]["message"]


def test_without_a_bundle_the_shipped_public_checks_run(sandbox, tmp_path):
    path = FIXTURES / "buggy/contrastive/clip_loss__one_direction.py"
    result = practice_checks(
        "contrastive", path.read_text(), filename=path.name, bundle=None, sandbox=sandbox
    )
    live = run_checks(
        "contrastive", path.read_text(), hidden=False, sandbox=sandbox, filename=path.name
    )
    assert as_document(result) == as_document(live)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nope", "x.py"],
            "error: unknown code task 'nope' — known tasks: contrastive, fusion, generation, mllm",
        ),
        (["fusion", "missing.py"], "error: missing.py: no such file"),
        (["fusion", "x.py", "--bundle", "{bundle}"], "error: {bundle}: no such folder"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    bundle = str(tmp_path / "nothing")
    result = CliRunner().invoke(
        app, ["practice", "check", *[a.format(bundle=bundle) for a in args]]
    )
    assert result.exit_code == 2, result.output  # a usage error
    assert result.output.startswith(message.format(bundle=bundle))
    assert result.output.count("\n") == 1, result.output


def test_the_starter_is_one_block_per_function_and_exits_one(shipped_bundle, tmp_path):
    from mmexam.checks.tasks import starter_source, task_functions

    path = tmp_path / "fusion.py"
    path.write_text(starter_source("fusion"))
    result = CliRunner().invoke(
        app, ["practice", "check", "fusion", str(path), "--bundle", str(shipped_bundle[0])]
    )
    assert result.exit_code == 1, result.output
    assert result.stdout.count("raised NotImplementedError") == len(task_functions("fusion"))
    assert "Hint:" not in result.stdout and "costs " in result.stdout


def test_function_filters_and_an_unknown_one_is_a_usage_error(shipped_bundle):
    runner = CliRunner()
    bundle = ["--bundle", str(shipped_bundle[0])]
    reference = str(GRADERS / "fusion" / "reference.py")
    only = runner.invoke(
        app, ["practice", "check", "fusion", reference, "--function", "gated_fusion", "--json"]
    )
    assert only.exit_code == 0, only.output
    assert {c["function"] for c in json.loads(only.stdout)["checks"]} == {"gated_fusion"}
    wrong = runner.invoke(
        app, ["practice", "check", "fusion", reference, "--function", "nope", *bundle]
    )
    assert wrong.exit_code == 2, wrong.output
    assert wrong.output.startswith("error: unknown function 'nope' for fusion — its functions: ")
    assert wrong.output.count("\n") == 1
