"""The quiz's core: choosing questions, scoring typed answers, the history file."""

import json
import random

import pytest
from pydantic import TypeAdapter

from mmexam.bank.models import Blueprint, McqBody, MultiSelectBody, NumericBody, Question
from mmexam.errors import PracticeError
from mmexam.practice.history import History, history_path, load_history, save_history
from mmexam.practice.quiz import (
    InvalidAnswer,
    Step,
    Tally,
    choose,
    rubric_hits,
    score,
    score_choice,
    score_numeric,
    score_self,
)

BLUEPRINT = Blueprint(
    course="C",
    title="T",
    duration_minutes=10,
    instructions="-",
    total_points=4,
    topics={"vae": "VAEs", "contrastive": "CLIP", "tensor-fusion": "tensor fusion"},
    parts=[
        {"id": "mcq", "title": "Multiple choice", "pick": 1, "points": 2},
        {"id": "short", "title": "Short", "pick": 1, "points": 2},
    ],
)


def question(qid, part="mcq", topics=("vae",)) -> Question:
    data = {
        "id": qid,
        "kind": "mcq",
        "part": part,
        "topics": list(topics),
        "difficulty": "easy",
        "points": 2,
        "text": "?",
        "options": ["x", "y"],
        "answer": "a",
    }
    return TypeAdapter(Question).validate_python(data)


def mcq_step(order=(2, 0, 1)) -> Step:
    body = McqBody(kind="mcq", points=2, text="?", options=["A0", "A1", "A2"], answer="b")
    return Step(body=body, order=order)


def test_mcq_is_scored_by_the_displayed_letter():
    step = mcq_step()  # shown: a) A2, b) A0, c) A1 — the answer A1 is shown at c
    assert step.options() == ["A2", "A0", "A1"]
    right = score_choice(step, " C) ")
    assert (right.verdict, right.earned, right.expected) == ("right", 2, "c")
    wrong = score_choice(step, "b")
    assert (wrong.verdict, wrong.earned, wrong.got, wrong.missed) == ("wrong", 0, "b", True)
    assert score_choice(step, "").verdict == "skipped"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("d", "'d' is not one of the letters a–c"),
        ("a b", "pick exactly one letter"),
        ("1", "'1' is not one of the letters a–c"),
        ("ab", "'ab' is not one of the letters a–c"),
    ],
)
def test_mcq_rejects_what_is_not_one_letter(typed, message):
    with pytest.raises(InvalidAnswer, match=message):
        score_choice(mcq_step(), typed)


@pytest.mark.parametrize(
    ("scoring", "typed", "earned", "verdict"),
    [
        ("right_minus_wrong", "a b", 3.0, "right"),
        ("right_minus_wrong", "a, c", 0.0, "wrong"),  # one right, one wrong
        ("right_minus_wrong", "a", 1.5, "partly"),
        ("all_or_nothing", "a", 0.0, "wrong"),
        ("all_or_nothing", "ba", 3.0, "right"),
        ("per_option", "a c", 1.0, "partly"),  # a right, b missed, c wrong: 1 of 3 options
    ],
)
def test_multi_select_follows_its_partial_credit_policy(scoring, typed, earned, verdict):
    body = MultiSelectBody(
        kind="multi_select",
        points=3,
        text="?",
        options=["P", "Q", "R"],
        answers=["a", "b"],
        scoring=scoring,
    )
    outcome = score_choice(Step(body=body, order=(0, 1, 2)), typed)
    assert (outcome.earned, outcome.verdict) == (pytest.approx(earned), verdict)


def test_multi_select_names_wrong_and_missing_picks():
    body = MultiSelectBody(
        kind="multi_select", points=2, text="?", options=["P", "Q", "R"], answers=["a", "b"]
    )
    outcome = score_choice(Step(body=body, order=(0, 1, 2)), "a c")
    assert (outcome.wrong_picks, outcome.missed_picks, outcome.expected) == (("c",), ("b",), "a, b")


def numeric(answer=20.0, **tol) -> Step:
    return Step(body=NumericBody(kind="numeric", points=2, text="?", answer=answer, **tol))


def test_numeric_within_tolerance():
    assert score_numeric(numeric(abs_tol=0.5), "20.4").verdict == "right"
    outcome = score_numeric(numeric(abs_tol=0.5), "21")
    assert (outcome.verdict, outcome.expected, outcome.got) == ("wrong", "20 (± 0.5)", "21")
    assert score_numeric(numeric(rel_tol=0.1), "21.9").verdict == "right"
    assert score_numeric(numeric(rel_tol=0.1), "22.1").verdict == "wrong"
    assert (
        score_numeric(numeric(0.75), "3/4").verdict == "right"
    )  # no tolerance: exact up to rounding
    assert score_numeric(numeric(0.75), "0.7500001").verdict == "wrong"
    assert score_numeric(numeric(answer=5, unit="MB"), "5 MB").verdict == "right"


@pytest.mark.parametrize("typed", ["twenty", "1/0", "2,5", "nan"])
def test_numeric_asks_again_for_what_is_not_a_number(typed):
    with pytest.raises(InvalidAnswer, match="type a number"):
        score_numeric(numeric(), typed)


def test_numeric_feedback_gives_the_difference():
    outcome = score_numeric(numeric(abs_tol=0.5), "21.5")
    assert outcome.detail.startswith(
        "Expected 20, got 21.5: absolute difference 1.5 (up to 0.5 allowed)"
    )


