"""Write what a grading run produces, from the cached results and the review sheets.

`finish` lays the TAs' review points over the results, refreshes the sheets
in manual/, and writes under the output folder:

- `grades.csv`: one row per roster student (id, name, variant, points per
  part, total, bonus, pending, status; "no submission" for a student who sent
  nothing, "no paper" for a submission that named no usable version);
- `off-roster.csv`: the submissions that match nobody on the roster, apart;
- `students/<id>/feedback.html` and `students/<id>/results.json` (Gradescope);
- `report.html`: the class report with its plots.

Every file is a pure function of the results and the sheets, written
atomically and only when its bytes change, so an interrupted run followed by
a re-run leaves exactly the files an uninterrupted run leaves.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmexam.csvcells import Cell, csv_text
from mmexam.files import atomic_write
from mmexam.fmt import fmt_points
from mmexam.grade import manual
from mmexam.grade.gradescope import to_gradescope
from mmexam.grade.results import GradeSummary, RunInfo, StudentResult


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


STATUS_ABSENT = "no submission"
STATUS_NO_PAPER = "no paper"


def grades_header(info: RunInfo) -> list[Cell]:
    """The columns of grades.csv (and off-roster.csv)."""
    parts = [p.id for p in info.parts if not p.bonus]
    total = f"total (of {fmt_points(info.total_points)})"
    return ["id", "name", "variant", *parts, total, "bonus", "pending", "status"]


def grade_row(info: RunInfo, r: StudentResult) -> list[Cell]:
    """One student's row: points per (non-bonus) part, total, bonus, pending, status. A
    submission that could not be matched to a paper has no points, and says why."""
    parts = [p for p in info.parts if not p.bonus]
    if not r.on_paper:
        return [r.id, r.name or "", "", *["" for _ in parts], "", "", "", STATUS_NO_PAPER]
    return [
        r.id,
        r.name or "",
        r.variant or "",
        *[fmt_points(r.part_points(p.id)) for p in parts],
        fmt_points(r.total),
        fmt_points(r.bonus_total),
        r.pending,
        r.status,
    ]


def grades_csv(info: RunInfo, results: list[StudentResult]) -> str:
    """grades.csv: every roster student in roster order (else every paper's student, by id),
    a row with status 'no submission' for those who submitted nothing; submissions that match
    nobody on the roster are not here but in off-roster.csv."""
    by_id = {r.id: r for r in results}
    width = len(grades_header(info))
    rows: list[list[Cell]] = [list(grades_header(info))]
    order: list[tuple[str, str | None]]
    if info.roster is not None:
        order = [(e.id, e.name) for e in info.roster.entries]
    else:
        named = {r.id: r.name for r in results}
        ids = sorted({*by_id, *info.absent} - set(info.off_roster))
        order = [(i, named.get(i)) for i in ids]
    for sid, name in order:
        if sid in by_id:
            rows.append(grade_row(info, by_id[sid]))
        else:
            rows.append([sid, name or "", *[""] * (width - 3), STATUS_ABSENT])
    return csv_text(rows)


def off_roster_csv(info: RunInfo, results: list[StudentResult]) -> str:
    """off-roster.csv: the submissions no roster student matched, graded as far as possible,
    with what went wrong (the did-you-mean among it)."""
    rows: list[list[Cell]] = [[*grades_header(info), "problem"]]
    for r in results:
        if r.id in info.off_roster:
            rows.append([*grade_row(info, r), r.problems[-1].line() if r.problems else ""])
    return csv_text(rows)


def finish(summary: GradeSummary, out: Path, manual_dir: Path, sheets: dict) -> GradeSummary:
    """Apply reviews and write every output; returns the summary with reviewed results."""
    from mmexam.grade.feedback import render_feedback
    from mmexam.grade.report import render_report

    raw = summary.results
    reviewed, notes = manual.apply_reviews(raw, sheets)
    written = manual.write_sheets(manual_dir, raw, sheets)
    info: RunInfo = summary.info
    write_if_changed(out / "grades.csv", grades_csv(info, reviewed))
    off_roster = out / "off-roster.csv"
    if info.off_roster:
        write_if_changed(off_roster, off_roster_csv(info, reviewed))
    else:
        off_roster.unlink(missing_ok=True)
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
        **({"off-roster": off_roster} if info.off_roster else {}),
        "report": out / "report.html",
        "students": out / "students",
    }
    if written:
        summary.outputs["manual"] = manual_dir
    return summary
