"""`mmexam build`: the bank in; papers, keys, variants.json and starter code out.

One paper per student (`--roster`), per anonymous version (`--variants N`),
or a single version A by default. Papers are made in batches of `BATCH`:
draw each paper (`variants`), make its views (`view`), cut them into pieces
and typeset every distinct piece of the batch once in a fragment library
(`layout`, one Typst compile), break each paper's exam and key into pages
of those pieces (`layout`) and write their PDFs (`compose`); the HTML pages
are rendered from the views by their templates. Batches are spread over worker
processes, each with its own compiled templates and Typst compiler, started
with "spawn": a Typst compiler that has run in a process owns threads, and
forking it deadlocks. Which papers share a batch depends on the roster
alone, so the files are the same byte for byte whatever the number of workers.

Output layout under `out/`:
    exam.pdf exam.html key.pdf key.html      the default single version
    versions/<A..>/exam.pdf ...              --variants N
    students/<id>/exam.pdf ...               --roster
    variants.json                            the manifest grading reads
    starter/<task>.py, starter/README.md     the code students start from
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmexam import markup
from mmexam.bank import load_bank
from mmexam.build import sheet
from mmexam.build.compose import Library, write_pdf
from mmexam.build.fonts import EMBEDDED, NameFonts, name_fonts
from mmexam.build.layout import (
    GEOMETRY,
    Block,
    Fragments,
    Placement,
    decorate,
    furniture,
    paginate,
    paper_flow,
    place_labels,
)
from mmexam.build.render import compile_pdf, templates
from mmexam.build.roster import read_roster
from mmexam.build.starter import starter_text, student_readme
from mmexam.build.variants import draw_paper, version_letters
from mmexam.build.view import paper_view
from mmexam.errors import BuildError, MmexamError
from mmexam.exam import Manifest, Paper, Student, content_hash
from mmexam.paperlayout import PaperLayout
from mmexam.paths import GRADERS, TEMPLATES

FORMATS = ("pdf", "html")
# Below this many papers, starting worker processes costs more than it saves.
PARALLEL_FROM = 6
# Papers per fragment library, at most: more share more typesetting, fewer spread better
# over the workers (`batches` makes at least four). A 300-student roster on two cores took
# 37-46 ms per student in batches of 50, 30-34 ms in batches of 75 (benchmarks/build_roster.py).
BATCH = 100


@dataclass(frozen=True)
class PaperJob:
    """One paper to make: who it is for, and the folder it goes to."""

    student: str
    name: str | None
    variant: str | None
    folder: Path


@dataclass(frozen=True)
class Settings:
    """What every paper of one build shares (sent once to each worker)."""

    seed: int
    formats: tuple[str, ...]
    key: bool
    templates: Path
    graders: Path
    exam_id: str = ""  # printed in every page's code (layout.json)
    fonts: NameFonts = EMBEDDED  # what the roster's names are set in (build/fonts.py)


@dataclass
class BuildResult:
    """What a build wrote."""

    out: Path
    papers: int
    files: list[Path] = field(default_factory=list)
    manifest: Path | None = None
    starter_tasks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    jobs: int = 1
    warnings: list[str] = field(default_factory=list)  # one line each, for the user


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """'pdf,html' -> ('pdf', 'html'); an unknown format is a `BuildError`."""
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = tuple(dict.fromkeys(item.strip().lower() for item in items if item.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise BuildError(
            f"unknown format {', '.join(repr(u) for u in unknown) or 'list (empty)'} — "
            f"use one or more of {', '.join(FORMATS)}, separated by commas"
        )
    return formats


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that a reader never sees half of it; failing, a `BuildError`."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        os.replace(temp, path)
    except OSError as error:
        raise BuildError(
            f"{path}: cannot write it ({error.strerror or error}) — check --out"
        ) from None


@dataclass
class Batch:
    """A batch of papers, rendered: the fragment library's source and what to do with it."""

    title: str  # the PDFs' metadata: the exam's title and course
    course: str
    library: str | None  # the Typst source of the fragment library (None without PDF)
    fragments: Fragments
    flows: list[
        dict[str, tuple[list[Block], int, int]]
    ]  # per paper and document: flow, header, footer
    html: list[dict[str, str]]  # per paper and document: the HTML page


