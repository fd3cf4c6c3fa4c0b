"""Answer sheets from grading's results: authored and printed choices, parameters, code files."""

import zipfile

from mmexam.exam import Item
from mmexam.grade.results import ItemResult, StudentResult
from mmexam.integrity.sheets import read_code, sheet_from


def test_a_choice_keeps_its_authored_options_and_the_letters_printed():
    result = StudentResult(
        id="s1",
        source="folder",
        items=[
            ItemResult(
                number="1.1",
                part="mcq",
                question="q",
                kind="mcq",
                max_points=2,
                points=0,
                status="auto",
                chosen=[3],
                key=[0],
                option_count=4,
                answer="b",
            ),
            ItemResult(
                number="3.a",
                part="fusion",
                question="p",
                subpart=0,
                kind="numeric",
                max_points=2,
                points=2,
                status="auto",
                answer="18",
            ),
            ItemResult(
                number="2.1",
                part="short",
                question="s",
                kind="short_answer",
                max_points=5,
                status="review",
                answer="  Late fusion averages decisions.  ",
                expected="ref",
            ),
        ],
    )
    items = {
        "1.1": Item(
            number="1.1", part="mcq", question="q", kind="mcq", points=2, options=[2, 3, 0, 1]
        ),
        "3.a": Item(
            number="3.a",
            part="fusion",
            question="p",
            subpart=0,
            kind="numeric",
            points=2,
            params={"d_a": 5, "d_b": 2},
        ),
    }
    sheet = sheet_from(result, items, [])
    choice = sheet.choices[0]
    assert choice.chosen == (3,) and choice.printed == (1,) and choice.order == (2, 3, 0, 1)
    number = sheet.numbers[0]
    assert number.key == "p.a" and number.value == 18 and number.correct
    assert number.params == '{"d_a": 5, "d_b": 2}'
    assert sheet.texts[0].text == "Late fusion averages decisions." and sheet.texts[0].reference
    assert (sheet.earned, sheet.possible) == (2, 4)


def test_code_is_read_from_folders_and_zips(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "fusion.py").write_text("def f():\n    return 1\n")
    with zipfile.ZipFile(tmp_path / "s2.zip", "w") as archive:
        archive.writestr("s2/Fusion.py", "def f():\n    return 2\n")
    notes: list[str] = []
    found = read_code(tmp_path, {"s1": {"fusion"}, "s2": {"fusion"}, "s3": {"fusion"}}, notes)
    assert found["s1"][0].source.endswith("return 1\n")
    assert found["s2"][0].name == "Fusion.py"
    assert notes and "no folder or .zip for 1 student(s) (s3)" in notes[0]
