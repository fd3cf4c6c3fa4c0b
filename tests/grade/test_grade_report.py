"""The class report and the student feedback pages, from hand-made results."""

import base64
import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest

from mmexam.checks.results import CheckResult
from mmexam.grade.feedback import render_feedback
from mmexam.grade.report import (
    MIN_DIFFICULTY_N,
    MIN_DISCRIMINATION_N,
    MIN_KEY_CHECK,
    OptionStats,
    check_stats,
    option_stats,
    part_shares,
    plot_histogram,
    plot_parts,
    question_stats,
    render_report,
    sign_test,
)
from mmexam.grade.results import (
    IntakeNote,
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
    # point-biserial against the share of the student's other graded points, computed
    # independently: pending answers (why-one, half the essays) are left out, not 0
    xs = np.array([r.items[0].points / 2 for r in results])

    def rest_of(r):
        others = [i for i in r.items if i.question != "mcq-0" and i.points is not None]
        return sum(i.points for i in others) / sum(i.max_points for i in others)

    rest = np.array([rest_of(r) for r in results])
    assert stats["mcq-0"].discrimination == pytest.approx(np.corrcoef(xs, rest)[0, 1])
    pending_as_zero = np.array([r.total + r.bonus_total - r.items[0].points for r in results])
    assert stats["mcq-0"].discrimination != pytest.approx(np.corrcoef(xs, pending_as_zero)[0, 1])
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


# ---------------------------------------------------------------- claims need a sample


def one_mcq(sid, chosen, key=0, question="mcq-k"):
    """A student who answered one MCQ (options a–d, authored order) and nothing else."""
    item = mcq_item(0, chosen, key)
    item = item.model_copy(update={"question": question})
    return StudentResult(id=sid, source="folder", items=[item])


def mcq_class(counts, key=0):
    """Students choosing option j counts[j] times."""
    out = []
    for j, c in enumerate(counts):
        out += [one_mcq(f"s{j}{k:03d}", j, key) for k in range(c)]
    return out


def test_sign_test_is_the_exact_binomial_tail():
    assert sign_test(5, 0) == pytest.approx(1 / 32)
    assert sign_test(4, 0) == pytest.approx(1 / 16)
    assert sign_test(1, 1) == pytest.approx(3 / 4)
    # 20 against 10: sum_{k>=20} C(30, k) / 2^30
    assert sign_test(20, 10) == pytest.approx(0.0493686, abs=1e-6)
    assert sign_test(0, 0) == 1.0


def test_one_answer_choosing_a_distractor_is_no_key_warning():
    results = mcq_class([0, 1, 0, 0])
    (options,) = option_stats(results)
    assert options.leading == [1] and options.suspicious == []
    why = f"too few answers to judge (n=1, need ≥ {MIN_KEY_CHECK})"
    assert options.notes == [f"distractor b chosen more than the key (1 vs 0): {why}"]
    html = render_report(INFO, results)
    assert "check the key" not in html
    assert "too few answers to judge (n=1, need ≥ 10)" in html


def test_thirty_answers_twenty_on_a_distractor_warn():
    results = mcq_class([8, 20, 2, 0])  # key a: 8, distractor b: 20
    (options,) = option_stats(results)
    assert options.suspicious == [1]
    assert options.p_value(1) == pytest.approx(sign_test(20, 8)) and options.p_value(1) < 0.05
    html = render_report(INFO, results)
    assert "distractor b chosen more than the key (20 vs 8), beyond chance" in html
    assert "check the key" in html


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        ([4, 6, 0, 0], "within chance"),  # 6 vs 4 of 10: p = 0.38
        ([3, 4, 3, 0], "too few answers to judge (n=4, need ≥ 5) choosing b"),  # 4 vs 3
        ([2, 5, 1, 0], "too few answers to judge (n=8, need ≥ 10)"),  # 8 answers in all
    ],
)
def test_a_distractor_ahead_of_the_key_by_chance_is_not_flagged(counts, why):
    (options,) = option_stats(mcq_class(counts))
    assert options.leading == [1] and options.suspicious == []
    assert why in options.notes[0]
    assert "check the key" not in render_report(INFO, mcq_class(counts))


