"""`mmexam scan`: every page read (in worker processes), grouped into papers, written out.

Output under `out/`:
    <id>/answers.yaml     as `mmexam grade` reads it (only once every doubt is settled)
    <id>/scan.json        every box's darkness and decision, what a person settled
    <id>/crops/<n>.png    each written-answer region, by printed number
    <id>/zooms/*.png      each doubtful box, magnified
    resolve.csv           one row per doubt: fill in `answer`, run `mmexam scan resolve`
    scan-report.html      doubts, unreadable pages, missing and twice-scanned pages
    problems.json         the pages that could not be used (for the report after resolve)

Pages of a roster build may come in any order. Pages of an anonymous version
(`build --variants`) name only their version, so each paper's pages must be
scanned together, cover first (as a sheet feeder does): a cover starts a
paper, and the pages after it belong to it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmexam.errors import MmexamError
from mmexam.exam import Manifest
from mmexam.paperlayout import ExamLayout, PaperLayout
from mmexam.scan.boxes import Thresholds
from mmexam.scan.model import ItemInfo, PageSeen, PaperScan, Problem
from mmexam.scan.pages import DEFAULT_DPI, BadInput, unit_pages, units
from mmexam.scan.read import PageFailed, PageRead, read_page
from mmexam.scan.settle import finish


class ScanError(MmexamError):
    """Scanning could not start (no layout.json, an empty scan list...)."""


@dataclass
class ScanResult:
    """What a scan found and wrote."""

    out: Path
    pages: int = 0  # pages looked at (blank backs included)
    papers: list[PaperScan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blanks: int = 0
    doubts: int = 0
    written: list[str] = field(default_factory=list)  # folders with an answers.yaml
    waiting: list[str] = field(default_factory=list)  # folders whose answers wait for a person
    seconds: float = 0.0


def load_build(build: Path) -> tuple[ExamLayout, Manifest]:
    """layout.json and variants.json of a build; a ScanError that says how to get them."""
    layout_path, manifest_path = build / "layout.json", build / "variants.json"
    for path in (layout_path, manifest_path):
        if not path.is_file():
            raise ScanError(
                f"{path}: not found — pass the folder `mmexam build --out` wrote (PDF papers "
                "carry layout.json since they have corner marks and codes)"
            )
    try:
        layout = ExamLayout.model_validate_json(layout_path.read_bytes())
        manifest = Manifest.model_validate_json(manifest_path.read_bytes())
    except ValueError as error:
        raise ScanError(f"{build}: layout.json or variants.json is damaged ({error})") from None
    return layout, manifest


# ---------------------------------------------------------------- workers

_state: dict = {}


def _init(layout: ExamLayout, limits: Thresholds, dpi: int) -> None:
    papers = {(p.id, p.anonymous): p for p in layout.papers}
    _state.update(layout=layout, papers=papers, limits=limits, dpi=dpi)


def _work(unit) -> list[PageRead | PageFailed]:
    if isinstance(unit, BadInput):
        return [PageFailed(unit.source, unit.message)]
    out: list[PageRead | PageFailed] = []
    for page in unit_pages(unit, _state["dpi"]):
        if isinstance(page, BadInput):
            out.append(PageFailed(page.source, page.message))
        else:
            out.append(read_page(page, _state["layout"], _state["papers"], _state["limits"]))
    return out


def read_all(scans: list[Path], layout: ExamLayout, limits: Thresholds, dpi: int, jobs: int):
    """Every page's outcome, in the order the pages were given."""
    work = list(units(scans))
    if jobs <= 1 or len(work) < 4:
        _init(layout, limits, dpi)
        for unit in work:
            yield from _work(unit)
        return
    # fork: the workers share the loaded layout; nothing here holds threads yet.
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=_init, initargs=(layout, limits, dpi)) as pool:
        for outcome in pool.imap(_work, work, chunksize=2):
            yield from outcome


# ---------------------------------------------------------------- grouping


