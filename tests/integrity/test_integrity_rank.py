"""Ranking a class: tiny classes, the listing rule, and the report's files."""

import json

from mmexam.integrity import Settings, check_integrity
from mmexam.integrity.models import Choice, CodeFile, Sheet
from mmexam.integrity.report import fmt_chance, fmt_p, write_report

PROGRAM = """
def fuse(x, y, w):
    scores = [a * b for a, b in zip(x, y)]
    total = 0
    for s in scores:
        if s > w:
            total += s * 2
        else:
            total -= s
    while total > 100:
        total = total // 3 + 7
    return {"total": total, "n": len(scores), "scale": w ** 0.5}
"""


def student(k: int, source: str | None = None) -> Sheet:
    own = f"def fuse(x, y, w):\n    return sum(x) * {k} + max(y) - w ** {k % 5}\n"
    return Sheet(
        id=f"s{k:02d}",
        name=None,
        earned=k % 7,
        possible=10,
        choices=(Choice("1.1", "q", False, 4, (k % 4,), (k % 4,), (0,), (0, 1, 2, 3), 0, 2),),
        code=(CodeFile("fusion", "fusion.py", source or own),),
    )


def test_tiny_classes_are_compared_without_error():
    settings = Settings(text_backend="lexical")
    assert check_integrity([], settings).pairs_tested == 0
    assert check_integrity([student(1)], settings).pairs == []
    assert check_integrity([student(1), student(2)], settings).pairs_tested == 1


def test_only_pairs_under_alpha_are_listed_and_top_caps_the_list(tmp_path):
    renamed = PROGRAM.replace("scores", "vals").replace("total", "acc")
    sheets = [student(k) for k in range(30)] + [student(30, PROGRAM), student(31, renamed)]
    report = check_integrity(sheets, Settings(text_backend="lexical"))
    assert [(p.a, p.b) for p in report.pairs] == [("s30", "s31")]
    pair = report.pairs[0]
    assert pair.q < 0.05 and pair.code is not None and pair.code.similarity == 1.0
    assert any(line.startswith("Code: 100%") for line in pair.reasons)
    assert check_integrity(sheets, Settings(text_backend="lexical", alpha=1e-12)).pairs == []
    paths = write_report(report, tmp_path)
    assert json.loads(paths["json"].read_text())["pairs"][0]["a"] == "s30"
    assert "s30" in paths["html"].read_text() and "<script" not in paths["html"].read_text()


def test_numbers_read_as_people_say_them():
    assert fmt_p(1.0) == "1" and fmt_p(0.0312) == "0.031" and fmt_p(2e-7) == "2.0e-07"
    assert fmt_p(1e-300) == "< 1e-300"
    assert fmt_chance(0.08) == "8%" and fmt_chance(0.0016) == "1 in 625"
