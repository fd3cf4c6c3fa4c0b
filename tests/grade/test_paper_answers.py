"""Answers written on paper (`{on_paper: [crops...]}` in answers.yaml, as `mmexam scan`
writes them): read as pictures, sent to a TA (code included when no file came), never
grouped as identical text; an online student's missing code file is still 'not submitted'."""

from __future__ import annotations

import sqlalchemy as sa

from mmexam.exam import Item
from mmexam.grade import manual
from mmexam.grade.results import ItemResult, StudentResult
from mmexam.grade.scoring import score_item
from mmexam.grade.submissions import Answer, parse_answers


class CodeBody:
    kind = "code"
    text = "Implement tensor fusion."
    task = "fusion"
    functions = ("tensor_fusion",)


def code_item() -> Item:
    return Item(number="3.c", part="fusion", question="fusion-problem", subpart=2, kind="code",
                points=12)  # fmt: skip


def test_on_paper_is_read_as_pictures_and_unsafe_paths_are_refused():
    answers = parse_answers(
        "2.1:\n  on_paper: [crops/2.1.png, crops/2.1-2.png]\n"
        "3.c: {on_paper: crops/3.c.png}\n"
        "4.1: {on_paper: [../../etc/passwd]}\n"
        "4.2: {on_paper: [/etc/passwd]}\n"
        "4.3: {other: 1}\n"
    )
    first = answers.by_number["2.1"]
    assert first.crops == ("crops/2.1.png", "crops/2.1-2.png") and first.on_paper
    assert answers.by_number["3.c"].crops == ("crops/3.c.png",)
    assert not {"4.1", "4.2", "4.3"} & set(answers.by_number)
    messages = [p.message for p in answers.problems]
    assert any("4.1: on_paper" in m and "not a path inside" in m for m in messages), messages
    assert any("4.2: on_paper" in m for m in messages), messages
    assert any("4.3: expected an answer" in m for m in messages), messages


def test_code_on_paper_waits_for_a_ta_and_a_missing_file_online_scores_0():
    paper = score_item(code_item(), CodeBody(), Answer(None, 3, ("crops/3.c.png",)))
    assert paper.result.status == "review" and paper.result.points is None
    assert paper.result.crops == ["crops/3.c.png"] and paper.problems == []
    online = score_item(code_item(), CodeBody(), None)
    assert online.result.status == "auto" and online.result.points == 0.0
    assert "fusion.py was not submitted" in online.result.messages[0]


def item(answer: str | None, crops: list[str]) -> ItemResult:
    return ItemResult(number="2.1", part="short", question="q", kind="short_answer",
                      max_points=5, status="review", answer=answer, crops=crops)  # fmt: skip


def test_paper_answers_are_groups_of_their_own_in_the_sheets(tmp_path):
    results = [
        StudentResult(id=f"s{n}", source="folder", items=[item(None, ["crops/2.1.png"])])
        for n in range(3)
    ] + [
        StudentResult(id=f"t{n}", source="folder", items=[item("late fusion", [])])
        for n in range(2)
    ]
    written = manual.write_sheets(tmp_path, results, {})
    sheet = manual.read_sheet(written[0], "q")
    rows = written[0].read_text().splitlines()[1:]
    groups = {r.split(",")[1]: r.split(",")[0] for r in rows}
    assert len({groups[f"s{n}"] for n in range(3)}) == 3  # three pictures, three groups
    assert groups["t0"] == groups["t1"]
    assert sheet.rows["s0"].answer == "(on paper: crops/2.1.png)"
    # points typed for one paper answer do not spread to the others; identical text does
    text = (
        written[0]
        .read_text()
        .replace(
            f"{groups['s0']},s0,2.1,(on paper: crops/2.1.png),,,5,,",
            f"{groups['s0']},s0,2.1,x,,,5,4,",
        )
    )
    text = text.replace(
        f"{groups['t0']},t0,2.1,late fusion,,,5,,", f"{groups['t0']},t0,2.1,late fusion,,,5,3,"
    )
    written[0].write_text(text)
    reviewed, _ = manual.apply_reviews(results, {"q": manual.read_sheet(written[0], "q")})
    points = {r.id: r.items[0].points for r in reviewed}
    assert points == {"s0": 4, "s1": None, "s2": None, "t0": 3, "t1": 3}


def test_a_review_of_schema_1_gains_the_crops_column_and_grading_still_reads_it(tmp_path):
    from mmexam.grade.review_state import load_saved, review_metadata
    from mmexam.serve.db import Database, database_url
    from mmexam.serve.review.store import ReviewStore

    path = tmp_path / "review.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # the tables as schema 1 made them: answers without crops
        review_metadata.create_all(conn)
        conn.execute(sa.text("ALTER TABLE review_answers DROP COLUMN crops"))
        conn.execute(
            sa.text(
                "INSERT INTO review_answers (id, student, number, key, question, kind, "
                "max_points, answer, graded, adjust) VALUES ('s1|2.1', 's1', '2.1', 'q', 'q', "
                "'short_answer', 5, 'x', 1, 2)"
            )
        )
    engine.dispose()
    saved = load_saved(tmp_path)
    assert saved is not None and saved.decisions["s1|2.1"].points == 2
    db = Database(database_url(None, path))
    ReviewStore(db)
    with db.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("review_answers")}
    db.close()
    assert "crops" in columns
    assert load_saved(tmp_path).decisions["s1|2.1"].points == 2
