"""integrity.html in headless Chromium: the evidence really sits side by side."""

import importlib.util
from pathlib import Path

import pytest

from mmexam.integrity import Settings, check_integrity
from mmexam.integrity.report import write_report
from mmexam.integrity.sheets import read_sheets, task_sources

_spec = importlib.util.spec_from_file_location(
    "chromium_cdp", Path(__file__).resolve().parents[1] / "build" / "chromium_cdp.py"
)
assert _spec is not None and _spec.loader is not None
cdp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cdp)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(cdp.chromium_path() is None, reason="chromium is not installed"),
]


def test_the_report_lays_out_the_evidence_side_by_side(synthetic_class, tmp_path):
    work, _ = synthetic_class
    sheets, tasks, notes = read_sheets(
        work / "grades", work / "build" / "variants.json", work / "submissions"
    )
    starters, references = task_sources(tasks)
    settings = Settings(text_backend="lexical", starters=starters, references=references)
    paths = write_report(check_integrity(sheets, settings, None, notes), tmp_path)
    with cdp.Chromium() as browser:
        browser.open(paths["html"])
        assert browser.evaluate("document.querySelectorAll('section.pair').length") >= 2
        # No horizontal scrolling of the page itself at the default window size.
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        boxes = browser.evaluate(
            "[...document.querySelectorAll('.side')].map(s => [...s.children].map(c => {"
            " const r = c.getBoundingClientRect(); return [r.left, r.top, r.width]; }))"
        )
        assert boxes, "no side-by-side evidence on the page"
        for left, right in boxes:
            assert left[1] == right[1] and right[0] >= left[0] + left[2] - 1
        caution = browser.evaluate("document.querySelector('.caution').innerText")
        assert "never a verdict" in caution
