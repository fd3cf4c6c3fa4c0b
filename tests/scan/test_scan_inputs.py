"""Bad input, anonymous versions, doubts settled by a person, the CLI, and grading."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pypdfium2 as pdfium
import yaml
from PIL import Image, ImageDraw
from synth import Degrade, degrade, draw_mark, render, save
from typer.testing import CliRunner

from mmexam.cli import app
from mmexam.exam import Manifest
from mmexam.paperlayout import ExamLayout
from mmexam.scan import scan_papers

DPI = 200


def layout_of(build: Path) -> ExamLayout:
    return ExamLayout.model_validate_json((build / "layout.json").read_text())


def clean_pages(pdf_path: Path, dpi: int = DPI) -> list[Image.Image]:
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return [render(pdf, n, dpi) for n in range(len(pdf))]
    finally:
        pdf.close()


def write_pages(pages: list[Image.Image], folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, page in enumerate(pages, start=1):
        path = folder / f"{stem}-{n:02d}.png"
        page.save(path)
        paths.append(path)
    return paths


def test_bad_input_is_one_line_each_and_nothing_else_is_lost(roster_build, other_exam, tmp_path):
    good = write_pages(
        clean_pages(roster_build / "students" / "s1001" / "exam.pdf"), tmp_path / "in", "s1001"
    )
    text = tmp_path / "in" / "notes.pdf.txt"
    text.write_text("not a scan at all\n")
    corrupt = tmp_path / "in" / "broken.png"
    corrupt.write_bytes(good[0].read_bytes()[:900])  # a PNG cut short
    write_pages(clean_pages(other_exam / "exam.pdf")[:1], tmp_path / "in", "other")  # another exam
    nocode = clean_pages(roster_build / "students" / "s1002" / "exam.pdf")[1]
    layout = layout_of(roster_build)
    ImageDraw.Draw(nocode).rectangle(
        [
            c * DPI / 72
            for c in (
                layout.code.x - 6,
                layout.code.y - 6,
                layout.code.x + layout.code.w + 6,
                layout.code.y + layout.code.h + 6,
            )
        ],
        fill=255,
    )
    nocode_path = tmp_path / "in" / "torn.png"
    nocode.save(nocode_path)
    blank = tmp_path / "in" / "back.png"
    Image.new("L", nocode.size, 250).save(blank)

    result = scan_papers([tmp_path / "in"], roster_build, tmp_path / "scans", jobs=1)
    lines = {Path(p.source.split(" page ")[0]).name: p.message for p in result.problems}
    assert set(lines) == {"notes.pdf.txt", "broken.png", "other-01.png", "torn.png"}, lines
    assert "not a PDF or an image" in lines["notes.pdf.txt"]
    assert "damaged image" in lines["broken.png"]
    assert "another exam" in lines["other-01.png"]
    assert "no page code" in lines["torn.png"]
    assert result.blanks == 1
    # nothing else lost: s1001's whole paper was read and answered
    assert result.written == ["s1001"]
    (paper,) = [p for p in result.papers if p.paper == "s1001"]
    assert paper.missing() == [] and len(paper.seen) == len(good)
    report = (tmp_path / "scans" / "scan-report.html").read_text()
    for name in lines:
        assert name in report


def _tick_id(image: Image.Image, layout: ExamLayout, page, student: str, px: float) -> None:
    draw = ImageDraw.Draw(image)
    rng = random.Random(1)
    for box in page.boxes:
        if (
            box.number == "id"
            and box.column < len(student)
            and int(student[box.column]) == box.index
        ):
            draw_mark(draw, box, "cross", px, rng)


def test_anonymous_versions_are_named_by_their_id_grid(versions_build, tmp_path):
    layout = layout_of(versions_build)
    stacks = []
    for student, version in (("20241234", "A"), ("777", "B"), ("5550001", "A")):
        paper = next(p for p in layout.papers if p.id == version)
        pages = clean_pages(versions_build / "versions" / version / "exam.pdf")
        _tick_id(pages[0], layout, paper.pages[0], student, DPI / 72)
        # the first option of every question ticked, on every page
        rng = random.Random(2)
        for image, page in zip(pages, paper.pages):
            draw = ImageDraw.Draw(image)
            for box in page.boxes:
                if box.number != "id" and box.index == 0:
                    draw_mark(draw, box, "tick", DPI / 72, rng)
        stacks += write_pages(pages, tmp_path / "in", f"{student}")
    result = scan_papers(stacks, versions_build, tmp_path / "scans", jobs=1)
    assert result.problems == []
    assert sorted(result.written) == ["20241234", "5550001", "777"]
    answers = yaml.safe_load((tmp_path / "scans" / "777" / "answers.yaml").read_text())
    assert answers["variant"] == "B"
    mcqs = [k for k, v in answers.items() if v == "a"]
    assert mcqs, answers


def test_a_doubt_waits_for_a_person_then_resolve_writes_the_answer(roster_build, tmp_path):
    layout = layout_of(roster_build)
    paper = next(p for p in layout.papers if p.id == "s1001")
    pages = clean_pages(roster_build / "students" / "s1001" / "exam.pdf")
    page = next(p for p in paper.pages if p.boxes)
    box = page.boxes[1]
    px = DPI / 72
    draw = ImageDraw.Draw(pages[page.page - 1])
    # a faint dot in the box: neither empty nor ticked
    c = (box.x + box.w / 2) * px, (box.y + box.h / 2) * px
    draw.ellipse([c[0] - 2.2, c[1] - 2.2, c[0] + 2.2, c[1] + 2.2], fill=60)
    files = write_pages(pages, tmp_path / "in", "s1001")
    result = scan_papers(files, roster_build, tmp_path / "scans", jobs=1)
    assert result.waiting == ["s1001"] and result.doubts == 1
    target = tmp_path / "scans" / "s1001" / "answers.yaml"
    assert not target.exists()
    sheet = tmp_path / "scans" / "resolve.csv"
    rows = list(csv.DictReader(sheet.read_text().splitlines()))
    (row,) = [r for r in rows if r["what"] == "box"]
    assert row["number"] == box.number and row["option"] == "b"
    assert (tmp_path / "scans" / "s1001" / row["picture"]).is_file()
    row["answer"] = "ticked"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    runner = CliRunner()
    outcome = runner.invoke(app, ["scan", "resolve", str(tmp_path / "scans")])
    assert outcome.exit_code == 0, outcome.output
    assert "1 answers.yaml written, 0 waiting" in outcome.output
    answers = yaml.safe_load(target.read_text())
    manifest = Manifest.model_validate_json((roster_build / "variants.json").read_text())
    item = next(
        i for s in manifest.students if s.id == "s1001" for i in s.items if i.number == box.number
    )
    assert answers[box.number] == ("b" if item.kind == "mcq" else ["b"])


def test_cli_scan_then_grade(roster_build, tmp_path):
    """From PDFs to grades.csv: `mmexam scan`, then `mmexam grade`."""
    rng = random.Random(5)
    folder = tmp_path / "in"
    folder.mkdir()
    layout = layout_of(roster_build)
    for paper in layout.papers:
        pages = clean_pages(roster_build / "students" / paper.id / "exam.pdf")
        for image, page in zip(pages, paper.pages):
            draw = ImageDraw.Draw(image)
            for box in page.boxes:
                if box.index == 0:
                    draw_mark(draw, box, "tick", DPI / 72, rng)
        scanned = [degrade(p, Degrade(dpi=150, angle=1.0), DPI, rng) for p in pages]
        scanned[0].save(
            folder / f"{paper.id}.pdf", save_all=True, append_images=scanned[1:], resolution=150
        )
    runner = CliRunner()
    scans = tmp_path / "scans"
    outcome = runner.invoke(
        app, ["scan", str(folder), "--build", str(roster_build), "--out", str(scans), "--jobs", "1"]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "3 answers.yaml written, 0 waiting" in outcome.output
    grades = tmp_path / "grades"
    outcome = runner.invoke(
        app,
        [
            "grade",
            str(scans),
            "--variants",
            str(roster_build / "variants.json"),
            "--out",
            str(grades),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    rows = list(csv.DictReader((grades / "grades.csv").read_text().splitlines()))
    assert sorted(r["id"] for r in rows) == ["s1001", "s1002", "s1003"]


def test_save_keeps_the_scanners_format(tmp_path):
    image = Image.new("L", (40, 40), 255)
    assert save(image, tmp_path / "a", Degrade(jpeg=40)).suffix == ".jpg"
    assert save(image, tmp_path / "b", Degrade()).suffix == ".png"