def test_the_key_check_thresholds_are_each_needed():
    # 5 of 5 choosing b, none the key: p = 1/32, but only 5 answers
    assert OptionStats(key="q", counts=[0, 5, 0, 0], blank=0, answer=[0]).suspicious == []
    # 10 answers, 5 on b and none on the key: every gate passes
    assert OptionStats(key="q", counts=[0, 5, 5, 0], blank=0, answer=[0]).suspicious == [1, 2]
    # blanks are not answers
    assert OptionStats(key="q", counts=[0, 5, 0, 0], blank=20, answer=[0]).suspicious == []


def paired_class(n):
    """n students on two questions, q1 right exactly when q2 is."""
    out = []
    for k in range(n):
        got = 2.0 if k % 2 else 0.0
        items = [
            mcq_item(0, 1 if got else 0).model_copy(update={"question": "q1", "number": "1.1"}),
            mcq_item(1, 1 if got else 0).model_copy(update={"question": "q2", "number": "1.2"}),
        ]
        out.append(StudentResult(id=f"s{k:03d}", source="folder", items=items))
    return out


def test_discrimination_is_not_shown_from_a_handful():
    small = {s.key: s for s in question_stats(paired_class(3))}["q1"]
    # three students perfectly separated: a point-biserial of 1.00 would be shown before
    assert small.discrimination is None and not small.flagged and small.rest_n == 3
    assert small.difficulty == pytest.approx(1 / 3) and not small.difficulty_judged
    assert small.note == f"too few answers to judge (n=3, need ≥ {MIN_DIFFICULTY_N})"
    html = render_report(INFO, paired_class(3))
    assert "1.00" not in html.split("<h2>Questions</h2>", 1)[1].split("</table>", 1)[0]
    assert "— (n=3)" in html and "0.33 (n=3)" in html
    assert f"too few answers to judge (n=3, need ≥ {MIN_DIFFICULTY_N})" in html
    big = {s.key: s for s in question_stats(paired_class(MIN_DISCRIMINATION_N))}["q1"]
    assert big.discrimination == pytest.approx(1.0) and big.difficulty_judged and big.note == ""
    between = {s.key: s for s in question_stats(paired_class(MIN_DIFFICULTY_N))}["q1"]
    assert between.difficulty_judged and between.discrimination is None
    assert between.note == (
        f"discrimination: too few answers to judge (n={MIN_DIFFICULTY_N}, "
        f"need ≥ {MIN_DISCRIMINATION_N})"
    )


def test_low_discrimination_is_flagged_only_from_enough_answers():
    def uncorrelated(n):
        rng = random.Random(3)
        out = []
        for k in range(n):
            q1 = mcq_item(0, rng.choice([0, 1])).model_copy(update={"question": "q1"})
            q2 = mcq_item(1, k % 2).model_copy(update={"question": "q2", "number": "1.2"})
            out.append(StudentResult(id=f"s{k:03d}", source="folder", items=[q1, q2]))
        return out

    few = {s.key: s for s in question_stats(uncorrelated(12))}["q1"]
    assert few.discrimination is None and not few.flagged
    many = {s.key: s for s in question_stats(uncorrelated(200))}["q1"]
    assert many.flagged and many.note.startswith("low discrimination (")
    assert "n=200" in many.note


# ---------------------------------------------------------------- pending is not 0


def short_item(points):
    return ItemResult(
        number="2.1",
        part="short",
        question="why-one",
        kind="short_answer",
        max_points=5,
        points=points,
        status="review" if points is None else "manual",
    )


