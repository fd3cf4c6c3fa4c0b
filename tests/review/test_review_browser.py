"""The acceptance run in a real browser (Debian's chromium, headless, via Playwright):
a TA grades slot 3.e group by group with the keyboard, edits a rubric item's points and
sees every affected total change, overrides an MCQ, resolves a regrade request; a re-run
of `mmexam grade` then writes the grades.csv the review shows."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from review_helpers import PASSWORD, grade_again

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SLOT = "3.e"


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(example):
    """`mmexam review` on a copy of the graded example class, SQLite, on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "mmexam",
        "review",
        str(example / "grades"),
        "--port",
        str(port),
        "--password",
        PASSWORD,
        "--manual",
        str(example / "manual"),
        "--groups",
        "lexical",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            httpx.get(url + "/login", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            time.sleep(0.1)
    yield url
    process.kill()
    process.wait()
    if process.stderr:
        process.stderr.close()


def totals(page, url) -> dict[str, float]:
    page.goto(url + "/")
    out = {}
    for row in page.locator("#totals tbody tr").all():
        out[row.get_attribute("data-student")] = float(row.locator("td.total").inner_text())
    return out


def reloaded(page, action) -> None:
    """Run an action that makes the page reload itself, and wait until it is back."""
    with page.expect_navigation():
        action()
    page.wait_for_selector("body[data-ready='1']")


def test_grade_a_slot_by_groups_with_the_keyboard(browser, server, example):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/login")
    page.fill("#name", "Ann")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    before = totals(page, server)

    page.goto(f"{server}/slot/{SLOT}")
    page.wait_for_selector("body[data-ready='1']")
    groups = page.locator("section.group")
    count = groups.count()
    sizes = [len((groups.nth(i).get_attribute("data-ids") or "").split()) for i in range(count)]
    assert max(sizes) > 1, "the example class has identical answers in slot 3.e"
    assert page.locator("section.group .how-identical").count() >= 1
    # g to each group in turn, 1 to apply the first rubric item to all its members
    for i in range(count):
        page.keyboard.press("g")
        focused = page.evaluate("document.activeElement.dataset.group")
        assert focused == groups.nth(i).get_attribute("data-group")
        reloaded(page, lambda: page.keyboard.press("1"))
        assert page.evaluate("document.activeElement.dataset.group") == focused
    assert page.locator("article.answer.pending").count() == 0
    graded = page.locator("article.answer")
    students = {graded.nth(i).get_attribute("data-id").split("|")[0] for i in range(graded.count())}
    key = page.locator("article.answer").first.get_attribute("data-key")
    for i in range(graded.count()):
        answer = graded.nth(i)
        if answer.get_attribute("data-key") == key:
            assert answer.get_attribute("data-applied")
    # j / k move between answers (focus is on the last group: j enters it)
    ids = [graded.nth(i).get_attribute("data-id") for i in range(graded.count())]
    page.keyboard.press("j")
    first = page.evaluate("document.activeElement.dataset.id")
    assert first == groups.nth(count - 1).get_attribute("data-ids").split()[0]
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.dataset.id") == ids[ids.index(first) - 1]
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.id") == first

    # the first rubric item of the first bank item is worth 0.5 less: every total moves
    item = page.locator(f'ol.rubric[data-key="{key}"] li.rubric-item').first
    rid = item.get_attribute("data-rubric")
    old = float(page.locator(f"#rubric-points-{rid}").input_value())
    page.fill(f"#rubric-points-{rid}", f"{old - 0.5:g}")
    reloaded(page, lambda: page.click(f'button.rubric-save[data-rubric="{rid}"]'))
    assert "Re-scored" in page.locator("#status").inner_text()
    with_item = {
        graded.nth(i).get_attribute("data-id").split("|")[0]
        for i in range(graded.count())
        if rid in (graded.nth(i).get_attribute("data-applied") or "").split()
    }
    assert with_item and with_item <= students
    after = totals(page, server)
    # each student with the item: their answer was pending (not counted) and now counts
    # the item's new points; the totals page shows it
    for sid in with_item:
        assert after[sid] == pytest.approx(before[sid] + old - 0.5), sid
    for sid in set(before) - students:
        assert after[sid] == pytest.approx(before[sid]), sid

    # override an auto-scored MCQ of s2024001, with a reason
    page.goto(server + "/student/s2024001")
    row = page.locator("tr", has=page.locator("small", has_text="mcq")).first
    number = row.get_attribute("data-number")
    row.locator("input[name=points]").fill("0")
    row.locator("input[name=reason]").fill("two options marked")
    row.locator("form.override button").click()
    page.wait_for_url(server + "/student/s2024001")
    row = page.locator(f'tr[data-number="{number}"]')
    assert "0 /" in row.locator("td.points").inner_text()
    assert "two options marked" in row.inner_text()

    # a regrade request, queued and resolved with a reply
    row.locator("input[name=request]").fill("I meant option b")
    row.locator("form.regrade-add button").click()
    page.wait_for_url(server + "/student/s2024001")
    page.locator("input.reply").fill("Checked: a stays wrong.")
    page.locator("div.regrade button[type=submit]").click()
    page.wait_for_url(server + "/student/s2024001")
    assert "Resolved by Ann: Checked: a stays wrong." in page.content()

    shown = page.request.get(server + "/grades.csv").text()
    assert errors == []
    context.close()
    grade_again(example)
    assert (example / "grades" / "grades.csv").read_text(encoding="utf-8") == shown
