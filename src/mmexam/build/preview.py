"""One question on its own, as students will see it and with its key: `mmexam preview ID`.

The bank is narrowed to the question, in a one-part blueprint worth exactly
the question's points, and drawn and rendered by the same code as a build
(`make_paper`): the PDF and HTML of the exam and of the key, in a folder
of their own. `seed` picks the parameter values and the option order (as
for a student of that exam seed), so an author can look at the values a
student will get.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mmexam.bank.bank import Bank
from mmexam.bank.explain import did_you_mean
from mmexam.bank.models import Problem
from mmexam.build.exam import FORMATS, PaperJob, Settings, make_paper
from mmexam.errors import BuildError

STUDENT = "preview"


@dataclass
class Preview:
    """What `preview_question` wrote."""

    question: str
    out: Path
    seed: int
    params: dict[str, int | float | str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def worth(question) -> float:
    if isinstance(question, Problem):
        return question.points or sum(p.points for p in question.parts)
    return question.points


def single_question_bank(bank: Bank, qid: str) -> Bank:
    """The bank narrowed to question `qid` in a one-part blueprint worth its points."""
    if qid not in bank.questions:
        raise BuildError(
            f"no question '{qid}' in {bank.root} — {did_you_mean(qid, list(bank.questions))}"
        )
    question = bank.questions[qid]
    part = bank.part(question.part)
    points = worth(question)
    one = part.model_copy(
        update={
            "pick": 1,
            "points": points,
            "pool": part.pool.model_copy(update={"ids": None, "topics": None}),
            "cover": [],
        }
    )
    blueprint = bank.blueprint.model_copy(
        update={
            "title": f"Preview: {qid}",
            "parts": [one],
            "total_points": 0.0 if part.bonus else points,
            "bonus_points": points if part.bonus else 0.0,
            "balance": None,
        }
    )
    return replace(
        bank,
        blueprint=blueprint,
        questions={qid: question},
        sources={qid: bank.sources[qid]} if qid in bank.sources else {},
    )


def preview_question(
    bank: Bank, qid: str, out: Path, *, seed: int = 0, templates: Path, graders: Path
) -> Preview:
    """Render question `qid` (exam and key, PDF and HTML) into `out`."""
    narrowed = single_question_bank(bank, qid)
    settings = Settings(seed, FORMATS, True, templates, graders)
    out = Path(out)
    job = PaperJob(student=STUDENT, name=None, variant=None, folder=out)
    student, files = make_paper(narrowed, job, settings)
    params = dict(student.items[0].params) if student.items else {}
    return Preview(question=qid, out=out, seed=seed, params=params, files=files)
