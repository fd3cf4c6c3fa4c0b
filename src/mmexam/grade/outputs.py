"""Write what a grading run produces, from the cached results and the review sheets.

`finish` lays the TAs' review points over the results, refreshes the sheets
in manual/, and writes under the output folder:

- `grades.csv`: one row per student (id, name, variant, points per part,
  total, bonus, pending, status);
- `students/<id>/feedback.html` and `students/<id>/results.json` (Gradescope);
- `report.html`: the class report with its plots.

Every file is a pure function of the results and the sheets, written
atomically and only when its bytes change, so an interrupted run followed by
a re-run leaves exactly the files an uninterrupted run leaves.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from mmexam.grade import manual
from mmexam.grade.gradescope import to_gradescope
from mmexam.grade.results import RunInfo, StudentResult, atomic_write
from mmexam.grade.scoring import fmt_points


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` atomically unless the file already holds exactly it."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write(path, data)
    return True


def grades_csv(info: RunInfo, results: list[StudentResult]) -> str:
    """grades.csv: points per (non-bonus) part, the total out of total_points, the bonus."""
    parts = [p for p in info.parts if not p.bonus]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "id",
            "name",
            "variant",
            *[p.id for p in parts],
            f"total (of {fmt_points(info.total_points)})",
            "bonus",
            "pending",
            "status",
        ]
    )
    for r in results:
        writer.writerow(
            [
                r.id,
                r.name or "",
                r.variant or "",
                *[fmt_points(r.part_points(p.id)) for p in parts],
                fmt_points(r.total),
                fmt_points(r.bonus_total),
                r.pending,
                r.status,
            ]
        )
    return out.getvalue()


def finish(summary, out: Path, manual_dir: Path, sheets: dict) -> object:
    """Apply reviews and write every output; returns the summary with reviewed results."""
    from mmexam.grade.feedback import render_feedback
    from mmexam.grade.report import render_report

    raw = summary.results
    reviewed, notes = manual.apply_reviews(raw, sheets)
    written = manual.write_sheets(manual_dir, raw, sheets)
    info: RunInfo = summary.info
    write_if_changed(out / "grades.csv", grades_csv(info, reviewed))
    for result in reviewed:
        folder = out / "students" / result.id
        write_if_changed(folder / "feedback.html", render_feedback(info, result))
        gradescope = json.dumps(to_gradescope(result), indent=1, ensure_ascii=False) + "\n"
        write_if_changed(folder / "results.json", gradescope)
    write_if_changed(out / "report.html", render_report(info, reviewed, review_notes=notes))
    summary.results = reviewed
    summary.notes = list(summary.notes) + notes
    summary.outputs = {
        "grades": out / "grades.csv",
        "report": out / "report.html",
        "students": out / "students",
    }
    if written:
        summary.outputs["manual"] = manual_dir
    return summary
