"""`mmexam preview ID`: one question, exam and key, HTML and PDF."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader
from typer.testing import CliRunner

from mmexam.cli import app


def test_preview_renders_one_question_with_its_key_for_a_seed(tmp_path):
    out = tmp_path / "pv"
    result = CliRunner().invoke(
        app, ["preview", "fusion-gated-contrastive", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "fusion-gated-contrastive (seed 3; r = " in result.output
    assert sorted(p.name for p in out.iterdir()) == ["exam.html", "exam.pdf", "key.html", "key.pdf"]
    exam, key = (out / "exam.html").read_text(), (out / "key.html").read_text()
    assert "gated fusion" in exam and "Preview: fusion-gated-contrastive" in exam
    assert "gated_fusion" in key and len(key) > len(exam)  # the key adds solutions
    text = "".join(page.extract_text() for page in PdfReader(out / "key.pdf").pages)
    assert "InfoNCE" in text
    other = tmp_path / "pv2"
    again = CliRunner().invoke(
        app, ["preview", "fusion-gated-contrastive", "--seed", "4", "--out", str(other)]
    )
    assert again.exit_code == 0, again.output


def test_preview_of_an_unknown_id_says_which_ids_are_close(tmp_path):
    result = CliRunner().invoke(app, ["preview", "mcq-unclip-prio", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "no question 'mcq-unclip-prio'" in result.output
    assert "did you mean 'mcq-unclip-prior'" in result.output
    assert not Path(tmp_path / "x").exists()
