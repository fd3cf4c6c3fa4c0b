"""Every CSV mmexam writes, written one way: cells a spreadsheet cannot run as formulas.

A grades file or a review sheet is opened in Excel, LibreOffice or Google
Sheets, and some of its cells hold text a student chose (an answer, a name).
A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read
as a formula by those programs (CSV injection). The OWASP rule
(owasp.org/www-community/attacks/CSV_Injection) is applied here: such a cell
is written with a single quote in front, which the spreadsheet shows as text;
the `csv` module quotes any cell that holds the delimiter, a quote or a line
break, so no cell can spill into the next. Numbers are written as numbers
(`-1` is a number, not a formula). `read_cell` undoes the quote for cells
mmexam reads back (the review sheets), so a comment survives a round trip.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a cell may not start with (OWASP, CSV injection)."""

Cell = str | int | float | None


def safe_cell(value: Cell) -> str:
    """A cell as a spreadsheet shows it, never a formula it would run."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = str(value)
    # text that already starts with quotes before a formula gets one more, so that
    # read_cell gives back exactly what was written
    return "'" + text if text.lstrip("'").startswith(FORMULA_START) else text


def read_cell(text: str) -> str:
    """A cell read back from a CSV mmexam wrote: the guarding quote removed again."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START):
        return text[1:]
    return text


def csv_text(rows: Iterable[Sequence[Cell]], *, delimiter: str = ",") -> str:
    """The CSV text of `rows` (the first is the header), every cell through `safe_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", delimiter=delimiter)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
