"""The HTML exam and key in headless Chromium: MathML laid out, nothing overflowing."""

from __future__ import annotations

import pytest
from chromium_cdp import Chromium, chromium_path

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed"),
]

MATH_BOXES = """Array.from(document.querySelectorAll('math')).map(m => {
  const r = m.getBoundingClientRect(); return [m.textContent, r.width, r.height];
})"""
OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def test_math_is_rendered_as_mathml_with_a_size(small_build):
    _, result = small_build
    with Chromium() as browser:
        for name in ("exam.html", "key.html"):
            browser.open(result.out / name)
            boxes = browser.evaluate(MATH_BOXES)
            assert len(boxes) >= 4, name
            empty = [text for text, width, height in boxes if width <= 0 or height <= 0]
            assert not empty, f"{name}: math with no size: {empty}"
            assert browser.evaluate(OVERFLOW), f"{name} overflows the page horizontally"
            assert browser.evaluate("document.scripts.length") == 0
