"""Students' names in any script: printed with fonts that have their glyphs (the `fonts`
extra), and a warning naming the student and the script where no font has them."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from small_bank import SMALL_BANK

from mmexam.build import build_exam
from mmexam.build.fonts import INSTALL, font_dirs, name_fonts, notdef_pages

NAMES = {
    "1001": "王小明",
    "1002": "فاطمة الزهراء",
    "1003": "अर्जुन शर्मा",
    "1004": "Ada Lovelace",
}
RUNIC = "ᚠᚢᚦᚨᚱ"  # a script that no font of mmexam's has


def write_roster(path: Path, names: dict[str, str]) -> Path:
    lines = ["id,name", *(f"{sid},{name}" for sid, name in names.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def letters(text: str) -> list[str]:
    """The letters and marks of a text, in a canonical form and order: text extraction may
    give Arabic in visual order, in presentation forms, with bidi controls."""
    folded = unicodedata.normalize("NFKC", text)
    return sorted(c for c in folded if unicodedata.category(c)[0] in "LM")


def pdf_pages_text(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    texts = [page.get_textpage().get_text_range() for page in pdf]
    pdf.close()
    return texts


@pytest.fixture(scope="module")
def names_build(tmp_path_factory):
    if not font_dirs():
        pytest.skip(f"the fonts extra is not installed ({INSTALL})")
    root = tmp_path_factory.mktemp("names")
    roster = write_roster(root / "roster.csv", NAMES)
    result = build_exam(SMALL_BANK, root / "out", seed=1, roster=roster, formats=("pdf",))
    return result


def test_names_in_chinese_arabic_and_devanagari_print_on_the_cover_and_headers(names_build):
    assert names_build.warnings == []
    for sid, name in NAMES.items():
        for document in ("exam", "key"):
            path = names_build.out / "students" / sid / f"{document}.pdf"
            assert notdef_pages(path.read_bytes()) == set(), f"{path}: a missing-glyph box"
            pages = pdf_pages_text(path)
            for number, text in enumerate(pages, start=1):
                if number == 1 or document == "exam":  # the cover, and every exam header
                    words = text.split()
                    found = name in " ".join(words) or all(
                        letters(part) and set(letters(part)) <= set(letters(text))
                        for part in name.split()
                    )
                    assert found, f"{path} page {number}: {name!r} not in {text[:200]!r}"
                    if sid == "1001":  # Chinese reads back exactly, in order
                        assert name in text


def test_a_name_in_a_script_no_font_has_is_a_warning_naming_the_student_and_script(tmp_path):
    roster = write_roster(tmp_path / "roster.csv", {"2001": RUNIC, "2002": "Ada Lovelace"})
    result = build_exam(SMALL_BANK, tmp_path / "out", seed=1, roster=roster, formats=("pdf",))
    assert len(result.warnings) == 1, result.warnings
    (warning,) = result.warnings
    assert "student 2001" in warning and RUNIC in warning and "Runic" in warning
    assert "\n" not in warning
    if not font_dirs():
        assert INSTALL in warning


def test_without_the_fonts_extra_a_chinese_name_is_a_warning_with_the_install_line(
    monkeypatch,
):
    monkeypatch.setattr("mmexam.build.fonts.font_dirs", lambda: ())
    fonts = name_fonts([("1001", "王小明"), ("1004", "Ada Lovelace")])
    assert fonts.dirs == ()
    (warning,) = fonts.warnings
    assert "student 1001 (王小明)" in warning and "Chinese" in warning and INSTALL in warning


def test_latin_names_need_no_extra_fonts():
    assert name_fonts([("1", "Zoë Ñúñez-Łukasz"), ("2", "Ada Lovelace")]).dirs == ()


def test_build_prints_the_name_warning(tmp_path):
    from typer.testing import CliRunner

    from mmexam.cli import app

    roster = write_roster(tmp_path / "roster.csv", {"2001": RUNIC, "2002": "Ada Lovelace"})
    args = ["build", str(SMALL_BANK), "--roster", str(roster), "--format", "pdf"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert "student 2001" in line and "Runic" in line
