"""Fonts for students' names in any script, and a warning where none can print one.

The paper's text is set in the fonts embedded in Typst (Libertinus Serif,
New Computer Modern, DejaVu Sans Mono), which cover Latin, Greek and
Cyrillic but not Chinese, and print Arabic or Devanagari only in a fallback
font, if at all. The optional `fonts` extra (`pip install 'mmexam[fonts]'`)
installs Noto Sans for Chinese, Japanese, Korean, Arabic, Hebrew and the
main Indic scripts (OFL, from the JustMyType packs). They are loaded into
Typst (`font_paths`) only when a roster name needs them, and a name is set
in `PERSON_FAMILIES`: Libertinus Serif first, a Noto family for what it
lacks; Typst shapes each run (joined Arabic, right to left; Devanagari
conjuncts).

Whether a font has a glyph is asked of Typst itself: the names' characters
are typeset, one page each, and a page that shows glyph 0 (.notdef, the
empty box) is a character no loaded font has.
"""

from __future__ import annotations

import importlib.util
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from mmexam.build.render import compile_pdf, typst_str

# The packages of the `fonts` extra, each with its fonts under fonts/.
FONT_PACKAGES = ("justmytype_intl_cjk", "justmytype_intl_rtl", "justmytype_intl_south_asia")
BODY_FAMILY = "Libertinus Serif"
PERSON_FAMILIES = (
    BODY_FAMILY,
    "Noto Sans SC",
    "Noto Sans TC",
    "Noto Sans JP",
    "Noto Sans KR",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans Bengali",
    "Noto Sans Tamil",
    "Noto Sans Telugu",
)
INSTALL = "pip install 'mmexam[fonts]'"
SCRIPT_NAMES = {"CJK": "Chinese (Han)"}


@dataclass(frozen=True)
class NameFonts:
    """The font folders a build loads for its names (none when the embedded fonts do), the
    families a name is set in, and a warning for each name that would not print."""

    dirs: tuple[str, ...] = ()
    families: tuple[str, ...] = (BODY_FAMILY,)
    warnings: tuple[str, ...] = ()


EMBEDDED = NameFonts()  # Typst's own fonts: what a paper uses unless a name needs more


def font_dirs() -> tuple[str, ...]:
    """The font folders of the installed packages of the `fonts` extra."""
    dirs = []
    for package in FONT_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location) / "fonts"
            if folder.is_dir():
                dirs.append(str(folder))
    return tuple(dirs)


def script(char: str) -> str:
    """A character's script, as Unicode names it ("Arabic", "Devanagari", "Chinese (Han)")."""
    word = unicodedata.name(char, "UNKNOWN").split()[0]
    return SCRIPT_NAMES.get(word, word.title())


def notdef_pages(pdf: bytes) -> set[int]:
    """The pages (1-based) of a PDF that show glyph 0, the missing-glyph box, in a
    two-byte (Identity-H) font, as Typst writes every font; forms on the page included."""
    found = set()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for number, page in enumerate(document.pages, start=1):
            streams: list[pikepdf.Object] = [page.obj]
            resources = page.obj.get("/Resources")
            xobjects = resources.get("/XObject") if resources is not None else None
            if xobjects is not None:
                streams += [xobjects[str(name)] for name in xobjects]
            if any(_shows_notdef(stream) for stream in streams):
                found.add(number)
    return found


def _shows_notdef(stream: pikepdf.Object) -> bool:
    for instruction in pikepdf.parse_content_stream(stream):
        if not isinstance(instruction, pikepdf.ContentStreamInstruction):
            continue  # an inline image
        operator, operands = str(instruction.operator), instruction.operands
        if operator not in ("Tj", "TJ", "'", '"') or not operands:
            continue
        items = operands[-1] if operator == "TJ" else [operands[-1]]
        for item in items:
            if isinstance(item, pikepdf.String):
                data = bytes(item)
                if any(data[i : i + 2] == b"\0\0" for i in range(0, len(data) - 1, 2)):
                    return True
    return False


def missing(
    chars: list[str], dirs: tuple[str, ...], families: tuple[str, ...], fallback: bool
) -> set[str]:
    """The characters that the fonts (the embedded ones and those in `dirs`) cannot print
    in `families` (and, with `fallback`, in any other loaded font)."""
    if not chars:
        return set()
    font = "(" + "".join(f"{typst_str(f)}, " for f in families) + ")"
    pages = [
        f"#page(width: auto, height: auto, margin: 1pt, text(font: {font}, "
        f"fallback: {'true' if fallback else 'false'}, {typst_str(char)}))"
        for char in chars
    ]
    pdf = compile_pdf("\n".join(pages) + "\n", "the roster's names", dirs)
    return {chars[n - 1] for n in notdef_pages(pdf)}


def name_fonts(names: list[tuple[str, str]]) -> NameFonts:
    """The fonts that print every name of `(student id, name)`, and a one-line warning for
    each name that they cannot print (naming the student and the script)."""
    chars = sorted({c for _, name in names for c in name if ord(c) > 0x7E and not c.isspace()})
    beyond = missing(chars, (), (BODY_FAMILY,), fallback=False)
    if not beyond:
        return EMBEDDED
    dirs = font_dirs()
    if dirs:
        absent = missing(sorted(beyond), dirs, PERSON_FAMILIES, fallback=True)
        advice = "no font of mmexam's covers it — the name prints as empty boxes"
    else:
        absent = missing(sorted(beyond), (), (BODY_FAMILY,), fallback=True)
        advice = f"it prints as empty boxes — install the fonts: {INSTALL}"
    warnings = []
    for student, name in names:
        lacking = [c for c in dict.fromkeys(name) if c in absent]
        fallback = [c for c in dict.fromkeys(name) if c in beyond and c not in absent]
        if lacking:
            scripts = ", ".join(dict.fromkeys(script(c) for c in lacking))
            warnings.append(
                f"roster: student {student} ({name}): no glyphs for its {scripts} script, {advice}"
            )
        elif fallback and not dirs:
            scripts = ", ".join(dict.fromkeys(script(c) for c in fallback))
            warnings.append(
                f"roster: student {student} ({name}): its {scripts} script prints in a "
                f"fallback font that may not shape it — install the fonts: {INSTALL}"
            )
    if dirs:
        return NameFonts(dirs, PERSON_FAMILIES, tuple(warnings))
    return NameFonts(warnings=tuple(warnings))