def render_batch(papers: list[Paper], settings: Settings) -> Batch:
    """Views of every paper of a batch: HTML pages, and for PDF the flows of fragments
    (see `layout`) and the Typst source of the library that typesets them all."""
    tpl = templates(settings.templates)
    documents = ("exam", "key") if settings.key else ("exam",)
    blueprint = papers[0].blueprint
    batch = Batch(
        blueprint.title,
        blueprint.course,
        None,
        Fragments(),
        [{} for _ in papers],
        [{} for _ in papers],
    )
    for n, paper in enumerate(papers):
        if "pdf" in settings.formats:
            view = paper_view(paper, "typst", settings.graders)
            for document in documents:
                key = document == "key"
                flow = paper_flow(view, key, batch.fragments)
                batch.flows[n][document] = (flow, *furniture(view, key, batch.fragments))
        if "html" in settings.formats:
            view = paper_view(paper, "html", settings.graders)
            for document in documents:
                batch.html[n][document] = tpl.render(document, "html", view)
    if "pdf" in settings.formats:
        batch.library = library_source(tpl, batch.fragments, settings.fonts)
    return batch


def library_source(tpl: Any, fragments: Fragments, fonts: NameFonts = EMBEDDED) -> str:
    """The Typst source of a fragment library; names are set in `fonts.families`."""
    return tpl.render("fragments", "typst", library_view(fragments.items, fonts))


def library_view(items: list[dict[str, Any]], fonts: NameFonts) -> dict[str, Any]:
    """What templates/fragments.typ.j2 is rendered from."""
    return {"fragments": items, "geo": GEOMETRY.for_template(), "person_fonts": fonts.families}


def render_sources(paper: Paper, settings: Settings) -> dict[tuple[str, str], str]:
    """The sources of one paper alone: its HTML pages, and its fragment library under
    ("fragments", "typst")."""
    batch = render_batch([paper], settings)
    sources = {(document, "html"): page for document, page in batch.html[0].items()}
    if batch.library is not None:
        sources[("fragments", "typst")] = batch.library
    return sources


@dataclass
class Layout:
    """A batch's typeset libraries, and every paper's pages placing their fragments."""

    library: Library  # the batch's fragments
    labels: Library  # what is typeset after pagination: "Page X of Y" labels, code boxes
    labels_fragments: Fragments
    pages: list[dict[str, list[list[Placement]]]]  # per paper and document


def lay_out(batch: Batch, settings: Settings, what: str) -> Layout:
    """Compile the batch's fragment library, break every paper into pages, then typeset
    the page labels they need and place them."""
    assert batch.library is not None
    fonts = settings.fonts.dirs
    pdf = compile_pdf(batch.library, f"question text for {what}", fonts)
    library = Library(pdf, "fragment library")
    labels = Fragments()
    pages = [
        {
            document: decorate(
                paginate(flow, library.size, labels), header, footer, labels, library.size
            )
            for document, (flow, header, footer) in flows.items()
        }
        for flows in batch.flows
    ]
    source = library_source(templates(settings.templates), labels, settings.fonts)
    pdf = compile_pdf(source, f"page labels for {what}", fonts)
    numbers = Library(pdf, "page labels", library.end)
    for paper_pages in pages:
        for document, placed in paper_pages.items():
            paper_pages[document] = place_labels(placed, numbers.size)
    return Layout(library, numbers, labels, pages)


def typeset(
    batch: Batch, papers: list[Paper], settings: Settings, what: str
) -> tuple[list[dict[str, bytes]], list[PaperLayout]]:
    """Every paper's PDFs (per paper, per document), composed from the batch's libraries,
    and where a scanner finds each exam page's boxes and regions (layout.json). Exam
    pages carry corner marks and a code; keys do not."""
    layout = lay_out(batch, settings, what)
    suffix = {"exam": "", "key": " — answer key"}
    probes = sheet.probe_boxes(
        lambda items: templates(settings.templates).render(
            "fragments", "typst", library_view(items, settings.fonts)
        ),
        batch.fragments,
    )
    pdfs, layouts = [], []
    for paper, paper_pages in zip(papers, layout.pages):
        anonymous = paper.name is None and paper.student == paper.variant
        exam = sheet.paper_layout(
            settings.exam_id,
            paper.student,
            paper.variant,
            anonymous,
            paper_pages["exam"],
            probes,
            lambda library, page: (layout.library, layout.labels)[library].size(page),
        )
        layouts.append(exam)
        overlays = {"exam": [sheet.overlay(page.code) for page in exam.pages], "key": []}
        libraries = [layout.library, layout.labels]
        pdfs.append(
            {
                document: write_pdf(
                    pages,
                    libraries,
                    batch.title + suffix[document],
                    batch.course,
                    overlays[document],
                )
                for document, pages in paper_pages.items()
            }
        )
    return pdfs, layouts


