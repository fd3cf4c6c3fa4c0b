"""A paper class from the scanner to the review page: written answers (a short answer and
code written on paper) reach the TA as their scanned crops, wait as pending (never 0), and
the points a TA gives in the review count in the next `mmexam grade`."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import yaml
from PIL import ImageDraw
from synth import Degrade, degrade, mark_page, render, save

from mmexam.paperlayout import ExamLayout, PageLayout

pytestmark = [pytest.mark.slow]

SMALL_BANK = Path(__file__).resolve().parents[1] / "fixtures" / "banks" / "small"
RENDER_DPI = 200
PASSWORD = "paper-review-pw"
PAPERS = ("s1001", "s1002")


def scribble(image, page: PageLayout, px: float, rng: random.Random) -> None:
    """Handwriting in every written-answer region of the page: a few wavy dark lines."""
    draw = ImageDraw.Draw(image)
    for region in page.regions:
        lines = max(1, min(4, int(region.h // 18)))
        for n in range(lines):
            y = region.y + (n + 0.6) * region.h / (lines + 0.5)
            points = [
                ((region.x + 6 + k * 9) * px, (y + rng.uniform(-3, 3)) * px)
                for k in range(int((region.w - 12) // 9))
            ]
            if len(points) > 1:
                draw.line(points, fill=rng.randint(10, 60), width=max(1, round(0.5 * px)))


def scan_class(build: Path, folder: Path) -> list[Path]:
    """The pages of the papers in PAPERS: option a ticked everywhere, writing in every region."""
    rng = random.Random(11)
    layout = ExamLayout.model_validate_json((build / "layout.json").read_text())
    files = []
    for paper in layout.papers:
        if paper.id not in PAPERS:
            continue
        pdf = pdfium.PdfDocument(str(build / "students" / paper.id / "exam.pdf"))
        for page in paper.pages:
            clean = render(pdf, page.page - 1, RENDER_DPI)
            plan = {(b.number, b.column): {0: "tick"} for b in page.boxes}
            marked = mark_page(clean, page, RENDER_DPI / 72, rng, plan)
            scribble(marked.image, page, RENDER_DPI / 72, rng)
            how = Degrade(dpi=200, angle=1.0)
            files.append(
                save(
                    degrade(marked.image, how, RENDER_DPI, rng),
                    folder / f"{paper.id}-p{page.page}",
                    how,
                )
            )
        pdf.close()
    return files


def grade(root: Path):
    from mmexam.grade.engine import GradeOptions, grade_submissions

    return grade_submissions(
        GradeOptions(
            submissions=root / "scans",
            variants=root / "build" / "variants.json",
            bank=SMALL_BANK,
            out=root / "grades",
            manual=root / "manual",
            jobs=1,
        )
    )


@pytest.fixture(scope="module")
def paper_class(roster_build, tmp_path_factory) -> Path:
    """Two students' papers built, written on, scanned, read and graded."""
    import shutil

    from mmexam.scan import scan_papers

    root = tmp_path_factory.mktemp("paper-review")
    shutil.copytree(roster_build, root / "build")
    raw = root / "raw"
    raw.mkdir()
    result = scan_papers(scan_class(root / "build", raw), root / "build", root / "scans", jobs=1)
    assert set(PAPERS) <= set(result.written), (result.waiting, result.problems)
    grade(root)
    return root


@pytest.fixture
def graded(paper_class, tmp_path) -> Path:
    import shutil

    root = tmp_path / "class"
    shutil.copytree(paper_class, root)
    # the results record where the crops are: the copy's own scans/
    grade(root)
    return root


def items_of(root: Path, sid: str) -> dict:
    from mmexam.grade.results import load_result, result_path

    result = load_result(result_path(root / "grades", sid))
    assert result is not None
    return {i.number: i for i in result.items}


