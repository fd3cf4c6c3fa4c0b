"""Reading submissions: answers.yaml by printed number, folders and zips, every problem kept as data."""

import os
import stat
import zipfile

from mmexam.grade.intake import discover
from mmexam.grade.submissions import (
    MAX_FILE_BYTES,
    Entry,
    decode_text,
    parse_answers,
    read_submission,
)


def test_keys_stay_strings_so_1_10_is_not_1_1():
    answers = parse_answers('1.1: a\n1.10: c\n3.a: 20\n2.1: "free text"\n1.2: [a, c]\n1.3:\n')
    assert answers.problems == []
    got = {k: a.value for k, a in answers.by_number.items()}
    assert got == {
        "1.1": "a",
        "1.10": "c",
        "3.a": "20",
        "2.1": "free text",
        "1.2": ["a", "c"],
        "1.3": None,
    }
    assert answers.by_number["1.10"].line == 2


def test_numbers_are_normalised():
    answers = parse_answers("Q1.3: b\n'3.A': 4\n(2.1): x\n")
    assert set(answers.by_number) == {"1.3", "3.a", "2.1"}


def test_yes_and_no_stay_text():
    answers = parse_answers("2.1: yes\n2.2: no\n1.1: on\n")
    assert [a.value for a in answers.by_number.values()] == ["yes", "no", "on"]


def test_corrupted_yaml_is_one_problem_with_its_line():
    answers = parse_answers("1.1: a\n1.2: [b, c\n1.3: d\n")
    assert answers.by_number == {}
    assert len(answers.problems) == 1
    assert answers.problems[0].where.startswith("answers.yaml:")
    assert "not valid YAML" in answers.problems[0].message


def test_duplicate_and_nested_answers_are_problems():
    answers = parse_answers("1.1: a\n1.2: {x: 1}\n1.1: b\n")
    assert answers.by_number["1.1"].value == "b"
    messages = [p.line() for p in answers.problems]
    assert any("answers.yaml:2: 1.2: expected an answer" in m for m in messages)
    assert any("answers.yaml:3: 1.1 is answered twice (lines 1 and 3)" in m for m in messages)


def test_not_a_mapping():
    answers = parse_answers("- a\n- b\n")
    assert answers.by_number == {}
    assert "mapping" in answers.problems[0].message


def test_yaml_tags_are_not_executed(monkeypatch):
    def refuse(*args):
        raise AssertionError("os.system was called")

    monkeypatch.setattr(os, "system", refuse)
    answers = parse_answers("1.1: !!python/object/apply:os.system ['echo hacked']\n")
    # composing never constructs the tag: the value is kept as plain data
    assert answers.by_number["1.1"].value == ["echo hacked"]


def test_folder_is_read_without_following_links(tmp_path):
    root = tmp_path / "subs"
    student = root / "s1"
    student.mkdir(parents=True)
    (student / "answers.yaml").write_text("1.1: a\n")
    (student / "fusion.py").write_text("x = 1\n")
    secret = tmp_path / "secret.py"
    secret.write_text("REFERENCE = 42\n")
    os.symlink(secret, student / "contrastive.py")
    (student / "big.bin").write_bytes(b"0" * (MAX_FILE_BYTES + 1))
    entries, _ = discover(root)
    assert [(e.id, e.kind) for e in entries] == [("s1", "folder")]
    sub = read_submission(entries[0])
    assert set(sub.files) == {"answers.yaml", "fusion.py"}
    lines = [p.line() for p in sub.problems]
    assert any(line.startswith("contrastive.py: a symbolic link") for line in lines)
    assert any(line.startswith("big.bin: larger than") for line in lines)


def _zip(path, members: dict, links: dict | None = None):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)


def test_zip_slip_members_and_links_are_skipped_and_reported(tmp_path):
    path = tmp_path / "s2.zip"
    _zip(
        path,
        {
            "answers.yaml": "1.1: b\n",
            "../../evil.py": "boom",
            "/etc/x": "x",
            "ok/../../../up.py": "y",
            "fusion.py": "def f(): pass\n",
        },
        links={"mllm.py": "/etc/passwd"},
    )
    sub = read_submission(Entry("s2", path, "zip"))
    assert set(sub.files) == {"answers.yaml", "fusion.py"}
    lines = [p.line() for p in sub.problems]
    assert sum("leaves the submission folder" in line for line in lines) == 3
    assert any("mllm.py" in line and "symbolic link" in line for line in lines)
    assert not (tmp_path.parent / "evil.py").exists()


def test_zip_with_one_top_folder_is_unwrapped(tmp_path):
    path = tmp_path / "s3.zip"
    _zip(path, {"s3/answers.yaml": "1.1: c\n", "s3/fusion.py": "pass\n", "__MACOSX/._x": "junk"})
    sub = read_submission(Entry("s3", path, "zip"))
    assert set(sub.files) == {"answers.yaml", "fusion.py"}
    assert sub.problems == []


def test_corrupt_zip_is_a_problem(tmp_path):
    path = tmp_path / "s4.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    sub = read_submission(Entry("s4", path, "zip"))
    assert sub.files == {}
    assert "not a readable zip" in sub.problems[0].message


def test_zip_bomb_member_is_not_read_whole(tmp_path):
    path = tmp_path / "s5.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("fusion.py", b"#" * (MAX_FILE_BYTES * 4))
    sub = read_submission(Entry("s5", path, "zip"))
    assert "fusion.py" not in sub.files
    assert "larger than" in sub.problems[0].message


def test_non_utf8_is_decoded_with_a_problem():
    from mmexam.grade.submissions import Submission

    sub = Submission("s6", "folder", files={"answers.yaml": "2.1: caf\u00e9\n".encode("latin-1")})
    text = decode_text(sub, "answers.yaml")
    assert text == "2.1: caf\ufffd\n"
    assert sub.problems[0].where == "answers.yaml:1"
    assert "not UTF-8 (byte 0xe9" in sub.problems[0].message


def test_discover_skips_odd_entries(tmp_path):
    (tmp_path / "a1").mkdir()
    (tmp_path / "a1.zip").write_bytes(b"")
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "bad id").mkdir()
    entries, notes = discover(tmp_path)
    assert [(e.id, e.kind) for e in entries] == [("a1", "folder")]
    assert any("notes.txt: not a folder or .zip" in n for n in notes)
    assert any("not a usable student id" in n for n in notes)
    assert any("also has a folder" in n for n in notes)
