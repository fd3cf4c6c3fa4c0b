"""The acceptance run in a real browser (Debian's chromium, headless, via Playwright):
two students log in, answer every kind of question, run the public checks on a code
part, lose the connection and reconnect, and submit; the export then grades to the
expected scores, and the second student cannot see the first's paper by any URL."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mmexam.grade.submissions import parse_answers

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    """`mmexam serve` on a copy of the example build, SQLite, on a free port."""
    build = tmp_path_factory.mktemp("browser") / "build"
    shutil.copytree(built, build)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mmexam", "serve", str(build), "--port", str(port)]
        + ["--staff-password", "pw", "--demo", "--minutes", "90"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    codes: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        found = re.match(r"\s+(s\d+)\s+(\S+)\s", line)
        if found:
            codes[found.group(1)] = found.group(2)
        if line.startswith("staff page"):
            break
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(url + "/login", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield {"url": url, "codes": codes, "build": build}
    process.kill()
    process.wait()
    process.stdout.close()


def log_in(browser, server, sid):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server["url"] + "/")
    page.fill("#student", sid)
    page.fill("#code", server["codes"][sid])
    page.click("button[type=submit]")
    page.wait_for_url("**/paper")
    return context, page, errors


def by_id(number: str) -> str:
    return f'[id="a-{number}"]'


def answer_everything(page, sid: str, items, *, skip=()) -> None:
    """Type the example submission of `sid` into the page, field by field."""
    folder = EXAMPLES / "submissions" / sid
    answers = parse_answers((folder / "answers.yaml").read_text(encoding="utf-8"))
    for item in items:
        if item.number in skip:
            continue
        given = answers.by_number.get(item.number)
        if item.kind == "code" or given is None or given.value is None:
            continue
        value = given.value
        if item.kind == "mcq":
            radio = page.locator(f'input[name="a-{item.number}"][value="{value}"]')
            radio.focus()
            page.keyboard.press("Space")  # keyboard, not the mouse
            assert radio.is_checked()
        elif item.kind == "multi_select":
            for letter in value:
                page.check(f'input[name="a-{item.number}"][value="{letter}"]')
        else:
            page.fill(by_id(item.number), value)
    for task_file in sorted(folder.glob("*.py")):
        editor = page.locator(f'textarea[data-key="file:{task_file.name}"]')
        if editor.count():
            editor.fill(task_file.read_text(encoding="utf-8"))


def wait_saved(page) -> None:
    page.wait_for_function(
        "() => { const s = window.mmexamStatus(); return !s.pending && !s.inFlight; }",
        timeout=60_000,
    )


def submit(page) -> str:
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#mmexam-submit")
    page.wait_for_function(
        "() => document.getElementById('mmexam-submit-result').textContent.startsWith('Submitted')",
        timeout=60_000,
    )
    return page.locator("#mmexam-receipt").inner_text()


def test_two_students_take_the_exam_in_the_browser(browser, server, online_exam, tmp_path):
    from mmexam.grade.engine import GradeOptions, grade_submissions
    from mmexam.serve.db import Database, database_url

    expected = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
    for sid in ("s2024001", "s2024002"):
        seen = {i.number: i.question for i in online_exam.students[sid].items}
        assert seen == expected["students"][sid]["questions"], (
            f"{sid}: examples are out of date with the bank — run `mmexam build --roster "
            "examples/roster.csv` then `python examples/make_submissions.py`"
        )
    db = Database(database_url(None, server["build"] / "serve.sqlite"))
    first = online_exam.students["s2024001"]
    context, page, errors = log_in(browser, server, "s2024001")
    assert "Ada Okafor" in page.content()

    # 2.2 is answered while offline, below
    answer_everything(page, "s2024001", first.items, skip={"2.2"})
    wait_saved(page)
    assert re.match(r"Saved \d+ s ago|All changes saved", page.inner_text("#mmexam-status"))
    assert db.latest("s2024001")["1.1"].value == "b"
    reading = page.inner_text('[id="r-3.a"]')
    assert reading == "read as 18"

    # public checks on a code part, in the sandbox, shown inline
    page.click('button.run-checks[data-task="fusion"]')
    page.wait_for_selector("#check-results-fusion .summary", timeout=240_000)
    summary = page.inner_text("#check-results-fusion .summary")
    assert re.search(r"Public checks of fusion.py: (\d+) of \1 passed", summary), summary

    # the connection drops: changes wait in the browser, then go when it is back
    context.set_offline(True)
    final = parse_answers((EXAMPLES / "submissions/s2024001/answers.yaml").read_text())
    page.fill(by_id("2.2"), "draft")
    page.fill(by_id("2.2"), final.by_number["2.2"].value)
    page.check('input[name="a-4.b"][value="d"]')
    page.wait_for_function(
        "() => document.getElementById('mmexam-status').textContent.startsWith('Offline')",
        timeout=30_000,
    )
    assert re.match(r"Offline — \d+ changes? waiting", page.inner_text("#mmexam-status"))
    assert "2.2" not in db.latest("s2024001")
    page.uncheck('input[name="a-4.b"][value="d"]')
    context.set_offline(False)
    wait_saved(page)
    assert db.latest("s2024001")["2.2"].value == final.by_number["2.2"].value
    assert db.latest("s2024001")["4.b"].value == ["a", "b", "c"]

    receipt_first = submit(page)
    assert page.locator('[id="a-2.1"]').get_attribute("readonly") is not None
    assert not errors, errors

    # the second student
    second = online_exam.students["s2024002"]
    context2, page2, errors2 = log_in(browser, server, "s2024002")
    answer_everything(page2, "s2024002", second.items)
    wait_saved(page2)
    receipt_second = submit(page2)
    assert not errors2, errors2
    # ... cannot see the first's paper by any URL
    secret = final.by_number["2.1"].value.split()[0:6]
    for path in (
        "/paper?student=s2024001",
        "/paper/s2024001",
        "/staff/paper/s2024001",
        "/staff",
        "/api/state?student=s2024001",
        "/api/check/fusion",
        "/students/s2024001/exam.html",
        "/static/../variants.json",
        "/login?next=/staff/paper/s2024001",
    ):
        page2.goto(server["url"] + path)
        text = page2.content()
        assert "Ada Okafor" not in text and "s2024001" not in text, path
        assert " ".join(secret) not in text, path
        assert receipt_first not in text, path
    context.close()
    context2.close()

    # the export grades to the expected scores
    out = tmp_path / "submissions"
    done = subprocess.run(
        [sys.executable, "-m", "mmexam", "serve", "export", str(server["build"])]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exported 2 submissions" in done.stdout and "s2024013" in done.stdout
    info = json.loads((out / ".mmexam-export.json").read_text())
    assert info["receipts"] == {"s2024001": receipt_first, "s2024002": receipt_second}
    summary = grade_submissions(
        GradeOptions(
            submissions=out,
            variants=server["build"] / "variants.json",
            out=tmp_path / "grades",
            manual=tmp_path / "manual",
            jobs=2,
        )
    )
    results = {r.id: r for r in summary.results}
    assert sorted(results) == ["s2024001", "s2024002"]
    for sid, result in results.items():
        check_points(online_exam, result, expected["students"][sid])
    db.close()


def check_points(exam, result, want) -> None:
    """The points of every item, as examples/expected.json says for that student."""
    from mmexam.checks import plans

    items = {i.number: i for i in exam.students[result.id].items}
    got = {i.number: i for i in result.items}
    assert got.keys() == want["points"].keys()
    for number, rule in want["points"].items():
        item = got[number]
        if rule is None:
            assert item.pending, (result.id, number)
            continue
        if isinstance(rule, dict):
            points: dict[str, float] = {}
            for plan in plans(item.code_task):
                if plan.kind != "device":
                    points[plan.function] = points.get(plan.function, 0.0) + plan.points
            total = sum(points[f] for f in rule["pass"] + rule["fail"])
            rule = items[number].points * sum(points[f] for f in rule["pass"]) / total
        assert item.points == pytest.approx(rule), (result.id, number, item.messages)


def test_keyboard_editor_and_200_percent_zoom(browser, server):
    context, page, errors = log_in(browser, server, "s2024012")
    editor = page.locator('textarea[data-key="file:fusion.py"]')
    editor.fill("def f():\nreturn 1")
    editor.focus()
    page.keyboard.press("Control+End")
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    assert editor.input_value() == "def f():\n    return 1"
    page.keyboard.press("Shift+Tab")
    assert editor.input_value() == "def f():\nreturn 1"
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("x")
    assert editor.input_value() == "def f():\nreturn 1\nx"
    gutter = page.locator(".code-answer[data-task=fusion] .gutter").inner_text()
    assert gutter.split() == ["1", "2", "3"]
    # Esc releases Tab: the focus moves on instead of indenting
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.key") != "file:fusion.py"
    assert editor.input_value() == "def f():\nreturn 1\nx"
    wait_saved(page)
    # 200% zoom: a 1100 px window shows a 550 px page, which must not scroll sideways
    page.set_viewport_size({"width": 550, "height": 800})
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px at 200% zoom"
    assert not errors, errors
    context.close()
