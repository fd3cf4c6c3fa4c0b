"""Grading finds the bank variants.json records, and names it when it no longer matches."""

from __future__ import annotations

import shutil

import pytest
import yaml
from exam_fixture import BANK, make_exam

from mmexam.bank import load_bank
from mmexam.errors import GradeError
from mmexam.grade.inputs import ExamInputs, bank_folder, load_manifest
from mmexam.paths import DEFAULT_BANK


def test_the_recorded_bank_is_the_default(tmp_path):
    exam = make_exam(tmp_path, ["s1"])
    manifest, _ = load_manifest(exam.variants)
    assert bank_folder(manifest, None, DEFAULT_BANK) == (BANK, None)
    assert bank_folder(manifest, tmp_path, DEFAULT_BANK) == (tmp_path, None)
    gone = manifest.model_copy(update={"bank": str(tmp_path / "moved")})
    used, note = bank_folder(gone, None, DEFAULT_BANK)
    assert used == DEFAULT_BANK and "moved, which is not there" in note


def test_a_changed_bank_is_named_in_the_error_and_the_warnings(tmp_path):
    copy = tmp_path / "bank"
    shutil.copytree(BANK, copy)
    exam = make_exam(tmp_path, ["s1"], bank_path=copy)
    manifest, sha = load_manifest(exam.variants)
    path = copy / "questions.yaml"
    data = yaml.safe_load(path.read_text())
    mcq = next(q for q in data["questions"] if q["kind"] == "mcq")
    mcq["text"] += " (reworded)"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    inputs = ExamInputs(load_bank(copy), manifest, sha, bank_path=copy)
    assert any(f"in {copy} changed since the exam was built" in w for w in inputs.warnings)
    assert any(i.question == mcq["id"] for i in manifest.students[0].items)  # pick 3 of 3
    mcq["options"].append("A fifth, added after the exam")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(GradeError) as caught:
        ExamInputs(load_bank(copy), manifest, sha, bank_path=copy)
    message = str(caught.value)
    assert message.startswith(f"variants.json does not match {copy}:")
    assert "has a different number of options now" in message
    assert f"({copy}, recorded in variants.json" in message
