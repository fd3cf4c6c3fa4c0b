"""The docs page on authoring the bank (docs/bank.md): its examples are valid questions, its
blueprint parses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mmexam.bank import check_bank
from mmexam.bank.models import Blueprint
from mmexam.bank.reader import read_text

REPO = Path(__file__).resolve().parent.parent.parent


PAGE = REPO / "docs" / "bank.md"


def section() -> str:
    """The whole page: the bank format is all it describes."""
    return PAGE.read_text(encoding="utf-8")


def test_every_kind_has_a_valid_example_in_the_docs(tmp_path):
    blocks = re.findall(r"```yaml\n(questions:\n.*?)```", section(), re.DOTALL)
    kinds = {read_text(b).data["questions"][0]["kind"] for b in blocks}
    assert kinds == {"mcq", "multi_select", "numeric", "short_answer", "open", "problem"}
    assert any("kind: code" in b for b in blocks)  # code sits inside the problem
    bank = tmp_path / "bank"
    shutil.copytree(REPO / "question_bank", bank)
    (bank / "docs.yaml").write_text(
        "questions:\n" + "".join(b.removeprefix("questions:\n") for b in blocks)
    )
    report = check_bank(bank)
    assert report.problems == [], "\n".join(str(p) for p in report.problems)
    assert {q.id for q in report.bank.questions.values() if q.id.startswith("docs-")} == {
        read_text(b).data["questions"][0]["id"] for b in blocks
    }


def test_the_docs_blueprint_example_is_a_blueprint():
    block = re.search(r"```yaml\n(course:.*?)```", section(), re.DOTALL)
    assert block is not None
    Blueprint.model_validate(read_text(block.group(1)).data)


@pytest.mark.parametrize(
    "command",
    [
        "mmexam validate",
        "mmexam schema",
        "mmexam bank stats",
        "yaml-language-server: $schema=",
        '"yaml.schemas"',
    ],
)
def test_the_docs_page_documents(command):
    assert command in section()
