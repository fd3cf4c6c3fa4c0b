"""The class report and the student feedback pages, from hand-made results."""

import base64
import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest

from mmexam.checks.results import CheckResult
from mmexam.grade.feedback import render_feedback
from mmexam.grade.report import check_stats, option_stats, question_stats, render_report
from mmexam.grade.results import (
    ItemResult,
    PartInfo,
    RunInfo,
    StudentResult,
    SubmissionProblem,
)

INFO = RunInfo(
    course="Multimodal AI",
    title="Midterm Exam",
    total_points=100,
    bonus_points=10,
    parts=[
        PartInfo(id="mcq", title="Multiple choice", points=20),
        PartInfo(id="short", title="Short answers", points=20),
        PartInfo(id="fusion", title="Multimodal fusion", points=20),
        PartInfo(id="bonus", title="Bonus", points=10, bonus=True),
    ],
    manifest="0" * 64,
    students=[],
    absent=["s999"],
)


def mcq_item(q, chosen, key=1):
    return ItemResult(
        number=f"1.{q + 1}",
        part="mcq",
        question=f"mcq-{q}",
        kind="mcq",
        max_points=2,
        points=2.0 if chosen == key else 0.0,
        status="auto",
        text=f"Question {q}: which is $x^2$?",
        chosen=[chosen],
        key=[key],
        option_count=4,
        expected="(b) $x^2$",
        answer="b",
        answer_shown="(b) $x^2$",
    )


def class_results(n=30, seed=0):
    rng = random.Random(seed)
    out = []
    for s in range(n):
        skill = s / n
        items = []
        for q in range(4):
            chosen = 1 if rng.random() < skill else rng.choice([0, 2, 3])
            if q == 3:  # a wrong key: two students in three choose option c
                chosen = 2 if s % 3 else 1
            items.append(mcq_item(q, chosen))
        items.append(
            ItemResult(
                number="2.1",
                part="short",
                question="why-one",
                kind="short_answer",
                max_points=5,
                points=None,
                status="review",
                suggested=2,
                answer="<script>alert('x')</script> the 1 keeps unimodal terms",
            )
        )
        passed = [rng.random() < skill for _ in range(3)]
        checks = [
            CheckResult(
                name=f"tensor_fusion.c{i}",
                function="tensor_fusion",
                score=1.0 if ok else 0.0,
                max_score=1,
                passed=ok,
                message=""
                if ok
                else "tensor_fusion: output is not close\n"
                "  Greatest absolute difference: 0.41 at index (2, 7)",
                visibility="hidden",
            )
            for i, ok in enumerate(passed)
        ]
        items.append(
            ItemResult(
                number="3.a",
                part="fusion",
                question="fusion-tf",
                subpart=0,
                kind="code",
                max_points=20,
                points=20 * sum(passed) / 3,
                status="auto",
                checks=checks,
                code_task="fusion",
                text="Implement `tensor_fusion`.",
                context="Setup: $x_A$, $x_B$.",
                answer="fusion.py",
            )
        )
        items.append(
            ItemResult(
                number="6.1",
                part="bonus",
                question="bonus-essay",
                kind="open",
                max_points=5,
                points=3.0 if s % 2 else None,
                status="manual" if s % 2 else "review",
                bonus=True,
                answer="essay",
            )
        )
        problems = (
            [
                SubmissionProblem(
                    where="answers.yaml:3", message="1.12: not on your paper", number="1.12"
                )
            ]
            if s % 10 == 0
            else []
        )
        out.append(
            StudentResult(
                id=f"s{s:03d}", name=f"Student {s}", source="folder", items=items, problems=problems
            )
        )
    return out


def test_statistics():
    results = class_results()
    stats = {s.key: s for s in question_stats(results)}
    # point-biserial against the rest of the total, computed independently
    xs = np.array([r.items[0].points / 2 for r in results])
    rest = np.array([r.total + r.bonus_total - r.items[0].points for r in results])
    assert stats["mcq-0"].discrimination == pytest.approx(np.corrcoef(xs, rest)[0, 1])
    assert stats["mcq-0"].difficulty == pytest.approx(xs.mean())
    assert stats["why-one"].n == 0 and stats["why-one"].pending == 30
    assert stats["bonus-essay"].n == 15 and stats["bonus-essay"].mean == 3
    options = {o.key: o for o in option_stats(results)}
    assert options["mcq-3"].suspicious == [2]
    assert options["mcq-0"].suspicious == []
    assert sum(options["mcq-0"].counts) == 30
    checks = check_stats(results)
    assert {c.name for c in checks} == {"tensor_fusion.c0", "tensor_fusion.c1", "tensor_fusion.c2"}
    assert all(c.total == 30 for c in checks)
    assert [c.rate for c in checks] == sorted((c.rate for c in checks), reverse=True)


def test_report_is_self_contained_deterministic_and_flags_the_key():
    results = class_results()
    html = render_report(INFO, results)
    assert html == render_report(INFO, results)
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html
    assert "distractor c chosen more than the key" in html
    assert "s000" in html and "1.12: not on your paper" in html
    assert "s999" in html  # a roster student without a submission
    images = html.count('src="data:image/svg+xml;base64,')
    assert images == 5
    first = html.split('src="data:image/svg+xml;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(first).startswith(b"<?xml")


def test_feedback_escapes_student_text_and_shows_checks():
    results = class_results()
    page = render_feedback(INFO, results[7])
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "Greatest absolute difference: 0.41 at index (2, 7)" in page or all(
        c.passed for c in results[7].items[5].checks
    )
    assert "pending review" in page
    assert "<math" in page  # bank math rendered as MathML
    assert page.count("Setup:") == 1


def _chromium():
    path = Path(__file__).resolve().parents[1] / "build" / "chromium_cdp.py"
    spec = importlib.util.spec_from_file_location("chromium_cdp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.browser
def test_report_plots_are_visible_in_chromium(tmp_path):
    cdp = _chromium()
    if cdp.chromium_path() is None:
        pytest.skip("chromium is not installed")
    page = tmp_path / "report.html"
    page.write_text(render_report(INFO, class_results()), encoding="utf-8")
    feedback = tmp_path / "feedback.html"
    feedback.write_text(render_feedback(INFO, class_results()[3]), encoding="utf-8")
    with cdp.Chromium() as browser:
        browser.open(page)
        sizes = browser.evaluate(
            "[...document.images].map(i => [i.complete, i.naturalWidth, "
            "i.getBoundingClientRect().width, i.getBoundingClientRect().height])"
        )
        browser.open(feedback)
        maths = browser.evaluate(
            "[...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width)"
        )
    assert len(sizes) == 5
    for complete, natural, width, height in sizes:
        assert complete and natural > 0 and width > 100 and height > 50
    assert maths and all(w > 0 for w in maths)
