"""Variant selection: reproducible per (seed, student, question), and local to each question."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mmexam.bank import load_bank
from mmexam.bank.models import Part
from mmexam.build.variants import (
    draw_paper,
    select,
    shuffle_options,
    stable_rng,
    version_letters,
)
from mmexam.errors import BuildError
from mmexam.exam import content_hash

STUDENTS = [f"s{n:03d}" for n in range(24)]


@pytest.fixture
def small(fixture_copy):
    return fixture_copy("banks/small")


def entries(bank, seed=1):
    return {s: draw_paper(bank, seed, s).manifest_entry() for s in STUDENTS}


def test_same_seed_and_student_give_the_same_paper(small):
    bank = load_bank(small)
    assert draw_paper(bank, 7, "s1").manifest_entry() == draw_paper(bank, 7, "s1").manifest_entry()


def test_students_and_seeds_change_the_papers(small):
    bank = load_bank(small)
    by_student = {e.model_dump_json(exclude={"id", "variant"}) for e in entries(bank).values()}
    assert len(by_student) > len(STUDENTS) // 2, "papers barely vary between students"
    one, two = entries(bank, seed=1), entries(bank, seed=2)
    changed = [s for s in STUDENTS if one[s].items != two[s].items]
    assert len(changed) > len(STUDENTS) // 2


def test_numbering_follows_the_manifest_rule(small):
    paper = draw_paper(load_bank(small), 1, "s1")
    numbers = [item.number for item in paper.items()]
    # part 1 picks 2 questions (1.1, 1.2); part 2 and 4 pick one (2, 4); part 3's problem has 3 parts.
    assert numbers == ["1.1", "1.2", "2", "3.a", "3.b", "3.c", "4"]
    problem = [item for item in paper.items() if item.part == "fusion"]
    assert [item.subpart for item in problem] == [0, 1, 2]
    assert {item.question for item in problem} == {"fusion-tensor-problem"}
    assert [item.kind for item in problem] == ["numeric", "mcq", "code"]
    assert [item.bonus for item in paper.items()] == [False] * 6 + [True]


def test_parameters_are_drawn_and_instantiated(small):
    bank = load_bank(small)
    seen = set()
    for student in STUDENTS:
        paper = draw_paper(bank, 1, student)
        problem = paper.parts[2].questions[0]
        d = problem.params["d"]
        assert d in (8, 16)
        assert float(problem.parts[0].body.answer) == (d + 1) ** 2
        assert f"{d}" in problem.question.text
        seen.add(d)
    assert seen == {8, 16}


def test_fixed_options_stay_in_place_and_permutations_are_complete():
    class Opt:
        def __init__(self, fixed=False):
            self.fixed = fixed

    options = [Opt(), Opt(), Opt(True), Opt(), Opt(True)]
    orders = set()
    for n in range(200):
        order = shuffle_options(options, stable_rng(1, f"s{n}", "options", "q"))
        assert sorted(order) == list(range(5))
        assert order[2] == 2 and order[4] == 4
        orders.add(tuple(order))
    assert len(orders) == 6  # every arrangement of the three movable options appears


def test_fixed_option_in_the_bank_is_never_moved(small):
    bank = load_bank(small)
    for student in STUDENTS:
        for item in draw_paper(bank, 3, student).items():
            if item.question == "mcq-clip-objective":
                assert item.options[3] == 3  # "None of the above" is fixed


def test_editing_one_question_reshuffles_nothing_else(small):
    original = load_bank(small)
    before = entries(original)
    hashes = {qid: content_hash(q) for qid, q in original.questions.items()}
    questions = small / "questions.yaml"
    text = questions.read_text()
    edited = text.replace("CLIP trains its image and text encoders", "CLIP trains both encoders")
    assert edited != text
    questions.write_text(edited)
    bank = load_bank(small)
    assert entries(bank) == before  # same picks, orders, options and values for everyone
    changed = {qid for qid, q in bank.questions.items() if content_hash(q) != hashes[qid]}
    assert changed == {"mcq-clip-objective"}


def test_adding_a_question_keeps_the_others_options_and_values(small):
    before = entries(load_bank(small))
    questions = small / "questions.yaml"
    questions.write_text(
        questions.read_text()
        + """
  - id: mcq-added-later
    kind: mcq
    part: mcq
    topics: [fusion]
    difficulty: easy
    points: 2
    text: "Which fusion keeps the unimodal terms?"
    options: ["Tensor fusion with appended ones", "Plain outer product"]
    answer: a
    explanation: "The appended 1 keeps x_A and x_B in the product."
"""
    )
    after = entries(load_bank(small))
    kept = 0
    for student in STUDENTS:
        old = {(i.question, i.subpart): i for i in before[student].items}
        for item in after[student].items:
            previous = old.get((item.question, item.subpart))
            if previous is not None:
                assert (item.options, item.params) == (previous.options, previous.params)
                kept += 1
    assert kept >= len(STUDENTS) * 5


def test_a_part_without_shuffle_keeps_bank_order():
    class Q:
        def __init__(self, qid):
            self.id = qid

    pool = [Q(f"q{n}") for n in range(8)]
    part = Part(id="p", title="P", pick=5, points=5, shuffle=False)
    for student in STUDENTS:
        picked = [q.id for q in select(pool, part, 1, student)]
        assert picked == sorted(picked, key=lambda qid: int(qid[1:]))
    shuffled = Part(id="p", title="P", pick=5, points=5, shuffle=True)
    orders = {tuple(q.id for q in select(pool, shuffled, 1, s)) for s in STUDENTS}
    assert any(list(o) != sorted(o, key=lambda qid: int(qid[1:])) for o in orders)


def test_a_pool_too_small_is_a_build_error():
    part = Part(id="p", title="P", pick=3, points=3)
    with pytest.raises(BuildError, match="part 'p' picks 3 questions but its pool has 1"):
        select([type("Q", (), {"id": "only"})()], part, 1, "s")


def test_version_letters():
    assert version_letters(3) == ["A", "B", "C"]
    assert version_letters(28)[-3:] == ["Z", "AA", "AB"]


def test_papers_do_not_depend_on_python_hash_randomisation(small):
    script = (
        "import sys; from pathlib import Path; from mmexam.bank import load_bank; "
        "from mmexam.build.variants import draw_paper; "
        "bank = load_bank(Path(sys.argv[1])); "
        "print(''.join(draw_paper(bank, 5, s).manifest_entry().model_dump_json() "
        "for s in ('a', 'b', 'c')))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script, str(small)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1