Made = tuple[Student, list[Path], PaperLayout | None]


def make_batch(bank: Any, jobs: list[PaperJob], settings: Settings, index: int) -> list[Made]:
    """Draw, render, typeset and write a batch of papers; their manifest entries and files.

    The batch's pieces are typeset once, in its fragment library, and every
    PDF of the batch is put together from its pages.
    """
    papers = [
        draw_paper(bank, settings.seed, job.student, name=job.name, variant=job.variant)
        for job in jobs
    ]
    batch = render_batch(papers, settings)
    pdfs: list[dict[str, bytes]] = [{} for _ in jobs]
    layouts: list[PaperLayout | None] = [None for _ in jobs]
    if batch.library is not None:
        what = _who(jobs[0]) if len(jobs) == 1 else f"{_who(jobs[0])} to {jobs[-1].student}"
        pdfs, typeset_layouts = typeset(batch, papers, settings, what)
        layouts = list(typeset_layouts)
    results: list[Made] = []
    for job, paper, paper_pdfs, paper_html, paper_layout in zip(
        jobs, papers, pdfs, batch.html, layouts
    ):
        files = []
        for document in ("exam", "key") if settings.key else ("exam",):
            if document in paper_pdfs:
                path = job.folder / f"{document}.pdf"
                write_atomic(path, paper_pdfs[document])
                files.append(path)
            if document in paper_html:
                path = job.folder / f"{document}.html"
                write_atomic(path, paper_html[document].encode("utf-8"))
                files.append(path)
        results.append((paper.manifest_entry(), files, paper_layout))
    return results


def make_paper(bank: Any, job: PaperJob, settings: Settings) -> tuple[Student, list[Path]]:
    """Draw, render, compile and write one paper (a batch of one)."""
    student, files, _ = make_batch(bank, [job], settings, 0)[0]
    return student, files


def _who(job: PaperJob) -> str:
    return f"student {job.student}" if job.name is not None else f"version {job.student}"


# ---------------------------------------------------------------- workers

_worker: dict[str, Any] = {}


def _init_worker(bank: Any, settings: Settings, formulas: markup.FormulaSnapshot) -> None:
    # One thread per worker: the workers already fill the cores, more would only contend.
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    _worker["bank"], _worker["settings"] = bank, settings
    # Formulas this process converted while loading the bank: a worker need not redo them.
    markup.preload_formula_cache(formulas)


def _run_batch(numbered: tuple[int, list[PaperJob]]) -> list[Made] | str:
    index, batch = numbered
    try:
        return make_batch(_worker["bank"], batch, _worker["settings"], index)
    except MmexamError as error:  # sent back as text: error classes need not pickle
        return str(error)


