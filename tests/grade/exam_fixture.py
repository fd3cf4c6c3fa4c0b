"""A small exam for the grading tests: the fixture bank, papers drawn by the real build code.

`make_exam(tmp_path, ids)` loads tests/fixtures/grade/bank, draws one paper per
id with `mmexam.build.variants.draw_paper` (exactly what `mmexam build`
records), writes variants.json and returns what the tests need to write
answers by each student's printed numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mmexam.bank import load_bank
from mmexam.bank.params import instantiate
from mmexam.build.variants import draw_paper
from mmexam.exam import Manifest, content_hash

BANK = Path(__file__).resolve().parents[1] / "fixtures" / "grade" / "bank"
GRADERS = Path(__file__).resolve().parents[2] / "graders"
SEED = 7


@dataclass
class Exam:
    bank: object
    manifest: Manifest
    variants: Path

    def student(self, sid):
        return self.manifest.student(sid)

    def body(self, item):
        question = instantiate(self.bank.questions[item.question], dict(item.params))
        return question.parts[item.subpart] if item.subpart is not None else question

    def correct(self, item):
        """The answer a perfect student writes for `item`, by the letters of their paper."""
        body = self.body(item)
        if item.kind == "mcq":
            return "abcdefghij"[item.options.index(ord(body.answer) - 97)]
        if item.kind == "multi_select":
            return [("abcdefghij"[item.options.index(ord(a) - 97)]) for a in body.answers]
        if item.kind == "numeric":
            return f"{float(body.answer):g}"
        if item.kind == "short_answer":
            return body.reference
        if item.kind == "open":
            return "A masked-modality training scheme, justified by redundancy."
        return None

    def wrong(self, item):
        """A wrong answer of the right type."""
        body = self.body(item)
        if item.kind == "mcq":
            return "abcdefghij"[item.options.index((ord(body.answer) - 97 + 1) % len(body.options))]
        if item.kind == "multi_select":
            wrong = [j for j in range(len(body.options)) if "abcdefghij"[j] not in body.answers]
            return ["abcdefghij"[item.options.index(j)] for j in wrong]
        if item.kind == "numeric":
            return f"{float(body.answer) + 100:g}"
        return "no idea"


def make_exam(folder: Path, ids: list[str], bank_path: Path = BANK) -> Exam:
    bank = load_bank(bank_path)
    students = [draw_paper(bank, SEED, sid, name=f"Student {sid}").manifest_entry() for sid in ids]
    used = sorted({i.question for s in students for i in s.items})
    manifest = Manifest(
        seed=SEED,
        bank=str(bank_path),
        question_hashes={q: content_hash(bank.questions[q]) for q in used},
        students=students,
    )
    variants = folder / "variants.json"
    variants.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True))
    return Exam(bank, manifest, variants)


def reference(task: str) -> str:
    return (GRADERS / task / "reference.py").read_text(encoding="utf-8")


def write_answers(folder: Path, answers: dict) -> None:
    """answers.yaml with every key quoted, as a student's editor would write it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for number, value in answers.items():
        lines.append(f"'{number}': {json.dumps(value)}")
    (folder / "answers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