class Papers:
    """Pages gathered into papers as they come, their pictures written as they come."""

    def __init__(self, out: Path, layout: ExamLayout, manifest: Manifest) -> None:
        self.out = out
        self.layouts = {(p.id, p.anonymous): p for p in layout.papers}
        self.students = {s.id: s for s in manifest.students}
        self.scans: dict[str, PaperScan] = {}
        self.stacks: dict[str, str] = {}  # anonymous version -> the paper its last cover began
        self.problems: list[Problem] = []

    def _new(self, key: str, paper: PaperLayout) -> PaperScan:
        student = self.students.get(paper.id)
        items = [
            ItemInfo(number=i.number, kind=i.kind, options=len(i.options or []))
            for i in (student.items if student else [])
        ]
        scan = PaperScan(
            folder=key,
            student=None if paper.anonymous else paper.id,
            variant=paper.variant,
            anonymous=paper.anonymous,
            paper=paper.id,
            pages=len(paper.pages),
            items=items,
        )
        self.scans[key] = scan
        shutil.rmtree(self.out / key, ignore_errors=True)
        return scan

    def _key(self, read: PageRead) -> str | None:
        if not read.anonymous:
            return read.paper
        if read.page == 1:
            count = sum(1 for s in self.scans.values() if s.anonymous and s.paper == read.paper)
            key = f"unread-{read.paper}-{count + 1}"
            self.stacks[read.paper] = key
            return key
        stack = self.stacks.get(read.paper)
        if stack is None or any(s.page >= read.page for s in self.scans[stack].seen):
            self.problems.append(
                Problem(
                    read.source,
                    f"page {read.page} of version {read.paper} does not follow a cover of that "
                    "version (or comes after a later page): whose it is cannot be told — scan "
                    "each paper's pages together, cover first",
                )
            )
            return None
        return stack

    def add(self, read: PageRead) -> None:
        key = self._key(read)
        if key is None:
            return
        scan = self.scans.get(key) or self._new(key, self.layouts[(read.paper, read.anonymous)])
        earlier = next((s for s in scan.seen if s.page == read.page), None)
        if earlier is not None:
            self._twice(scan, read, earlier.source)
            return
        scan.seen.append(
            PageSeen(
                page=read.page,
                source=read.source,
                marks_found=read.marks_found,
                trusted=read.trusted,
                note=read.note,
            )
        )
        folder = self.out / key
        for n, box in enumerate(read.boxes):
            if n in read.zooms:
                box.zoom = self._save(
                    folder,
                    "zooms",
                    f"p{read.page}-{box.number}-{box.column}-{box.index}",
                    read.zooms[n],
                )
            scan.boxes.append(box)
        for number, data in read.crops:
            scan.crops.setdefault(number, []).append(self._save(folder, "crops", number, data))

    def _twice(self, scan: PaperScan, read: PageRead, first: str) -> None:
        """A page scanned twice: the first kept; a box read differently becomes a doubt."""
        scan.duplicates.append(f"page {read.page}: {first} and {read.source}")
        kept = {(b.number, b.column, b.index): b for b in scan.boxes if b.page == read.page}
        for n, box in enumerate(read.boxes):
            mine = kept.get((box.number, box.column, box.index))
            if mine is not None and mine.decision != box.decision:
                mine.decision = "ambiguous"
                if mine.zoom is None and n in read.zooms:
                    name = f"p{read.page}-{box.number}-{box.column}-{box.index}"
                    mine.zoom = self._save(self.out / scan.folder, "zooms", name, read.zooms[n])

    @staticmethod
    def _save(folder: Path, kind: str, name: str, data: bytes) -> str:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        path, n = folder / kind / f"{name}.png", 1
        while path.exists():
            n += 1
            path = folder / kind / f"{name}-{n}.png"
        path.write_bytes(data)
        return f"{kind}/{path.name}"


def scan_papers(
    scans: list[Path],
    build: Path,
    out: Path,
    *,
    limits: Thresholds | None = None,
    dpi: int = DEFAULT_DPI,
    jobs: int | None = None,
) -> ScanResult:
    """Read scanned papers into answers (see the module's docstring)."""
    started = time.perf_counter()
    limits = limits or Thresholds()
    try:
        limits.check()
    except ValueError as error:
        raise ScanError(str(error)) from None
    if not scans:
        raise ScanError("no scans given — pass PDF or image files (or folders of them)")
    missing = [str(p) for p in scans if not p.exists()]
    if missing:
        raise ScanError(f"{missing[0]}: not found — check the path")
    layout, manifest = load_build(build)
    out.mkdir(parents=True, exist_ok=True)
    papers = Papers(out, layout, manifest)
    result = ScanResult(out)
    workers = max(1, jobs or os.cpu_count() or 1)
    for outcome in read_all(scans, layout, limits, dpi, workers):
        result.pages += 1
        if isinstance(outcome, PageRead):
            papers.add(outcome)
        elif outcome.blank:
            result.blanks += 1
        else:
            papers.problems.append(Problem(outcome.source, outcome.message, outcome.thumbnail))
    (out / "problems.json").write_text(
        json.dumps([p.to_json() for p in papers.problems], indent=1) + "\n"
    )
    finish(out, list(papers.scans.values()), papers.problems, result)
    result.seconds = time.perf_counter() - started
    return result
