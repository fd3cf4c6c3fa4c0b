"""Rosters as LMSs export them: the layout found by its header, the id and name columns, the LMS id."""

from __future__ import annotations

import pytest

from mmexam.errors import BuildError
from mmexam.roster import load_roster, parse_roster_file

CANVAS = """Student,ID,SIS User ID,SIS Login ID,Section,Midterm (123)
    Points Possible,,,,,100
"Okafor, Ada",101,s2024001,ada@uni.example,Section 1,
"Student, Test",999,,,Section 1,
"""


def test_a_canvas_gradebook_export():
    roster = parse_roster_file(CANVAS, "canvas.csv")
    assert (roster.layout, roster.id_column, roster.name_column) == (
        "canvas",
        "SIS User ID",
        "Student",
    )
    (ada,) = roster.entries
    assert (ada.id, ada.name, ada.lms_id, ada.line) == ("s2024001", "Okafor, Ada", "101", 3)
    assert ada.columns["SIS Login ID"] == "ada@uni.example" and "Midterm (123)" not in ada.columns
    assert [s.split(": ", 1)[1] for s in roster.skipped] == [
        "'Points Possible' is Canvas's own row, not a student; skipped",
        "'Student, Test' is Canvas's own row, not a student; skipped",
    ]


def test_canvas_without_sis_ids_falls_back_to_the_canvas_id():
    text = 'Student,ID,SIS User ID,SIS Login ID,Section\n"Okafor, Ada",101,,,S1\n'
    roster = parse_roster_file(text, "c.csv")
    assert roster.id_column == "ID" and roster.entries[0].id == "101"


@pytest.mark.parametrize(
    ("text", "layout", "row"),
    [
        (
            (
                "Identifier\tFull name\tID number\tEmail address\tStatus\n"
                "Participant 3301\tAda Okafor\ts2024001\ta@x\tSubmitted\n"
            ),
            "moodle-worksheet",
            ("s2024001", "Ada Okafor", "3301"),
        ),
        (
            "First name,Last name,ID number,Institution,Email address\nAda,Okafor,s2024001,U,a@x\n",
            "moodle",
            ("s2024001", "Ada Okafor", None),
        ),
        (
            (
                '"Last Name","First Name","Username","Student ID","Last Access"\n'
                '"Okafor","Ada","aokafor","s2024001","2026-01-01"\n'
            ),
            "blackboard",
            ("s2024001", "Ada Okafor", "aokafor"),
        ),
        (
            "Name,Email,SID\nAda Okafor,a@x,s2024001\n",
            "gradescope",
            ("s2024001", "Ada Okafor", None),
        ),
        ("id;name\ns2024001;Ada Okafor\n", "mmexam", ("s2024001", "Ada Okafor", None)),
    ],
)
def test_lms_layouts_are_found_by_their_header(text, layout, row):
    roster = parse_roster_file(text, "r.csv")
    entry = roster.entries[0]
    assert roster.layout == layout and (entry.id, entry.name, entry.lms_id) == row


def test_columns_can_be_chosen_and_a_wrong_one_is_named():
    text = "Matrikel,Vorname Nachname,Mail\n4711,Ada Okafor,a@x\n"
    roster = parse_roster_file(text, "r.csv", id_column="matrikel", name_column="Vorname Nachname")
    assert (roster.entries[0].id, roster.entries[0].name) == ("4711", "Ada Okafor")
    with pytest.raises(BuildError, match=r"r.csv:1: --id-column 'Student' is not a column"):
        parse_roster_file(text, "r.csv", id_column="Student")
    with pytest.raises(BuildError, match="or pass --id-column and --name-column"):
        parse_roster_file(text, "r.csv")


def test_a_utf16_blackboard_file_is_read(tmp_path):
    path = tmp_path / "gc.xls"
    text = '"Last Name"\t"First Name"\t"Username"\n"Müller"\t"Lea"\t"lmueller"\n'
    path.write_bytes(text.encode("utf-16"))
    roster = load_roster(path)
    assert roster.layout == "blackboard" and roster.entries[0].name == "Lea Müller"
    assert roster.entries[0].id == "lmueller" and len(roster.sha256) == 64
