"""`mmexam build` through the CLI: outputs, one-line errors, no traceback."""

from __future__ import annotations

import shutil

from small_bank import SMALL_BANK
from typer.testing import CliRunner

from mmexam.cli import app


def test_build_writes_the_exam_and_says_where(tmp_path):
    bank = tmp_path / "bank"
    shutil.copytree(SMALL_BANK, bank)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", str(bank), "--out", str(out), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert f"built 1 version (html, with keys) into {out}/" in result.output
    assert "variants.json" in result.output and "starter" in result.output
    assert (out / "exam.html").is_file() and (out / "key.html").is_file()
    assert not (out / "exam.pdf").exists()


def test_no_key_writes_no_key(tmp_path):
    bank = tmp_path / "bank"
    shutil.copytree(SMALL_BANK, bank)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["build", str(bank), "-o", str(out), "--format", "html", "--no-key", "--variants", "2"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "versions" / "B" / "exam.html").is_file()
    assert not (out / "versions" / "B" / "key.html").exists()


def test_a_bad_roster_is_one_line_naming_its_line(tmp_path):
    bank = tmp_path / "bank"
    shutil.copytree(SMALL_BANK, bank)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada Lovelace\ns2\n")
    result = CliRunner().invoke(
        app, ["build", str(bank), "-o", str(tmp_path / "out"), "--roster", str(roster)]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {roster}:3: expected 2 columns (id, name), got 1 — quote a name that contains a comma"
    ]
    assert "Traceback" not in result.output


def test_conflicting_options_and_bad_formats_are_errors(tmp_path):
    bank = tmp_path / "bank"
    shutil.copytree(SMALL_BANK, bank)
    runner = CliRunner()
    both = runner.invoke(
        app, ["build", str(bank), "--roster", "r.csv", "--variants", "2", "-o", str(tmp_path / "o")]
    )
    assert both.exit_code == 1 and "error: give either --roster or --variants" in both.output
    fmt = runner.invoke(
        app, ["build", str(bank), "--format", "pdf,epub", "-o", str(tmp_path / "o")]
    )
    assert fmt.exit_code == 1 and "error: unknown format 'epub'" in fmt.output


def test_a_missing_bank_is_an_error_not_a_traceback(tmp_path):
    result = CliRunner().invoke(
        app, ["build", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ") and "Traceback" not in result.output


def test_an_output_folder_that_is_a_file_is_an_error(tmp_path):
    bank = tmp_path / "bank"
    shutil.copytree(SMALL_BANK, bank)
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["build", str(bank), "-o", str(blocker), "--format", "html"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: {blocker}/") and "cannot write it" in result.output
    assert "Traceback" not in result.output
