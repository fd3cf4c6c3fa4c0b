"""Whole builds: the PDFs read back, the key, byte-identical rebuilds, rosters, starter code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from mmexam import markup
from mmexam.bank import load_bank
from mmexam.build import build_exam
from mmexam.errors import BuildError
from mmexam.exam import Manifest
from mmexam.fmt import fmt_number
from mmexam.starter import generate_starter

# The small bank's numeric answers, worked out by hand from its templates.
NUMERIC_ANSWERS = {
    ("num-tensor-fusion-size", None): lambda d_a, d_b: (d_a + 1) * (d_b + 1),
    ("fusion-tensor-problem", 0): lambda d: (d + 1) ** 2,
}
RAW = ("$", "\\frac", "\\mathbb", "**", "\\(", "{{")


def pdf_text(path: Path) -> str:
    """All text of a PDF, hyphenation at line ends undone and whitespace collapsed."""
    text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    text = re.sub(r"-\n(?=[a-z])", "", text)
    text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))  # smart quotes
    return re.sub(r"\s+", " ", text)


def phrase(text: str) -> str:
    """The longest run of plain words in a question's text (no math, no markup)."""
    plain = markup.to_plain(re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " | ", text, flags=re.DOTALL))
    runs = re.findall(r"[A-Za-z][A-Za-z ,']{6,}[A-Za-z]", plain)
    return re.sub(r"\s+", " ", max(runs, key=len).strip())


def manifest_of(out: Path) -> Manifest:
    return Manifest.model_validate_json((out / "variants.json").read_text())


def test_the_default_build_writes_every_output(small_build):
    _, result = small_build
    out = result.out
    for name in ("exam.pdf", "exam.html", "key.pdf", "key.html", "variants.json"):
        assert (out / name).is_file(), name
    assert (out / "starter" / "fusion.py").read_text() == generate_starter(
        Path(__file__).resolve().parents[2] / "graders" / "fusion" / "reference.py"
    )
    readme = (out / "starter" / "README.md").read_text()
    assert "mmexam practice check fusion fusion.py" in readme and "`fusion.py`" in readme
    assert result.starter_tasks == ["fusion"]


def test_the_exam_pdf_has_every_question_and_the_points(small_build):
    bank_path, result = small_build
    bank = load_bank(bank_path)
    text = pdf_text(result.out / "exam.pdf")
    manifest = manifest_of(result.out)
    for qid in {item.question for item in manifest.students[0].items}:
        question = bank.questions[qid]
        assert phrase(question.text) in text, qid
        for part in getattr(question, "parts", []):
            assert phrase(part.text) in text, (qid, part.text)
    for part in bank.blueprint.parts:
        assert f"Part {bank.blueprint.parts.index(part) + 1} · {part.title}" in text
        assert f"{fmt_number(part.points)} points" in text
    assert "Total 29 + 5" in text and "BONUS" in text
    assert re.search(r"Page 1 of \d+", text) and "Variant A" in text
    assert "Name:" in text and "Student ID:" in text
    assert "def tensor_fusion(x_a: torch.Tensor, x_b: torch.Tensor)" in text
    for raw in RAW:
        assert raw not in text, raw


def test_the_key_has_every_answer(small_build):
    bank_path, result = small_build
    bank = load_bank(bank_path)
    text = pdf_text(result.out / "key.pdf")
    html = (result.out / "key.html").read_text()
    student = manifest_of(result.out).students[0]
    for item in student.items:
        question = bank.questions[item.question]
        body = question.parts[item.subpart] if item.subpart is not None else question
        if item.kind == "mcq":
            letter = "abcdefghijklmnopqrstuvwxyz"[item.options.index(ord(body.answer) - ord("a"))]
            assert f"Answer: ({letter})" in text, item.number
        elif item.kind == "multi_select":
            printed = sorted(
                "abcdefghijklmnopqrstuvwxyz"[item.options.index(ord(a) - ord("a"))]
                for a in body.answers
            )
            assert f"Answer: {', '.join(printed)}" in text, item.number
        elif item.kind == "numeric":
            expected = NUMERIC_ANSWERS[(item.question, item.subpart)](**item.params)
            assert f"Answer: {fmt_number(expected)}" in text, item.number
        elif item.kind == "short_answer":
            assert phrase(body.reference) in text
        elif item.kind == "code":
            assert "Autograded: task fusion, function tensor_fusion" in text
        if getattr(body, "rubric", None):
            for rubric in body.rubric:
                assert phrase(rubric.description) in text
                assert phrase(rubric.description) in html
    assert "Parameter values drawn for this variant" in text
    for raw in RAW:
        assert raw not in text, raw


def test_the_html_is_self_contained(small_build):
    _, result = small_build
    for name in ("exam.html", "key.html"):
        html = (result.out / name).read_text()
        assert "<script" not in html.lower()
        assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
        assert "<math" in html and "@media print" in html
        body = html.split("</style>", 1)[1]
        for raw in RAW:
            assert raw not in body, (name, raw)


