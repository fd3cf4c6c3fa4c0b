"""grades.csv out to each LMS's gradebook import, from a grades folder written by hand."""

from __future__ import annotations

import csv
import io
import shutil

import pytest
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.grade.exports import export_grades
from mmexam.grade.results import PartInfo, RunInfo, dump_json
from mmexam.roster import parse_roster_file

BLACKBOARD = (
    '"Last Name","First Name","Username","Student ID","Last Access","Availability"\n'
    '"Okafor","Ada","aokafor","s1","2026-01-01","Yes"\n'
    '"Silva","Bruno","bsilva","s2","2026-01-01","Yes"\n'
    '"=cmd","Eve","eve","s3","2026-01-01","Yes"\n'
)
GRADES = """id,name,variant,mcq,total (of 40),bonus,pending,status
s1,Ada Okafor,A1,20,31.5,2,0,ok
s2,Bruno Silva,B2,10,12,0,1,problems
s3,'=cmd Eve,,,,,,no submission
"""


@pytest.fixture
def grades(tmp_path):
    roster = parse_roster_file(BLACKBOARD, "gc.csv")
    info = RunInfo(
        course="C",
        title="Midterm",
        total_points=40,
        parts=[PartInfo(id="mcq", title="MCQ", points=40)],
        manifest="0" * 64,
        students=["s1", "s2"],
        absent=["s3"],
        roster=roster,
    )
    folder = tmp_path / "grades"
    folder.mkdir()
    (folder / "run.json").write_text(dump_json(info))
    (folder / "grades.csv").write_text(GRADES)
    return folder


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_blackboard_rows_carry_the_usernames_and_the_points(grades):
    result, text = export_grades(grades, "blackboard")
    table = rows(text)
    assert table[0] == [
        "Last Name",
        "First Name",
        "Username",
        "Student ID",
        "Midterm [Total Pts: 40 Score]",
    ]
    assert table[1:] == [
        ["Okafor", "Ada", "aokafor", "s1", "33.5"],  # total + bonus
        ["Silva", "Bruno", "bsilva", "s2", "12"],
        ["'=cmd", "Eve", "eve", "s3", ""],  # a name a spreadsheet would run stays text
    ]
    assert result.notes == [
        "1 student(s) still have answers pending review (s2); their score counts graded points only"
    ]


def test_gradescope_and_moodle_and_canvas_without_their_rosters(grades):
    _, text = export_grades(grades, "gradescope")
    assert rows(text)[1] == ["Ada", "Okafor", "s1", "", "33.5", "40", "Graded"]
    assert rows(text)[3][-1] == "Missing"
    result, text = export_grades(grades, "moodle", assignment="Exam 1")
    assert rows(text)[0] == ["ID number", "Full name", "Email address", "Exam 1"]
    assert any("Moodle gradebook import" in n for n in result.notes)
    result, text = export_grades(grades, "canvas")
    assert rows(text)[2][:3] == ["Ada Okafor", "", "s1"]
    assert any("matches them by SIS User ID" in n for n in result.notes)


def test_the_cli_writes_each_target_and_refuses_bad_input(grades, tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["grade", "export", "--to", "blackboard", str(grades)])
    assert done.exit_code == 0, done.output
    assert (grades / "blackboard.csv").read_text().startswith('"Last Name",') is False
    assert (grades / "blackboard.csv").read_text().startswith("Last Name,First Name")
    bad = runner.invoke(app, ["grade", "export", "--to", "d2l", str(grades)])
    assert bad.exit_code == 2 and "choose one of canvas, moodle" in bad.output
    missing = runner.invoke(app, ["grade", "export", "--to", "canvas", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no run.json and grades.csv of a whole run" in missing.output
    broken = tmp_path / "broken"
    shutil.copytree(grades, broken)
    (broken / "grades.csv").write_text(GRADES.replace("31.5", "lots"))
    done = runner.invoke(app, ["grade", "export", "--to", "canvas", str(broken)])
    assert done.exit_code == 1 and "grades.csv:2: 'lots' is not a number" in done.output
