"""How mmexam writes numbers, points and option letters: one meaning per name.

Papers, feedback, reports, sheets and error messages all format through
here, so "2.5" on a student's feedback and "2.5 points" on their paper come
from the same rule.
"""

from __future__ import annotations

import math
import string

LETTERS = string.ascii_lowercase


def fmt_number(x: float) -> str:
    """A number as a person writes it: 20, 0.25, 1.5e-05; an int exactly as it is."""
    if isinstance(x, int):
        return str(int(x))
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return format(x, ".6g")


def fmt_points(x: float) -> str:
    """Points with at most two decimals and no trailing zeros: 2, 2.5, 0.33."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def points_label(x: float) -> str:
    """Points with their unit, as printed on a paper: "1 point", "2.5 points"."""
    return f"{fmt_number(x)} {'point' if x == 1 else 'points'}"


def letter(k: int) -> str:
    """The letter printed for option k (0-based): a, b, c, …"""
    return LETTERS[k]


def letter_span(count: int) -> str:
    """The range of letters of `count` options: "a–d", or "a" for one."""
    return f"a–{LETTERS[count - 1]}" if count > 1 else "a"


def letter_list(count: int) -> str:
    """Every letter of `count` options: "a, b, c, d"."""
    return ", ".join(LETTERS[:count])