def log_in(app):
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    reply = client.post(
        "/login",
        data={"csrf": token, "name": "Ann", "password": PASSWORD},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    client.csrf = re.search(r'<meta name="csrf" content="([^"]+)"', client.get("/").text).group(1)
    return client


@pytest.fixture
def review(graded):
    from mmexam.serve.review.app import create_review_app
    from mmexam.serve.review.server import prepare_review

    prepared = prepare_review(
        graded / "grades", graded / "manual", password=PASSWORD, measure="lexical"
    )
    yield create_review_app(prepared.config), prepared
    prepared.config.db.close()


def numbers(root: Path, sid: str, kind: str) -> list[str]:
    return [n for n, i in items_of(root, sid).items() if i.kind == kind]


def test_scan_writes_written_answers_and_code_as_pictures(paper_class):
    for sid in PAPERS:
        answers = yaml.safe_load((paper_class / "scans" / sid / "answers.yaml").read_text())
        for kind in ("short_answer", "code", "open"):
            for number in numbers(paper_class, sid, kind):
                crops = answers[number]["on_paper"]
                assert crops and all((paper_class / "scans" / sid / c).is_file() for c in crops)


def test_paper_answers_wait_for_a_ta_with_their_crops(paper_class):
    for sid in PAPERS:
        items = items_of(paper_class, sid)
        short = items[numbers(paper_class, sid, "short_answer")[0]]
        code = items[numbers(paper_class, sid, "code")[0]]
        for item in (short, code):
            assert item.status == "review" and item.points is None, item
            assert item.answer is None and item.crops[0].startswith("crops/")
        assert not any("not submitted" in m for m in code.messages), code.messages
        numeric = items[numbers(paper_class, sid, "numeric")[0]]
        assert numeric.points == 0 and "not typed in yet" in numeric.messages[0]
    grades = (paper_class / "grades" / "grades.csv").read_text()
    assert re.search(r"^s1001,.*,[1-9],problems$", grades, re.MULTILINE), grades


def test_the_review_page_shows_the_crops_and_serves_only_them(review, graded):
    app, _ = review
    ta = log_in(app)
    for kind in ("short_answer", "code"):
        number = numbers(graded, "s1001", kind)[0]
        html = ta.get(f"/slot/{number}").text
        crop = items_of(graded, "s1001")[number].crops[0]
        url = f"/crops/s1001/{crop}"
        assert f'<img class="crop" src="{url}"' in html, html
        assert "written on paper" not in re.sub(r'alt="[^"]*"', "", html)  # no placeholder
        picture = ta.get(url)
        assert picture.status_code == 200
        assert picture.headers["content-type"] == "image/png"
        assert picture.content.startswith(b"\x89PNG")
        assert picture.content == (graded / "scans" / "s1001" / crop).read_bytes()
    for bad in (
        "/crops/s1001/scan.json",  # in the folder, but not a crop of an answer
        "/crops/s1001/..%2F..%2Fgrades%2Frun.json",
        "/crops/s1001/crops/..%2F..%2Fs1002%2Fanswers.yaml",
        "/crops/s1001/%2E%2E/s1002/crops/" + items_of(graded, "s1002")[number].crops[0][6:],
        "/crops/s1999/crops/1.png",
    ):
        assert ta.get(bad).status_code in (400, 404), bad
    from starlette.testclient import TestClient

    anonymous = TestClient(app, base_url="http://127.0.0.1")
    reply = anonymous.get(f"/crops/s1001/{crop}", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/login"


def test_paper_answers_are_not_grouped_as_identical(review, graded):
    app, _ = review
    ta = log_in(app)
    number = numbers(graded, "s1001", "short_answer")[0]
    html = ta.get(f"/slot/{number}").text
    groups = re.findall(r'<h3 class="group-head">Group of (\d+) <span class="how how-(\w+)">', html)
    assert groups and all(size == "1" and how == "single" for size, how in groups), groups


def test_code_on_paper_graded_in_the_review_counts_in_the_next_grade(review, graded):
    app, _ = review
    ta = log_in(app)
    number = numbers(graded, "s1001", "code")[0]
    code = items_of(graded, "s1001")[number]
    html = ta.get(f"/slot/{number}").text
    rubric = re.findall(r'<li class="rubric-item" data-rubric="(\d+)"', html)
    assert rubric, "code on paper gets a rubric item per function"
    aid = f"s1001|{number}"
    reply = ta.post(
        "/api/toggle",
        json={"ids": [aid], "rubric": int(rubric[0]), "on": True},
        headers={"x-csrf-token": ta.csrf},
    )
    assert reply.status_code == 200, reply.text
    summary = grade(graded)
    after = {r.id: r for r in summary.results}
    item = next(i for i in after["s1001"].items if i.number == number)
    assert item.points == pytest.approx(code.max_points) and item.status == "manual"
    other = next(i for i in after["s1002"].items if i.number == number)
    assert other.points is None  # s1002's code is still pending
    rows = {r.split(",")[0]: r for r in (graded / "grades" / "grades.csv").read_text().splitlines()}
    assert f"{after['s1001'].total:g}" in rows["s1001"]


@pytest.mark.browser
def test_the_crop_is_a_visible_picture_in_a_browser(graded):
    """The slot page in chromium: the crop of the code written on paper loads and shows."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "mmexam", "review", str(graded / "grades"), "--port",
               str(port), "--password", PASSWORD, "--manual", str(graded / "manual"),
               "--groups", "lexical"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/login", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None
                time.sleep(0.1)
        number = numbers(graded, "s1001", "code")[0]
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(url + "/login")
            page.fill("input[name=name]", "Ann")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{url}/slot/{number}")
            picture = page.locator("#a-s1001-" + number.replace(".", "\\.") + " img.crop").first
            picture.wait_for(state="visible")
            assert picture.evaluate("img => img.complete && img.naturalWidth") > 0
            browser.close()
    finally:
        process.kill()
        process.wait()