def test_two_builds_with_the_same_seed_are_byte_identical(small_build, tmp_path):
    bank_path, first = small_build
    second = build_exam(bank_path, tmp_path / "again", seed=1)
    names = sorted(p.relative_to(first.out) for p in first.files)
    assert names == sorted(p.relative_to(second.out) for p in second.files)
    for name in names:
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes(), name


def test_a_different_seed_changes_the_order(small_build, tmp_path):
    bank_path, first = small_build
    other = build_exam(bank_path, tmp_path / "other", seed=2, formats=["html"], key=False)
    one, two = manifest_of(first.out), manifest_of(other.out)
    assert one.seed == 1 and two.seed == 2
    assert [(i.question, i.options) for i in one.students[0].items] != [
        (i.question, i.options) for i in two.students[0].items
    ]


def test_variants_json_records_what_each_paper_showed(small_build):
    bank_path, result = small_build
    data = json.loads((result.out / "variants.json").read_text())
    assert list(data) == sorted(data)
    manifest = Manifest.model_validate(data)
    bank = load_bank(bank_path)
    used = {item.question for item in manifest.students[0].items}
    assert set(manifest.question_hashes) == used
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in manifest.question_hashes.values())
    numeric = next(i for i in manifest.students[0].items if i.question == "fusion-tensor-problem")
    assert numeric.params["d"] in (8, 16)
    assert sum(i.points for i in manifest.students[0].items if not i.bonus) == 29
    assert sum(i.points for i in manifest.students[0].items if i.bonus) == 5
    assert bank.blueprint.title == "Practice Midterm"


def test_anonymous_versions(small_build, tmp_path):
    bank_path, _ = small_build
    result = build_exam(bank_path, tmp_path / "v", seed=1, variants=3, formats=["html"])
    manifest = manifest_of(result.out)
    assert [(s.id, s.variant, s.name) for s in manifest.students] == [
        ("A", "A", None),
        ("B", "B", None),
        ("C", "C", None),
    ]
    for code in "ABC":
        assert (result.out / "versions" / code / "exam.html").is_file()
        assert (result.out / "versions" / code / "key.html").is_file()
    assert not (result.out / "exam.html").exists()


@pytest.mark.slow
def test_a_roster_build_gives_one_paper_per_student_in_parallel(small_build, tmp_path):
    bank_path, _ = small_build
    roster = tmp_path / "roster.csv"
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Fei-Fei Li", "Yann LeCun", "Kai Li"]
    roster.write_text("id,name\n" + "".join(f"s{n},{name}\n" for n, name in enumerate(names)))
    result = build_exam(bank_path, tmp_path / "r", seed=4, roster=roster, formats=["pdf"], jobs=2)
    assert result.jobs == 2
    manifest = manifest_of(result.out)
    assert [s.name for s in manifest.students] == names
    assert len({s.variant for s in manifest.students}) == len(names)
    for n, student in enumerate(manifest.students):
        folder = result.out / "students" / f"s{n}"
        exam = pdf_text(folder / "exam.pdf")
        assert names[n] in exam and f"s{n}" in exam and f"Variant {student.variant}" in exam
        assert "Answer key" in pdf_text(folder / "key.pdf")
    # The papers made by the workers are the ones a single process makes.
    alone = build_exam(bank_path, tmp_path / "r1", seed=4, roster=roster, formats=["pdf"], jobs=1)
    assert alone.jobs == 1
    for n in range(len(names)):
        for doc in ("exam.pdf", "key.pdf"):
            a = (result.out / "students" / f"s{n}" / doc).read_bytes()
            assert a == (alone.out / "students" / f"s{n}" / doc).read_bytes()


def test_bad_inputs_are_build_errors(small_build, tmp_path):
    bank_path, _ = small_build
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada\ns1,Bob\n")
    with pytest.raises(BuildError, match=r"roster.csv:3: student id s1 is already on line 2"):
        build_exam(bank_path, tmp_path / "x", roster=roster)
    with pytest.raises(BuildError, match="either --roster or --variants"):
        build_exam(bank_path, tmp_path / "x", roster=roster, variants=2)
    with pytest.raises(BuildError, match="unknown format 'docx'"):
        build_exam(bank_path, tmp_path / "x", formats="pdf,docx")
    assert not (tmp_path / "x").exists()


def test_a_build_does_not_import_torch(small_build, tmp_path):
    bank_path, _ = small_build
    script = (
        "import sys; from pathlib import Path; from mmexam.build import build_exam; "
        "build_exam(Path(sys.argv[1]), Path(sys.argv[2]), formats=['pdf']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(bank_path), str(tmp_path / "t")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shutil.rmtree(tmp_path / "t")
