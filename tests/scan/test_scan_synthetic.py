"""Synthetic scans of a built class read back: every decision checked against the truth
the generator drew (tests/scan/synth.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import yaml
from synth import STYLES, Degrade, degrade, mark_page, render, save

from mmexam.paperlayout import ExamLayout
from mmexam.scan import scan_papers
from mmexam.scan.model import PaperScan

RENDER_DPI = 300
LETTERS = "abcdefgh"

# Every condition the scans must survive, each used on some page.
CONDITIONS = [
    Degrade(dpi=300, angle=4.0),
    Degrade(dpi=150, angle=-4.0, blur=1.0),
    Degrade(dpi=200, scale=0.97, offset=(3.5, -3.0), noise=9.0),
    Degrade(dpi=200, jpeg=40, angle=1.5),
    Degrade(dpi=300, upside_down=True, angle=-2.0),
    Degrade(dpi=150, scale=1.03, offset=(-3.0, 2.5), jpeg=40, noise=5.0),
    Degrade(dpi=200, blur=0.6, upside_down=True, jpeg=75),
]


def layout_of(build: Path) -> ExamLayout:
    return ExamLayout.model_validate_json((build / "layout.json").read_text())


def draw_class(build: Path, folder: Path, seed: int, plans=None):
    """Every page of every paper, marked and degraded; (files, truths by (paper, page))."""
    rng = random.Random(seed)
    layout = layout_of(build)
    files, truths = [], {}
    n = 0
    for paper in layout.papers:
        sub = "versions" if paper.anonymous else "students"
        pdf = pdfium.PdfDocument(str(build / sub / paper.id / "exam.pdf"))
        for page in paper.pages:
            clean = render(pdf, page.page - 1, RENDER_DPI)
            plan = (plans or {}).get((paper.id, page.page))
            marked = mark_page(clean, page, RENDER_DPI / 72, rng, plan)
            how = CONDITIONS[n % len(CONDITIONS)]
            n += 1
            image = degrade(marked.image, how, RENDER_DPI, rng)
            files.append(save(image, folder / f"{paper.id}-p{page.page}", how))
            truths[(paper.id, page.page)] = marked.truth
        pdf.close()
    return files, truths


def check_against_truth(scans: list[PaperScan], truths) -> tuple[int, int]:
    """(boxes, ambiguous); fails on any box decided otherwise than drawn."""
    boxes = ambiguous = 0
    wrong = []
    for scan in scans:
        for box in scan.boxes:
            truth = truths[(scan.paper, box.page)][(box.number, box.column, box.index)]
            boxes += 1
            if box.decision == "ambiguous":
                ambiguous += 1
            elif box.decision != truth:
                wrong.append(
                    (scan.paper, box.page, box.number, box.index, truth, box.decision, box.darkness)
                )
    assert not wrong, f"silent errors (paper, page, number, option, drawn, read, darkness): {wrong}"
    return boxes, ambiguous


def expected_answers(scan: PaperScan, truths) -> dict[str, object]:
    want: dict[str, object] = {}
    for item in scan.items:
        if item.kind not in ("mcq", "multi_select"):
            continue
        ticked = sorted(
            index
            for (paper, _), truth in truths.items()
            if paper == scan.paper
            for (number, _, index), meaning in truth.items()
            if number == item.number and meaning == "ticked"
        )
        if ticked:
            letters = [LETTERS[i] for i in ticked]
            want[item.number] = letters[0] if item.kind == "mcq" and len(letters) == 1 else letters
    return want


@pytest.fixture(scope="module")
def class_scan(roster_build, tmp_path_factory):
    """The roster class, scanned: shuffled, one page missing, one page twice, some
    pages bundled as a PDF of images."""
    root = tmp_path_factory.mktemp("class-scan")
    raw = root / "raw"
    raw.mkdir()
    files, truths = draw_class(roster_build, raw, seed=7)
    rng = random.Random(3)
    missing = next(f for f in files if f.name.startswith("s1003-p2"))
    files.remove(missing)
    again = next(f for f in files if f.name.startswith("s1002-p2"))
    files.append(again)  # the same page fed twice
    rng.shuffle(files)
    from PIL import Image

    bundle = root / "bundle.pdf"
    first, *rest = [Image.open(f) for f in files[:4]]
    first.save(bundle, save_all=True, append_images=rest, resolution=200)
    inputs = [bundle, *files[4:]]
    result = scan_papers(inputs, roster_build, root / "scans", jobs=2)
    return result, truths


def test_every_decision_matches_what_was_drawn(class_scan):
    result, truths = class_scan
    boxes, ambiguous = check_against_truth(result.papers, truths)
    assert boxes > 20
    assert ambiguous <= 0.05 * boxes, f"{ambiguous} of {boxes} boxes ambiguous"


def test_all_styles_and_conditions_were_drawn(class_scan):
    _, truths = class_scan
    meanings = {m for truth in truths.values() for m in truth.values()}
    assert meanings == {"ticked", "empty", "cancelled"}
    assert {"tick", "cross", "shade", "pencil", "fill", "stray"} <= set(STYLES)


def test_answers_yaml_as_grade_reads_it(class_scan):
    result, truths = class_scan
    assert result.problems == []
    for scan in result.papers:
        folder = result.out / scan.folder
        if scan.folder not in result.written:
            continue
        answers = yaml.safe_load((folder / "answers.yaml").read_text())
        choices = {k: v for k, v in answers.items() if not isinstance(v, dict)}
        assert choices == expected_answers(scan, truths), scan.folder
        for item in scan.items:  # every written answer is its crops, keyed by printed number
            if item.kind in ("short_answer", "open", "numeric", "code"):
                assert answers[item.number] == {"on_paper": scan.crops[item.number]}
                assert all((folder / crop).is_file() for crop in scan.crops[item.number])


def test_a_missing_page_holds_back_that_paper(class_scan):
    result, _ = class_scan
    lost = next(s for s in result.papers if s.paper == "s1003")
    assert lost.missing() == [2]
    assert "s1003" in result.waiting
    assert not (result.out / "s1003" / "answers.yaml").exists()
    csv = (result.out / "resolve.csv").read_text()
    assert "s1003,page,2," in csv
    assert "page 2 not scanned" in (result.out / "scan-report.html").read_text()


def test_a_page_scanned_twice_is_listed_once(class_scan):
    result, _ = class_scan
    twice = next(s for s in result.papers if s.paper == "s1002")
    assert len(twice.duplicates) == 1 and twice.duplicates[0].startswith("page 2:")
    assert sorted(s.page for s in twice.seen) == list(range(1, twice.pages + 1))
    assert "Pages scanned twice (1)" in (result.out / "scan-report.html").read_text()


def test_each_style_under_each_condition(roster_build, tmp_path):
    """One page with boxes, marked with every style in turn, under every condition."""
    layout = layout_of(roster_build)
    paper = layout.papers[0]
    page = next(p for p in paper.pages if len(p.boxes) >= 6)
    pdf = pdfium.PdfDocument(str(roster_build / "students" / paper.id / "exam.pdf"))
    clean = render(pdf, page.page - 1, RENDER_DPI)
    pdf.close()
    rng = random.Random(11)
    questions = sorted({b.number for b in page.boxes})
    truths, files, drawn = {}, [], set()
    for c, how in enumerate(CONDITIONS):
        plan = {}
        for q, number in enumerate(questions):
            style = STYLES[(c * len(questions) + q) % len(STYLES)]
            plan[(number, 0)] = {(c + q) % 3: style}
            drawn.add(style)
        marked = mark_page(clean, page, RENDER_DPI / 72, rng, plan)
        image = degrade(marked.image, how, RENDER_DPI, rng)
        files.append(save(image, tmp_path / f"c{c}", how))
        truths[c] = marked.truth
    assert drawn == set(STYLES)
    boxes = ambiguous = 0
    for c, path in enumerate(files):  # each alone: the same page scanned seven times
        result = scan_papers([path], roster_build, tmp_path / f"out{c}", jobs=1)
        assert result.problems == [] and len(result.papers) == 1, result.problems
        (scan,) = result.papers
        assert scan.seen[0].trusted, scan.seen[0].note
        b, a = check_against_truth([scan], {(paper.id, page.page): truths[c]})
        boxes, ambiguous = boxes + b, ambiguous + a
    assert ambiguous <= 0.1 * boxes, f"{ambiguous} of {boxes} boxes ambiguous"
