"""Random and garbled input never gets a traceback: only problems, each with a place."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmexam.bank import check_bank
from mmexam.bank.reader import ReadError, read_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOOD = FIXTURES / "banks" / "validate" / "good"
GRADERS = FIXTURES / "graders"
PLACE = re.compile(r"^.+\.ya?ml(:\d+:\d+)?: ")

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("property") / "bank"
    shutil.copytree(GOOD, root)
    return root


YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#%@`?\\ \t\n0123456789.~$") + ["\x00", "é"]),
    max_size=200,
)


@SETTINGS
@given(st.one_of(st.text(max_size=300), YAMLISH))
def test_reader_raises_only_read_errors(text):
    try:
        doc = read_text(text)
    except ReadError as error:
        assert error.problem.line >= 1 and error.problem.col >= 1
        assert " — " in error.problem.message
        return
    for problem in doc.problems:
        assert problem.line >= 1


def assert_report_is_clean_data(report, root: Path) -> None:
    for problem in report.problems:
        line = str(problem)
        assert "Traceback" not in line
        assert "\n" not in problem.message
        assert PLACE.match(line), line
        assert problem.file.startswith(str(root))


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_as_a_bank_file(bank, data):
    (bank / "fuzz.yaml").write_bytes(data)
    report = check_bank(bank, graders=GRADERS, math=False)
    assert_report_is_clean_data(report, bank)


@st.composite
def garbled(draw, source: str) -> str:
    """The source with a few random edits: deletions, insertions, swapped lines."""
    text = source
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["delete", "insert", "swap", "indent"]))
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        if action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif action == "insert":
            text = text[:at] + draw(YAMLISH.filter(bool)) + text[at:]
        else:
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            if action == "swap" and len(lines) > 1:
                j = draw(st.integers(0, len(lines) - 1))
                lines[k], lines[j] = lines[j], lines[k]
            else:
                lines[k] = draw(st.sampled_from(["  ", "\t", ""])) + lines[k].lstrip(" ")
            text = "\n".join(lines)
    return text


@SETTINGS
@given(
    st.sampled_from(["mcq.yaml", "problems.yaml", "exam.yaml"]).flatmap(
        lambda name: st.tuples(st.just(name), garbled((GOOD / name).read_text()))
    )
)
def test_garbled_bank_files_give_problems_not_tracebacks(bank, case):
    name, text = case
    original = (GOOD / name).read_text()
    try:
        (bank / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        report = check_bank(bank, graders=GRADERS, math=name != "exam.yaml")
        assert_report_is_clean_data(report, bank)
        assert report.ok == (report.bank is not None)
    finally:
        (bank / name).write_text(original)
