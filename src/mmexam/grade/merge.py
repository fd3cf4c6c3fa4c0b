"""`mmexam grade merge`: join the results of `--shard K/N` runs and write everyone's outputs.

Each shard run leaves `shard-K-of-N.json` (its `RunInfo`) and one result per
student in its --out folder. Merging checks that every shard of one split is
there, graded against the same variants.json, copies the results into one
folder, and writes the outputs as a whole run would.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from mmexam.errors import GradeError
from mmexam.files import atomic_write
from mmexam.grade.engine import run_info_path
from mmexam.grade.results import (
    GradeSummary,
    RunInfo,
    StudentResult,
    dump_json,
    load_result,
    result_path,
    save_result,
)

Shards = dict[int, tuple[RunInfo, Path]]  # K -> (its record, its folder)


def merge_shards(
    shard_dirs: list[Path], out: Path, manual_dir: Path, review_database: str | None = None
) -> GradeSummary:
    """Join the results of `--shard K/N` runs and write the outputs for everyone
    (`review_database`: the SQLAlchemy URL of `mmexam review --database`, if not out/)."""
    from mmexam.grade import manual, outputs, review_state

    infos, total = _read_shards(shard_dirs)
    missing = [k for k in range(1, total + 1) if k not in infos]
    if missing:
        raise GradeError(
            "missing shard(s) "
            + ", ".join(f"{k}/{total}" for k in missing)
            + " — grade them with `mmexam grade --shard K/N` and pass their folders"
        )
    if len({info.manifest for info, _ in infos.values()}) > 1:
        raise GradeError(
            "the shards were graded against different variants.json files — "
            "grade every shard with the same build"
        )
    results = _gather_results(infos, total, out)
    first = infos[min(infos)][0]
    warnings = sorted({w for info, _ in infos.values() for w in info.warnings})
    absent = sorted({a for info, _ in infos.values() for a in info.absent})
    off_roster = sorted({o for info, _ in infos.values() for o in info.off_roster})
    info = first.model_copy(
        update={
            "shard": None,
            "students": sorted(results),
            "warnings": warnings,
            "absent": absent,
            "off_roster": off_roster,
        }
    )
    atomic_write(run_info_path(out, None), dump_json(info))
    max_points: dict[str, float] = {}
    for result in results.values():
        for item in result.items:
            if item.kind in ("short_answer", "open"):
                max_points[item.review_key] = max(
                    max_points.get(item.review_key, 0), item.max_points
                )
    sheets = manual.read_sheets(manual_dir, max_points)
    summary = GradeSummary(info=info, results=[results[i] for i in sorted(results)], notes=warnings)
    # the review database (`mmexam review`) is the source of TAs' decisions, as in a whole run
    summary.results, sheets = review_state.overlay(
        summary.results, sheets, review_state.load_saved(out, review_database)
    )
    return outputs.finish(summary, out, manual_dir, sheets)


def _read_shards(shard_dirs: list[Path]) -> tuple[Shards, int]:
    """Every shard record in the folders, by K, and the N they share."""
    infos: Shards = {}
    total = None
    for folder in shard_dirs:
        found = sorted(folder.glob("shard-*-of-*.json"))
        if not found:
            raise GradeError(
                f"{folder}: no shard-K-of-N.json — pass the --out folders of "
                "`mmexam grade --shard K/N` runs"
            )
        for path in found:
            try:
                info = RunInfo.model_validate_json(path.read_text(encoding="utf-8"))
            except (ValidationError, OSError, UnicodeDecodeError) as error:
                raise GradeError(
                    f"{path}: unreadable shard record ({error.__class__.__name__}) — "
                    "grade that shard again"
                ) from None
            if info.shard is None:
                raise GradeError(
                    f"{path}: a whole run's record, not a shard's — grade with --shard"
                )
            k, n = info.shard
            if total is not None and n != total:
                raise GradeError(f"{path}: shard {k}/{n} does not belong with shards of {total}")
            total = n
            if k in infos and infos[k][0].manifest != info.manifest:
                raise GradeError(
                    f"{path}: shard {k}/{n} appears twice with different variants.json"
                )
            infos[k] = (info, folder)
    return infos, total or 0


def _gather_results(infos: Shards, total: int, out: Path) -> dict[str, StudentResult]:
    """Every shard's results, copied into `out` when they live elsewhere."""
    results: dict[str, StudentResult] = {}
    for k in sorted(infos):
        info, folder = infos[k]
        for sid in info.students:
            result = load_result(result_path(folder, sid))
            if result is None:
                raise GradeError(
                    f"{result_path(folder, sid)}: missing or unreadable — grade shard "
                    f"{k}/{total} again"
                )
            results[sid] = result
            if folder.resolve() != out.resolve():
                save_result(out, result)
    return results
