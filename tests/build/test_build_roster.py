"""The roster CSV: students in order, and every bad row named by its line."""

from __future__ import annotations

import pytest

from mmexam.build.roster import parse_roster, read_roster
from mmexam.errors import BuildError


def test_a_good_roster_in_order_with_lines():
    text = 'id,name,email\ns1,Ada Lovelace,a@x\n\ns2,"Turing, Alan",t@x\n'
    entries = parse_roster(text, "r.csv")
    assert [(e.id, e.name, e.line) for e in entries] == [
        ("s1", "Ada Lovelace", 2),
        ("s2", "Turing, Alan", 4),
    ]


def test_columns_can_come_in_any_order_and_case():
    entries = parse_roster("Name , ID\nGrace Hopper,g7\n", "r.csv")
    assert (entries[0].id, entries[0].name) == ("g7", "Grace Hopper")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "r.csv:1: the roster is empty"),
        ("student,name\n1,A\n", "r.csv:1: the header has no 'id' column"),
        ("id\n1\n", "r.csv:1: the header has no 'name' column"),
        ("id,name\ns1,Ada\ns2\n", "r.csv:3: expected 2 columns (id, name), got 1"),
        ("id,name\ns1,Ada\n,Bob\n", "r.csv:3: the student id is empty"),
        ("id,name\ns1,Ada\n../x,Eve\n", "r.csv:3: student id '../x' is not a safe folder name"),
        ("id,name\ns1,Ada\ns2,\n", "r.csv:3: student s2 has no name"),
        ("id,name\ns1,Ada\ns2,Bob\ns1,Cy\n", "r.csv:4: student id s1 is already on line 2"),
        ('id,name\ns1,"Ada\nLovelace"\ns2,Bob,extra\n', "r.csv:4: expected 2 columns"),
        ("id,name\n", "r.csv: the roster has a header but no students"),
    ],
)
def test_bad_rows_name_their_line(text, message):
    with pytest.raises(BuildError) as caught:
        parse_roster(text, "r.csv")
    assert str(caught.value).startswith(message), str(caught.value)


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(BuildError, match="cannot read the roster"):
        read_roster(tmp_path / "missing.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("id,name\ns1,Ada\ns2,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(BuildError, match=r"latin1.csv:3: the roster is not UTF-8"):
        read_roster(bad)


def test_a_build_reads_an_lms_export_and_its_chosen_columns(tmp_path):
    import json

    from mmexam.build import build_exam
    from mmexam.paths import DEFAULT_BANK

    canvas = tmp_path / "canvas.csv"
    canvas.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        '"Okafor, Ada",101,s2024001,ada@x,S1\n"Silva, Bruno",102,s2024002,bruno@x,S1\n',
        encoding="utf-8",
    )
    build_exam(DEFAULT_BANK, tmp_path / "b1", roster=canvas, formats=("html",), key=False)
    manifest = json.loads((tmp_path / "b1" / "variants.json").read_text())
    assert [(s["id"], s["name"]) for s in manifest["students"]] == [
        ("s2024001", "Okafor, Ada"),
        ("s2024002", "Silva, Bruno"),
    ]
    build_exam(
        DEFAULT_BANK,
        tmp_path / "b2",
        roster=canvas,
        roster_columns=("ID", None),
        formats=("html",),
        key=False,
    )
    assert (tmp_path / "b2" / "students" / "101" / "exam.html").is_file()
