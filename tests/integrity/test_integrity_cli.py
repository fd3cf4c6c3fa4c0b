"""`mmexam integrity` end to end on a graded synthetic class."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.cli import app


def invoke(*args: str):
    return CliRunner().invoke(app, ["integrity", *args])


@pytest.mark.slow
def test_the_report_lists_the_copied_pairs_first(synthetic_class, tmp_path):
    work, injected = synthetic_class
    out = tmp_path / "report"
    result = invoke(
        str(work / "grades"),
        "--variants",
        str(work / "build" / "variants.json"),
        "--submissions",
        str(work / "submissions"),
        "--text",
        "lexical",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "never a verdict" in result.output
    report = json.loads((out / "integrity.json").read_text())
    assert report["students"] == 40 and report["pairs_tested"] == 40 * 39 // 2
    listed = [tuple(sorted((p["a"], p["b"]))) for p in report["pairs"]]
    strong = [k for k, kind in injected.items() if kind in ("full", "code")]
    assert set(strong) <= set(listed[: len(strong) + 1]), (listed, injected)
    for pair in report["pairs"]:
        assert pair["reasons"], pair
        assert pair["q"] < report["alpha"]
        assert pair["p"] <= pair["q"] + 1e-300 or pair["q"] == 1.0
        assert pair["q"] <= pair["p_adjusted"] + 1e-12
    html = (out / "integrity.html").read_text()
    assert "Similarity is a reason to look, never a verdict." in html
    full = next(k for k, kind in injected.items() if kind == "full")
    assert f"{full[0]}" in html and "Matching code" in html


@pytest.mark.slow
def test_a_seating_chart_marks_neighbours(synthetic_class, tmp_path):
    work, injected = synthetic_class
    full = next(k for k, kind in injected.items() if kind == "full")
    seats = tmp_path / "seats.csv"
    seats.write_text(f"id,row,seat\n{full[0]},1,1\n{full[1]},1,2\n")
    result = invoke(
        str(work / "grades"),
        "--variants",
        str(work / "build" / "variants.json"),
        "--submissions",
        str(work / "submissions"),
        "--seats",
        str(seats),
        "--text",
        "lexical",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "integrity.json").read_text())
    assert report["seats"] is True
    pair = next(p for p in report["pairs"] if {p["a"], p["b"]} == set(full))
    assert pair["neighbours"] is True


@pytest.mark.slow
def test_without_submissions_the_code_is_not_compared_and_the_report_says_so(
    synthetic_class, tmp_path
):
    work, _ = synthetic_class
    result = invoke(
        str(work / "grades"),
        "--variants",
        str(work / "build" / "variants.json"),
        "--text",
        "lexical",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "integrity.json").read_text())
    assert "no --submissions folder: code was not compared" in report["notes"]
    assert all(pair["code"] is None for pair in report["pairs"])


def test_errors_are_one_line_without_a_traceback(tmp_path: Path):
    result = invoke(str(tmp_path), "--variants", str(tmp_path / "variants.json"))
    assert result.exit_code == 1
    assert "no graded/ folder — run `mmexam grade" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "graded").mkdir()
    (tmp_path / "graded" / "s1.json").write_text("{}")
    result = invoke(str(tmp_path))
    assert result.exit_code == 1 and "not a graded result" in result.output
