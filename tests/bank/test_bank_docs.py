"""The README's bank format section: its examples are valid questions, its blueprint parses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mmexam.bank import check_bank
from mmexam.bank.models import Blueprint
from mmexam.bank.reader import read_text

REPO = Path(__file__).resolve().parent.parent.parent


def section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Question bank format")
    following = readme.find("\n## ", start + 1)
    return readme[start : following if following >= 0 else len(readme)]


def test_every_kind_has_a_valid_example_in_the_readme(tmp_path):
    blocks = re.findall(r"```yaml\n(questions:\n.*?)```", section(), re.DOTALL)
    kinds = {read_text(b).data["questions"][0]["kind"] for b in blocks}
    assert kinds == {"mcq", "multi_select", "numeric", "short_answer", "open", "problem"}
    assert any("kind: code" in b for b in blocks)  # code sits inside the problem
    bank = tmp_path / "bank"
    shutil.copytree(REPO / "question_bank", bank)
    (bank / "readme.yaml").write_text(
        "questions:\n" + "".join(b.removeprefix("questions:\n") for b in blocks)
    )
    report = check_bank(bank)
    assert report.problems == [], "\n".join(str(p) for p in report.problems)
    assert {q.id for q in report.bank.questions.values() if q.id.startswith("readme-")} == {
        read_text(b).data["questions"][0]["id"] for b in blocks
    }


def test_the_readme_blueprint_example_is_a_blueprint():
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
def test_the_readme_documents(command):
    assert command in section()
