"""Every CSV mmexam writes guards formula-looking cells (OWASP), and reads them back whole."""

from __future__ import annotations

import csv
import io

import pytest

from mmexam.csvcells import csv_text, read_cell, safe_cell


@pytest.mark.parametrize(
    "text", ["=1+1", "+A1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("x")']
)
def test_formula_looking_text_is_quoted_and_comes_back(text):
    assert safe_cell(text) == "'" + text
    assert read_cell(safe_cell(text)) == text


@pytest.mark.parametrize("value", ["Ada", "3.5", "", "a=b", "'quoted'"])
def test_plain_text_is_left_alone(value):
    assert safe_cell(value) == value and read_cell(value) == value


def test_text_that_already_looks_guarded_survives_the_round_trip():
    assert safe_cell("'=x") == "''=x" and read_cell("''=x") == "'=x"


def test_numbers_stay_numbers_even_negative():
    assert [safe_cell(v) for v in (-1, 2.5, 0, None)] == ["-1", "2.5", "0", ""]


def test_csv_text_quotes_what_could_spill_and_guards_every_cell():
    text = csv_text([["id", "answer"], ["s1", '=cmd|" /C calc"!A0'], ["s2", "line\nbreak, comma"]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["id", "answer"], ["s1", '\'=cmd|" /C calc"!A0'], ["s2", "line\nbreak, comma"]]
