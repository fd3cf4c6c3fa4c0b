"""The README demo: the example class graded end to end, every student's exact points.

examples/expected.json is written by examples/make_submissions.py from what
it put in each submission (right or wrong answers, which code functions are
correct, broken or missing); nothing in it comes from grading.
"""

import json
import shutil
from pathlib import Path

import pytest

from mmexam.build.exam import build_exam
from mmexam.exam import Manifest
from mmexam.grade.engine import GradeOptions, grade_submissions
from mmexam.paths import DEFAULT_BANK

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STALE = (
    "examples are out of date with the bank — run `mmexam build --roster examples/roster.csv` "
    "then `python examples/make_submissions.py`"
)


def function_points(task: str) -> dict[str, float]:
    import torch

    from mmexam.checks import plans

    points: dict[str, float] = {}
    for plan in plans(task):
        if plan.kind == "device" and not torch.cuda.is_available():
            continue
        points[plan.function] = points.get(plan.function, 0.0) + plan.points
    return points


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    expected = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
    build_exam(
        DEFAULT_BANK,
        root / "build",
        seed=expected["seed"],
        roster=EXAMPLES / "roster.csv",
        formats=("html",),
        key=False,
    )
    manifest = Manifest.model_validate_json((root / "build" / "variants.json").read_text())
    for qid, digest in expected["question_hashes"].items():
        assert manifest.question_hashes.get(qid) == digest, f"{qid} changed: {STALE}"
    for sid, want in expected["students"].items():
        student = manifest.student(sid)
        seen = {i.number: i.question for i in student.items} if student else {}
        assert seen == want["questions"], f"{sid}: {STALE}"
    shutil.copytree(EXAMPLES / "submissions", root / "submissions")
    summary = grade_submissions(
        GradeOptions(
            submissions=root / "submissions",
            variants=root / "build" / "variants.json",
            bank=DEFAULT_BANK,
            out=root / "grades",
            manual=root / "manual",
            jobs=2,
        )
    )
    return root, expected, manifest, summary


def test_every_example_student_gets_exactly_the_expected_points(demo):
    _, expected, manifest, summary = demo
    by_id = {r.id: r for r in summary.results}
    assert sorted(by_id) == sorted(expected["students"])
    points_cache: dict[str, dict[str, float]] = {}
    for sid, want in expected["students"].items():
        result = by_id[sid]
        student = manifest.student(sid)
        items = {i.number: i for i in student.items} if student else {}
        got = {i.number: i for i in result.items}
        assert got.keys() == want["points"].keys(), sid
        for number, rule in want["points"].items():
            item = got[number]
            if rule is None:
                assert item.pending, (sid, number, item.points)
                continue
            if isinstance(rule, dict):
                task = item.code_task
                fp = points_cache.setdefault(task, function_points(task))
                total = sum(fp[f] for f in rule["pass"] + rule["fail"])
                rule = items[number].points * sum(fp[f] for f in rule["pass"]) / total
            assert item.points == pytest.approx(rule), (sid, number, item.messages)
        assert not result.retry, (sid, [p.line() for p in result.problems])


def test_every_example_problem_is_reported(demo):
    root, expected, _, summary = demo
    by_id = {r.id: r for r in summary.results}
    report = (root / "grades" / "report.html").read_text(encoding="utf-8")
    for sid, want in expected["students"].items():
        lines = " | ".join(p.line() for p in by_id[sid].problems)
        for fragment in want["problems"]:
            assert fragment in lines, (sid, fragment, lines)
        assert bool(want["problems"]) == bool(by_id[sid].problems), (sid, lines)
        if want["problems"]:
            assert f"<strong>{sid}</strong>" in report
    for sid in expected["absent"]:
        assert sid in report


def test_hostile_html_and_formulas_are_defused(demo):
    root, _, _, _ = demo
    page = (root / "grades" / "students" / "s2024007" / "feedback.html").read_text()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)" in page
    sheets = "".join(p.read_text() for p in (root / "manual").glob("*.csv"))
    assert "'=HYPERLINK" in sheets and ",=HYPERLINK" not in sheets
    assert not Path("/tmp/pwned").exists() and not Path("/tmp/pwned.py").exists()
