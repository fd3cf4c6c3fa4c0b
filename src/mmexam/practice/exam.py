"""A practice midterm: the real exam's six-part structure, drawn from the practice pool.

The paper is drawn, rendered and compiled by `mmexam.build` itself (the same
selection, templates and Typst compile as the real exam); this module only
narrows the bank to its practice questions and names the result. Code
questions lose their worked solution here too, as in the student bundle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from mmexam.bank.bank import Bank
from mmexam.errors import PracticeError
from mmexam.practice.bundle import in_practice, without_reference_code


def practice_bank(bank: Bank) -> Bank:
    """The bank narrowed to its practice questions (code solutions dropped), titled "Practice …"."""
    title = bank.blueprint.title
    if not title.lower().startswith("practice"):
        title = f"Practice {title}"
    questions = {
        qid: without_reference_code(q)
        for qid, q in bank.questions.items()
        if in_practice(q, bank.blueprint)
    }
    return replace(
        bank,
        blueprint=bank.blueprint.model_copy(update={"title": title}),
        questions=questions,
        sources={qid: bank.sources[qid] for qid in questions if qid in bank.sources},
    )


def shortfalls(bank: Bank) -> list[str]:
    """Parts whose pool is smaller than what they pick."""
    short = []
    for part in bank.blueprint.parts:
        have = len(bank.pool(part))
        if have < part.pick:
            short.append(f"part '{part.id}' picks {part.pick}, its practice pool has {have}")
    return short


@dataclass
class PracticeExam:
    """What `practice_exam` wrote."""

    out: Path
    seed: int
    minutes: int
    title: str
    files: list[Path] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


def practice_exam(
    bank_path: Path, out: Path, *, seed: int | None = None, graders: Path | None = None
) -> PracticeExam:
    """Draw, render and write one practice midterm (exam + key, PDF + HTML, starter code)."""
    from mmexam.bank import load_bank
    from mmexam.build.exam import FORMATS, PaperJob, Settings, code_tasks, make_paper, write_starter
    from mmexam.paths import GRADERS, TEMPLATES

    graders = graders or GRADERS

    pool = practice_bank(load_bank(Path(bank_path)))
    short = shortfalls(pool)
    if short:
        raise PracticeError(
            f"{bank_path}: the practice pool cannot fill the exam: {'; '.join(short)} — "
            "mark more questions `practice: true`"
        )
    if seed is None:
        seed = random.SystemRandom().randrange(1, 10**6)
    out = Path(out)
    settings = Settings(seed, FORMATS, True, TEMPLATES, graders)
    job = PaperJob(student=f"practice-{seed}", name=None, variant=None, folder=out)
    student, files = make_paper(pool, job, settings)
    used = {item.question for item in student.items}
    tasks = code_tasks(pool, used)
    if tasks:
        files += write_starter(out, tasks, pool.blueprint.title, graders)
    return PracticeExam(
        out=out,
        seed=seed,
        minutes=pool.blueprint.duration_minutes,
        title=pool.blueprint.title,
        files=files,
        questions=sorted(used),
    )
