"""How well and how fast does `mmexam scan` read scanned papers? Synthetic scans with known truth.

    python benchmarks/scan_accuracy.py                # 1,000 pages
    python benchmarks/scan_accuracy.py --pages 100    # a short run

1. The shipped bank is built for a roster of as many students as the pages
   need (`mmexam build`, PDF only, no keys; about 15 pages a paper): real
   pages, 10-24 tick boxes on the multiple-choice pages. Each synthetic page
   is a different page of a different paper, so none is a duplicate.
2. `--pages` synthetic scans are drawn from those pages by the generator of
   the tests (tests/scan/synth.py): per question none, one or two boxes
   marked, each in a style drawn from tick, cross, shaded, light pencil,
   filled in (to cancel), a stray mark beside the box; then scanned at 150,
   200 or 300 dpi, rotated up to ±4°, scaled ±3%, shifted ±4 mm, blurred,
   noisy, JPEG at quality 40 or 75 or lossless, 15% upside down; files in
   shuffled order.
3. `mmexam scan` (`scan_papers`, 2 worker processes) reads them. Every box's
   decision is compared with what was drawn: **box accuracy** (right
   decisions / boxes), **ambiguous rate** (left to a person) and **silent
   error rate** (a wrong decision not flagged; goal 0).
4. Baseline in the same run, on the same pages: one fixed threshold (AMC's
   black-pixel ratio 0.15; ticked above, empty below, no cancel, no doubt)
   at each box's nominal position (the page assumed to lie straight on the
   scanner at its dpi), i.e. without alignment.
5. Speed at 200 dpi: the 200-dpi pages (up to 300) bundled as PDFs of
   scanned images, read with `--dpi 200` on 2 workers: pages per second
   end to end (goal >= 10), against rasterising and decoding the same PDFs
   alone on 2 workers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "scan"))

import synth
from PIL import Image

from mmexam.build import build_exam
from mmexam.paperlayout import ExamLayout
from mmexam.scan import scan_papers
from mmexam.scan.boxes import darkness, paper_white
from mmexam.scan.pages import unit_pages, units

_job: dict = {}


def _init(build: Path, folder: Path) -> None:
    import pypdfium2 as pdfium

    layout = ExamLayout.model_validate_json((build / "layout.json").read_text())
    _job.update(layout=layout, folder=folder, pdfs={}, pdfium=pdfium, build=build)


def _draw(task: tuple[int, int]) -> tuple[str, str, int, int, dict, dict]:
    """One synthetic page: (file, paper, page, dpi, truth, how)."""
    n, seed = task
    rng = random.Random(seed)
    layout = _job["layout"]
    paper, page = [(p, pg) for p in layout.papers for pg in p.pages][n]
    pdfs = _job["pdfs"]
    if paper.id not in pdfs:
        path = _job["build"] / "students" / paper.id / "exam.pdf"
        pdfs[paper.id] = _job["pdfium"].PdfDocument(str(path))
    how = synth.Degrade.random(rng)
    clean = synth.render(pdfs[paper.id], page.page - 1, how.dpi)
    marked = synth.mark_page(clean, page, how.dpi / 72, rng)
    image = synth.degrade(marked.image, how, how.dpi, rng)
    path = synth.save(image, _job["folder"] / f"{n:05d}", how)
    truth = {f"{k[0]}|{k[1]}|{k[2]}": v for k, v in marked.truth.items()}
    return str(path), paper.id, page.page, how.dpi, truth, how.__dict__


def baseline(path: Path, page, dpi: int) -> dict[tuple[str, int, int], str]:
    """One fixed threshold at the nominal positions: no alignment, no doubt."""
    image = np.asarray(Image.open(path).convert("L"))
    scale = dpi / 72
    bed = synth.BED * scale
    matrix = np.array([[scale, 0.0, bed], [0.0, scale, bed]])
    values = darkness(image, matrix, list(page.boxes), paper_white(image), 0.55)
    return {
        (b.number, b.column, b.index): ("ticked" if v >= 0.15 else "empty")
        for b, v in zip(page.boxes, np.nan_to_num(values))
    }


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the scan's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _raster(unit) -> int:
    return sum(1 for _ in unit_pages(unit, 200))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the scans and results here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="scan-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    build = work / "build"
    started = time.perf_counter()
    students = -(-args.pages // 14)
    if not (build / "layout.json").is_file():
        roster = work / "roster.csv"
        roster.write_text("id,name\n" + "".join(f"b{n:05d},Student {n}\n" for n in range(students)))
        build_exam(
            ROOT / "question_bank", build, roster=roster, formats=["pdf"], key=False, jobs=args.jobs
        )
    print(f"build: {time.perf_counter() - started:.1f} s")
    raw = work / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir()
    started = time.perf_counter()
    tasks = [(n, args.seed * 1_000_003 + n) for n in range(args.pages)]
    context = multiprocessing.get_context("fork")
    with context.Pool(args.jobs, initializer=_init, initargs=(build, raw)) as pool:
        drawn = pool.map(_draw, tasks, chunksize=8)
    print(f"drew {len(drawn)} synthetic pages in {time.perf_counter() - started:.1f} s")
    files = [Path(d[0]) for d in drawn]
    random.Random(args.seed).shuffle(files)

    started, cpu = time.perf_counter(), cpu_seconds()
    result = scan_papers(files, build, work / "scans", jobs=args.jobs)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    figures(result, drawn, build, seconds)
    print(
        f"  CPU {cpu / result.pages * 1000:.0f} ms per page: "
        f"{args.jobs / (cpu / result.pages):.1f} pages/s on {args.jobs} unshared cores"
    )
    speed(drawn, build, work, args.jobs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def figures(result, drawn, build: Path, seconds: float) -> None:
    layout = ExamLayout.model_validate_json((build / "layout.json").read_text())
    pages = {(p.id, pg.page): pg for p in layout.papers for pg in p.pages}
    truth_by_source = {d[0]: d for d in drawn}
    boxes = right = ambiguous = silent = 0
    base_right = base_silent = 0
    # Each synthetic file is one scan of its page; a page drawn twice is a duplicate
    # (the first is kept), so compare each paper's kept reading with the kept file's truth.
    for scan in result.papers:
        for seen in scan.seen:
            source = truth_by_source[seen.source]
            truth = source[4]
            page_boxes = [b for b in scan.boxes if b.page == seen.page]
            base = baseline(Path(seen.source), pages[(scan.paper, seen.page)], source[3])
            for box in page_boxes:
                want = truth[f"{box.number}|{box.column}|{box.index}"]
                boxes += 1
                if box.decision == "ambiguous":
                    ambiguous += 1
                elif box.decision == want:
                    right += 1
                else:
                    silent += 1
                    print(
                        f"  silent error: {seen.source} {box.number} {box.index}: drawn {want}, "
                        f"read {box.decision} ({box.darkness})"
                    )
                got = base[(box.number, box.column, box.index)]
                if got == want:
                    base_right += 1
                else:
                    base_silent += 1
    unread = len(result.problems)
    print(f"\npages: {result.pages} read, {unread} not identified, {len(result.papers)} papers")
    for problem in result.problems:
        print(f"  not identified: {problem.source}: {problem.message}")
    print(f"boxes: {boxes}")
    print(
        f"mmexam scan:  box accuracy {right / boxes:.4f}, ambiguous {ambiguous / boxes:.4f}, "
        f"silent errors {silent} ({silent / boxes:.5f})"
    )
    print(
        f"baseline (one threshold 0.15, no alignment): accuracy {base_right / boxes:.4f}, "
        f"silent errors {base_silent} ({base_silent / boxes:.4f})"
    )
    print(f"mmexam scan end to end (images, mixed dpi): {result.pages / seconds:.1f} pages/s")


def speed(drawn, build: Path, work: Path, jobs: int) -> None:
    """Pages per second at 200 dpi: PDFs of scanned images, end to end and rasterise-only."""
    chosen = [Path(d[0]) for d in drawn if d[3] == 200][:300]
    if not chosen:
        return
    bundles = work / "pdf200"
    shutil.rmtree(bundles, ignore_errors=True)
    bundles.mkdir()
    for n in range(0, len(chosen), 25):
        images = [Image.open(p).convert("L") for p in chosen[n : n + 25]]
        images[0].save(
            bundles / f"{n:04d}.pdf", save_all=True, append_images=images[1:], resolution=200
        )
    started, cpu = time.perf_counter(), cpu_seconds()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        count = sum(pool.map(_raster, list(units([bundles]))))
    raster, raster_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    started, cpu = time.perf_counter(), cpu_seconds()
    scan_papers([bundles], build, work / "scans200", dpi=200, jobs=jobs)
    full, full_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(
        f"\n200 dpi PDFs ({count} pages, {jobs} workers), wall clock on this machine: "
        f"mmexam scan {count / full:.1f} pages/s; baseline rasterise + decode only "
        f"{count / raster:.1f} pages/s"
    )
    print(
        f"  CPU per page: mmexam scan {full_cpu / count * 1000:.0f} ms, rasterise only "
        f"{raster_cpu / count * 1000:.0f} ms: on {jobs} unshared cores "
        f"{jobs * count / full_cpu:.1f} and {jobs * count / raster_cpu:.1f} pages/s"
    )


if __name__ == "__main__":
    main()