def batches(jobs: list[PaperJob]) -> list[tuple[int, list[PaperJob]]]:
    """At least four batches when there are papers enough (so that workers share the work),
    at most `BATCH` papers each. Which papers share a library depends on the roster alone,
    never on the number of workers, so every PDF is the same byte for byte."""
    size = max(1, min(BATCH, -(-len(jobs) // 4)))
    return [(n, jobs[i : i + size]) for n, i in enumerate(range(0, len(jobs), size))]


def make_papers(bank: Any, jobs: list[PaperJob], settings: Settings, workers: int) -> list[Made]:
    """Make every paper, in worker processes when it pays; results in job order."""
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        return [made for n, batch in batches(jobs) for made in make_batch(bank, batch, settings, n)]
    results = []
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(bank, settings, markup.formula_cache_snapshot()),
        ) as pool:
            for outcome in pool.map(_run_batch, batches(jobs)):
                if isinstance(outcome, str):
                    raise BuildError(outcome)
                results.extend(outcome)
    except BrokenProcessPool:
        raise BuildError(
            "a build worker process died (out of memory?) — run again with --jobs 1 to see why"
        ) from None
    return results


# ---------------------------------------------------------------- the build


def plan_jobs(
    out: Path,
    roster: Path | None,
    variants: int | None,
    columns: tuple[str | None, str | None] = (None, None),
) -> list[PaperJob]:
    """Which papers to make, and where each goes. `columns`: the roster's id and name
    columns (--id-column, --name-column; default: found from the header)."""
    if roster is not None and variants is not None:
        raise BuildError("give either --roster or --variants, not both")
    if roster is not None:
        return [
            PaperJob(entry.id, entry.name, None, out / "students" / entry.id)
            for entry in read_roster(roster, id_column=columns[0], name_column=columns[1])
        ]
    if variants is not None:
        if not 1 <= variants <= 702:
            raise BuildError(f"--variants must be between 1 and 702, got {variants}")
        return [
            PaperJob(code, None, code, out / "versions" / code)
            for code in version_letters(variants)
        ]
    return [PaperJob("A", None, "A", out)]


def code_tasks(bank: Any, question_ids: set[str]) -> list[str]:
    """The code tasks that the given questions use, sorted."""
    tasks: set[str] = set()
    for qid in question_ids:
        question = bank.questions[qid]
        bodies = question.parts if question.kind == "problem" else [question]
        tasks.update(body.task for body in bodies if body.kind == "code")
    return sorted(tasks)


def write_starter(out: Path, tasks: list[str], title: str, graders: Path) -> list[Path]:
    """build/starter/: each task's stub and a README for students."""
    files = []
    for task in tasks:
        data = starter_text(graders, task).encode("utf-8")
        path = out / "starter" / f"{task}.py"
        write_atomic(path, data)
        files.append(path)
    readme = out / "starter" / "README.md"
    write_atomic(readme, student_readme(title, tasks).encode("utf-8"))
    files.append(readme)
    return files


def exam_identity(bank: Any, seed: int) -> str:
    """The exam's id printed in every page's code: its title, its seed and its questions'
    content, hashed. A page of another exam (or of a rebuilt bank) is told apart."""
    blueprint = bank.blueprint
    parts = [blueprint.title, blueprint.course, str(seed)]
    parts += [f"{qid}={content_hash(q)}" for qid, q in sorted(bank.questions.items())]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:10]


def manifest_json(manifest: Manifest) -> bytes:
    """variants.json: sorted keys, two-space indent, a final newline (stable bytes)."""
    import json

    return (json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def build_exam(
    bank_path: Path,
    out: Path,
    *,
    seed: int = 0,
    roster: Path | None = None,
    roster_columns: tuple[str | None, str | None] = (None, None),
    variants: int | None = None,
    formats: Sequence[str] = FORMATS,
    key: bool = True,
    jobs: int | None = None,
    templates_dir: Path = TEMPLATES,
    graders: Path = GRADERS,
) -> BuildResult:
    """Build the exam: papers (+ keys), variants.json and starter code under `out`."""
    started = time.perf_counter()
    formats = parse_formats(formats)
    plan = plan_jobs(out, roster, variants, roster_columns)
    bank = load_bank(bank_path)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(plan)))
    exam_id = exam_identity(bank, seed)
    fonts = name_fonts([(job.student, job.name) for job in plan if job.name])
    settings = Settings(seed, formats, key, templates_dir, graders, exam_id, fonts)
    made = make_papers(bank, plan, settings, workers)

    students = [student for student, _, _ in made]
    used = {item.question for student in students for item in student.items}
    manifest = Manifest(
        seed=seed,
        bank=str(bank_path),
        question_hashes={qid: content_hash(bank.questions[qid]) for qid in sorted(used)},
        students=students,
    )
    parallel = workers > 1 and len(plan) >= PARALLEL_FROM
    result = BuildResult(out=out, papers=len(plan), jobs=workers if parallel else 1)
    result.warnings = list(fonts.warnings)
    result.files = [path for _, files, _ in made for path in files]
    result.manifest = out / "variants.json"
    write_atomic(result.manifest, manifest_json(manifest))
    layouts = [layout for _, _, layout in made if layout is not None]
    if layouts:
        path = out / "layout.json"
        write_atomic(path, sheet.layout_json(sheet.exam_layout(exam_id, layouts)))
        result.files.append(path)
    result.starter_tasks = code_tasks(bank, used)
    result.files += write_starter(out, result.starter_tasks, bank.blueprint.title, graders)
    result.files.append(result.manifest)
    result.seconds = time.perf_counter() - started
    return result