def test_self_assessment_stays_within_the_points():
    body = {"kind": "open", "points": 5, "text": "?", "rubric": [{"points": 5, "description": "d"}]}
    step = Step(body=_open(body))
    assert score_self(step, "3.5").earned == 3.5
    assert score_self(step, "3.5").missed
    assert not score_self(step, "5").missed
    with pytest.raises(InvalidAnswer, match="between 0 and 5"):
        score_self(step, "6")


def _open(data):
    from mmexam.bank.models import OpenBody

    return OpenBody.model_validate(data)


def test_rubric_hits_are_suggested_by_keywords_and_regex():
    from mmexam.bank.models import ShortAnswerBody

    body = ShortAnswerBody(
        kind="short_answer",
        points=3,
        text="?",
        reference="r",
        rubric=[
            {"points": 2, "description": "gate", "keywords": ["Down-weight"]},
            {"points": 1, "description": "attention", "regex": r"attend(s|ing)?"},
        ],
    )
    assert rubric_hits(body, "the gate can down-weight noise") == [True, False]
    assert rubric_hits(body, "It ATTENDS to the cleaner one") == [False, True]
    assert rubric_hits(body, "") == [False, False]


def test_code_steps_are_not_scored_in_the_quiz():
    from mmexam.bank.models import CodeBody

    step = Step(
        body=CodeBody(kind="code", points=5, text="?", task="fusion", functions=["tensor_fusion"])
    )
    outcome = score(step, "")
    tally = Tally()
    assert tally.add([outcome]) is False
    assert (tally.asked, tally.possible, tally.code) == (0, 0, 1)


def test_tally_counts_points_and_fully_right_questions():
    tally = Tally()
    tally.add([score_choice(mcq_step(), "c"), score_numeric(numeric(), "20")])
    tally.add([score_choice(mcq_step(), "a")])
    assert (tally.earned, tally.possible, tally.asked, tally.right) == (4, 6, 2, 1)


def test_choose_filters_by_part_and_topic_and_puts_misses_first():
    questions = [
        question(f"q{i}", topics=("vae",) if i % 2 else ("contrastive",)) for i in range(8)
    ]
    questions.append(question("s1", part="short"))
    chosen = choose(questions, BLUEPRINT, parts=["mcq"], topics=["vae"], rng=random.Random(1))
    assert sorted(q.id for q in chosen) == ["q1", "q3", "q5", "q7"]
    for seed in range(5):
        chosen = choose(questions, BLUEPRINT, count=3, rng=random.Random(seed), first={"q6", "s1"})
        assert {q.id for q in chosen[:2]} == {"q6", "s1"} and len(chosen) == 3
    again = choose(questions, BLUEPRINT, rng=random.Random(7))
    assert [q.id for q in again] == [
        q.id for q in choose(questions, BLUEPRINT, rng=random.Random(7))
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parts": ["fusionn"]}, "--part fusionn: no such part — use one of mcq, short"),
        (
            {"topics": ["contrastiv"]},
            "--topic contrastiv: no such topic — did you mean contrastive?",
        ),
        (
            {"parts": ["short"], "topics": ["contrastive"]},
            "no practice questions match --part short --topic",
        ),
        ({"count": 0}, "--count 0: ask for at least 1 question"),
    ],
)
def test_choose_rejects_bad_filters_in_one_line(kwargs, message):
    with pytest.raises(PracticeError, match=message):
        choose(
            [question("q1"), question("s1", part="short")],
            BLUEPRINT,
            rng=random.Random(0),
            **kwargs,
        )


def test_history_remembers_misses_until_answered_right(tmp_path, monkeypatch):
    monkeypatch.setenv("MMEXAM_HOME", str(tmp_path / "home"))
    path = history_path()
    assert path == tmp_path / "home" / "practice-history.json"
    history = load_history(path)
    history.record("q1", missed=True)
    history.record("q2", missed=False)
    save_history(history, path)
    again = load_history(path)
    assert again.missed_ids() == {"q1"}
    again.record("q1", missed=False)
    assert again.missed_ids() == set()
    assert (again.questions["q1"].asked, again.questions["q1"].missed) == (2, 1)


def test_a_broken_history_is_one_error_and_is_not_overwritten(tmp_path):
    path = tmp_path / "practice-history.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(
        PracticeError, match=r"practice-history.json: unreadable practice history .* fix or delete"
    ):
        load_history(path)
    assert path.read_text(encoding="utf-8") == "{not json"
    path.write_text(json.dumps({"format": 1, "questions": {"q": {"asked": -1}}}), encoding="utf-8")
    with pytest.raises(PracticeError):
        load_history(path)
    assert History().missed_ids() == set()


def test_the_shipped_bank_works_out_of_the_box(tmp_path):
    from typer.testing import CliRunner

    from mmexam.cli import app

    result = CliRunner().invoke(
        app,
        ["practice", "quiz", "--count", "3", "--seed", "1"],
        input="",
        env={"MMEXAM_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert "Question 1/3 · " in result.output
    assert "Quiz ended (end of input)." in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["quiz", "check", "export", "exam"])
def test_every_practice_command_has_help_and_a_docs_entry(command):
    from pathlib import Path

    from typer.testing import CliRunner

    from mmexam.cli import app

    result = CliRunner().invoke(app, ["practice", command, "--help"])
    assert result.exit_code == 0 and "Example: mmexam practice" in result.output, result.output
    page = Path(__file__).resolve().parents[2] / "docs" / "students.md"
    assert f"mmexam practice {command}" in page.read_text(encoding="utf-8")
