"""Intake without grading: LMS layouts, renamed files, ids matched, and every decision kept."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mmexam.grade.intake import Known, discover, match_entries
from mmexam.grade.submissions import Entry, Submission, answers_file, find_file, read_submission
from mmexam.roster import RosterEntry

ROSTER = [
    RosterEntry(id="s2024001", name="Okafor, Ada", line=2, lms_id="101"),
    RosterEntry(id="s2024004", name="Dana Kowalski", line=3),
    RosterEntry(id="s2024010", name="Julia Santos", line=4),
]


def known() -> Known:
    return Known.of([e.id for e in ROSTER], ROSTER)


def sub_with(*names: str) -> Submission:
    return Submission("s", "folder", files={n: b"x" for n in names})


@pytest.mark.parametrize(
    ("names", "chosen", "why"),
    [
        (["fusion.py"], "fusion.py", None),
        (["fusion (1).py"], "fusion (1).py", "the name an LMS gives a re-upload"),
        (["fusion-2.py"], "fusion-2.py", "the name an LMS gives a re-upload"),
        (["Fusion.py"], "Fusion.py", "only the case differs"),
        (["fusion-1.py", "fusion-2.py"], "fusion-2.py", "the latest of fusion-1.py, fusion-2.py"),
        (["fusion.py", "fusion (1).py"], "fusion.py", "also submitted fusion (1).py"),
        (["fusion_v2.py"], None, None),
        (["fusionx.py", "fusion.txt"], None, None),
    ],
)
def test_files_as_lms_rename_them(names, chosen, why):
    sub = sub_with(*names)
    assert find_file(sub, "fusion.py") == chosen
    lines = [n.line() for n in sub.intake]
    if why is None:
        assert lines == []
    else:
        assert len(lines) == 1 and why in lines[0] and lines[0].startswith(chosen)


def test_answers_file_accepts_yml_and_renamed_copies():
    assert answers_file(sub_with("answers.yml")) == "answers.yml"
    sub = sub_with("Answers (2).yaml")
    assert answers_file(sub) == "Answers (2).yaml"
    assert sub.intake[0].message.startswith("accepted as answers.yaml")


def test_ids_match_in_another_case_by_lms_id_and_by_name():
    entries = [
        Entry("S2024004", Path("S2024004"), "folder"),
        Entry(
            "101",
            Path("x"),
            "members",
            lms="canvas",
            lms_id="101",
            name_hint="okaforada",
            label="okaforada_101",
        ),
        Entry(
            "3399",
            Path("x"),
            "folder",
            lms="moodle",
            lms_id="3399",
            name_hint="Julia Santos",
            label="Julia Santos_3399_assignsubmission_file_",
        ),
    ]
    matched, notes = match_entries(entries, known())
    by_id = {e.id: e for e in matched}
    assert sorted(by_id) == ["s2024001", "s2024004", "s2024010"]
    assert by_id["s2024004"].notes[0].message == "matched to s2024004 (the id in another case)"
    assert "by the Canvas id 101 in the roster" in by_id["s2024001"].notes[0].message
    assert by_id["s2024010"].notes[0].message == "matched to s2024010 by the name 'Julia Santos'"
    assert notes == []


def test_a_near_miss_keeps_its_id_with_a_did_you_mean():
    path = Path("s202401")
    (entry,), _ = match_entries([Entry("s202401", path, "folder")], known())
    assert entry.id == "s202401" and entry.suggestion in ("s2024001", "s2024010")
    (far,), _ = match_entries([Entry("zzz", path, "folder")], known())
    assert far.suggestion is None


def test_two_submissions_for_one_student_keep_the_exact_one(tmp_path):
    entries = [
        Entry("S2024004", tmp_path / "S2024004", "folder"),
        Entry("s2024004", tmp_path / "s2024004", "folder"),
    ]
    matched, notes = match_entries(entries, known())
    assert [e.path.name for e in matched] == ["s2024004"]
    assert notes == [
        "S2024004: also matches s2024004 (as s2024004); graded s2024004 — remove one of the two"
    ]


def test_without_anyone_known_ids_stay_as_submitted(tmp_path):
    entries = [Entry("u2", tmp_path, "folder"), Entry("U1", tmp_path, "folder")]
    matched, _ = match_entries(entries, Known([]))
    assert [e.id for e in matched] == ["U1", "u2"] and all(not e.notes for e in matched)


def test_moodle_flat_files_and_canvas_files_in_one_folder(tmp_path):
    root = tmp_path / "download"
    root.mkdir()
    (root / "Ada Okafor_3301_assignsubmission_file_answers.yaml").write_text("1.1: a\n")
    (root / "Ada Okafor_3301_assignsubmission_file_fusion.py").write_text("x = 1\n")
    (root / "santosjulia_LATE_110_9_mllm-1.py").write_text("y = 2\n")
    (root / "s2024004").mkdir()
    (root / "s2024004" / "answers.yaml").write_text("1.1: b\n")
    entries, notes = discover(root)
    by_id = {e.id: e for e in entries}
    assert sorted(by_id) == ["110", "3301", "s2024004"] and notes == []
    moodle = read_submission(by_id["3301"])
    assert set(moodle.files) == {"answers.yaml", "fusion.py"}
    canvas = read_submission(by_id["110"])
    assert set(canvas.files) == {"mllm-1.py"}
    assert [n.kind for n in canvas.intake] == ["layout", "late"]
    assert by_id["110"].name_hint == "santosjulia" and by_id["3301"].name_hint == "Ada Okafor"


def test_gradescope_export_with_its_metadata(tmp_path):
    export = tmp_path / "export.zip"
    metadata = """submission_111:
  :submitters:
  - :name: Ada Okafor
    :sid: S2024001
    :email: ada@uni.example
  :created_at: 2026-12-01 10:00:00
submission_222:
  :submitters:
  - :name: Dana Kowalski
    :sid: s2024004
"""
    with zipfile.ZipFile(export, "w") as z:
        z.writestr("assignment_9_export/submission_metadata.yml", metadata)
        z.writestr("assignment_9_export/submission_111/answers.yaml", "1.1: a\n")
        z.writestr("assignment_9_export/submission_111/fusion.py", "x = 1\n")
        z.writestr("assignment_9_export/submission_222/answers.yaml", "1.1: c\n")
    entries, notes = discover(export)
    matched, _ = match_entries(entries, known())
    by_id = {e.id: e for e in matched}
    assert sorted(by_id) == ["s2024001", "s2024004"] and notes == []
    ada = read_submission(by_id["s2024001"])
    assert set(ada.files) == {"answers.yaml", "fusion.py"}
    assert ada.files["fusion.py"] == b"x = 1\n"
    assert any("the id in another case" in n.message for n in ada.intake)


def test_a_bulk_zip_is_never_extracted_and_hostile_members_are_skipped(tmp_path):
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as z:
        z.writestr("okaforada_101_1_answers.yaml", "1.1: a\n")
        z.writestr("../evil_101_2_x.py", "boom")
        z.writestr("okaforada_101_3_big.py", "0" * (2 << 20))
    entries, _ = discover(download)
    (entry,) = entries
    sub = read_submission(entry)
    assert set(sub.files) == {"answers.yaml"}
    assert any("larger than" in p.message for p in sub.problems)
    assert not (tmp_path.parent / "evil_101_2_x.py").exists()