def with_pending():
    """Two final students (totals 5 and 6) and one whose short answer waits (total so far 2)."""
    out = []
    for sid, chosen, short in (("s001", 1, 3.0), ("s002", 1, 4.0), ("s003", 1, None)):
        out.append(
            StudentResult(
                id=sid,
                name=f"Student {sid}",
                source="folder",
                items=[mcq_item(0, chosen), short_item(short)],
            )
        )
    return out


def test_pending_answers_are_left_out_of_the_distributions_not_zero():
    results = with_pending()
    assert [r.provisional for r in results] == [False, False, True]
    rows = {label: (values, waiting) for label, values, waiting in part_shares(INFO, results)}
    assert rows["2. Short answers (pending: 1 student)"] == ([60.0, 80.0], 1)
    assert rows["1. Multiple choice"] == ([100.0, 100.0, 100.0], 0)
    stats = {s.key: s for s in question_stats(results)}["why-one"]
    assert stats.n == 2 and stats.pending == 1 and stats.mean == 3.5  # not (3 + 4 + 0) / 3
    html = render_report(INFO, results)
    assert "Mean<b>5.5</b>" in html  # (5 + 6) / 2, not (5 + 6 + 2) / 3
    assert "Range<b>5–6</b>" in html  # the provisional 2 is no minimum
    assert "n=2 final" in html and "pending: 1 student" in html


def test_a_provisional_total_is_labelled_so():
    html = render_report(INFO, with_pending())
    section = html.split('id="provisional"', 1)[1].split("</table>", 1)[0]
    assert "s003" in section and "2 (provisional)" in section
    assert "s001" not in section and "s002" not in section


def test_a_part_with_nothing_final_says_pending_instead_of_a_box():
    results = [r.model_copy(update={"items": r.items[1:]}) for r in with_pending()]
    results = [r.model_copy(update={"items": [short_item(None)]}) for r in results]
    rows = part_shares(INFO, results)
    assert rows == [("2. Short answers (pending: 3 students)", [], 3)]
    svg = base64.b64decode(plot_parts(INFO, results).split(",", 1)[1]).decode()
    assert "pending: 3 students, nothing final yet" in svg
    svg = base64.b64decode(plot_histogram([], 100, 3).split(",", 1)[1]).decode()
    assert "pending: 3 students (provisional totals not plotted)" in svg
    assert plot_parts(INFO, []).startswith("data:image/svg+xml;base64,")  # nobody: no warning


# ---------------------------------------------------------------- off the roster


def test_an_off_roster_submission_is_listed_apart_and_not_counted():
    results = mcq_class([3, 0, 0, 0])  # the class: three students, all on the key
    visitor = one_mcq("s777", 1)  # off the roster, chose b
    visitor = visitor.model_copy(
        update={
            "intake": [
                IntakeNote(
                    kind="roster",
                    where="s777",
                    message="not on the roster: s777 (folder subs/s777); graded apart, not "
                    "counted with the class (not in grades.csv or the class statistics)",
                )
            ],
            "problems": [
                SubmissionProblem(where="s777", message="student 's777' is not on the roster")
            ],
        }
    )
    info = INFO.model_copy(update={"off_roster": ["s777"]})
    html = render_report(info, [*results, visitor])
    assert "a: 3 · b: 0 · c: 0 · d: 0" in html  # the visitor's b is not counted
    assert "3 submissions graded" in html and "1 not on the roster" in html
    apart = html.split('id="off-roster"', 1)[1]
    assert "<strong>s777</strong>" in apart
    assert "not on the roster: s777 (folder subs/s777)" in apart
    assert "Total 0 of 100" in apart
    # the class's own sections do not list the visitor
    assert "s777" not in html.split('id="off-roster"', 1)[0].split("<h2>Warnings</h2>")[0]
    assert "Mean<b>2</b>" in html  # the class's 2, 2, 2 — not pulled down by the visitor's 0
    assert html == render_report(info, [*results, visitor])
    # without the note (a result cached before it existed) it still says where
    bare = visitor.model_copy(update={"intake": []})
    assert "not on the roster: s777 (folder s777)" in render_report(info, [*results, bare])
