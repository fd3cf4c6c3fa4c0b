"""The class report: how the exam went, and which questions or checks to look at again.

Statistics are computed per bank question (and problem part), not per
printed number, because every student's paper orders them differently:

- difficulty: the mean share of the points earned (1 = everybody got it);
- discrimination: the point-biserial correlation between the share earned
  on the question and the rest of the student's total (the total without
  that question), so that a question does not correlate with itself; low
  or negative values mark questions that strong students miss. Only with at
  least MIN_N (30) graded answers: from a handful it is noise (2–4 students
  give 1.00 or -1.00), so below that it is not shown and nothing is flagged;
- for MCQs, how often each option (in authored order) was chosen; a
  distractor chosen more often than the key is flagged as a likely wrong key,
  once the MCQ has MIN_KEY_CHECK (10) answers;
- the code checks failed most often;
- the submissions with problems, the answers still pending review, and the
  roster students who submitted nothing.

Plots are matplotlib SVGs embedded as data URIs, so report.html is one
self-contained file. The SVGs are made deterministic (fixed hash salt, no
date), like every other output.
"""

from __future__ import annotations

import base64
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from mmexam.bank.statistics import MIN_N
from mmexam.grade.results import ItemResult, RunInfo, StudentResult

LOW_DISCRIMINATION = 0.15
"""Point-biserial below this is flagged: the question does not separate strong from weak."""

MIN_KEY_CHECK = 10
"""Answers an MCQ needs before a distractor chosen more often than the key is flagged
("check the key"): with two or three answers that happens by chance all the time."""


@dataclass
class QuestionStats:
    key: str
    question: str
    kind: str
    part: str
    numbers: list[str]
    max_points: float
    n: int
    pending: int
    mean: float | None
    difficulty: float | None
    discrimination: float | None
    text: str

    @property
    def flagged(self) -> bool:
        return self.discrimination is not None and self.discrimination < LOW_DISCRIMINATION

    @property
    def enough(self) -> bool:
        """Whether n is large enough for the discrimination to mean anything (see MIN_N)."""
        return self.n >= MIN_N


@dataclass
class OptionStats:
    key: str
    counts: list[int]
    blank: int
    answer: list[int]
    options: list[str] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(self.counts)

    @property
    def suspicious(self) -> list[int]:
        """Distractors chosen more often than every correct option, once enough answered."""
        if len(self.answer) != 1 or self.answered < MIN_KEY_CHECK:
            return []
        best = self.counts[self.answer[0]]
        return [j for j, c in enumerate(self.counts) if j not in self.answer and c > best]


@dataclass
class CheckStats:
    task: str
    name: str
    function: str
    visibility: str
    failed: int
    total: int

    @property
    def rate(self) -> float:
        return self.failed / self.total if self.total else 0.0


def pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return sxy / (sxx * syy) ** 0.5


def question_stats(results: list[StudentResult]) -> list[QuestionStats]:
    per: dict[str, list[tuple[StudentResult, ItemResult]]] = defaultdict(list)
    for r in results:
        for item in r.items:
            per[item.review_key].append((r, item))
    stats = []
    for key, pairs in per.items():
        first = pairs[0][1]
        graded = [(r, i) for r, i in pairs if not i.pending]
        shares = [(i.points or 0.0) / i.max_points if i.max_points else 0.0 for _, i in graded]
        rest = [r.total + r.bonus_total - (i.points or 0.0) for r, i in graded]
        mean = statistics.fmean([i.points or 0.0 for _, i in graded]) if graded else None
        stats.append(
            QuestionStats(
                key=key,
                question=first.question,
                kind=first.kind,
                part=first.part,
                numbers=sorted({i.number for _, i in pairs}),
                max_points=max(i.max_points for _, i in pairs),
                n=len(graded),
                pending=len(pairs) - len(graded),
                mean=mean,
                difficulty=statistics.fmean(shares) if shares else None,
                discrimination=pearson(shares, rest) if len(shares) >= MIN_N else None,
                text=first.text,
            )
        )
    return stats


def option_stats(results: list[StudentResult]) -> list[OptionStats]:
    found: dict[str, OptionStats] = {}
    for r in results:
        for item in r.items:
            if item.kind != "mcq" or item.option_count is None or item.key is None:
                continue
            entry = found.setdefault(
                item.review_key,
                OptionStats(
                    key=item.review_key, counts=[0] * item.option_count, blank=0, answer=item.key
                ),
            )
            if item.chosen:
                for j in item.chosen:
                    if 0 <= j < len(entry.counts):
                        entry.counts[j] += 1
            else:
                entry.blank += 1
    return [found[k] for k in sorted(found)]


def check_stats(results: list[StudentResult]) -> list[CheckStats]:
    seen: dict[tuple[str, str], CheckStats] = {}
    counted: set[tuple[str, str, str]] = set()
    for r in results:
        for item in r.items:
            for c in item.checks:
                if c.skipped:
                    continue
                key = (item.code_task or "", c.name)
                if (r.id, *key) in counted:
                    continue
                counted.add((r.id, *key))
                entry = seen.setdefault(
                    key, CheckStats(item.code_task or "", c.name, c.function, c.visibility, 0, 0)
                )
                entry.total += 1
                entry.failed += 0 if c.passed else 1
    return sorted(seen.values(), key=lambda c: (-c.rate, c.task, c.name))


# ---------------------------------------------------------------- plots


def _svg(fig) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "mmexam", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue().encode("utf-8")).decode("ascii")
    return f"data:image/svg+xml;base64,{data}"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96)
    return fig, fig.add_subplot()


def plot_histogram(totals: list[float], total_points: float) -> str:
    fig, ax = _figure(7, 3.2)
    step = max(total_points / 20, 1)
    bins = [step * k for k in range(int(total_points / step) + 2)]
    ax.hist(totals, bins=bins, color="#3b6ea5", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#b42318", linestyle="--", linewidth=1.5, label=f"mean {mean:.1f}")
        ax.legend(frameon=False)
    ax.set_xlim(0, total_points + step)
    ax.set_xlabel(f"total points (of {total_points:g})")
    ax.set_ylabel("students")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def plot_parts(info: RunInfo, results: list[StudentResult]) -> str:
    fig, ax = _figure(7, 3.2)
    labels, data = [], []
    for k, part in enumerate(info.parts, start=1):
        values = []
        for r in results:
            items = [i for i in r.items if i.part == part.id and not i.pending]
            possible = sum(i.max_points for i in items)
            if possible:
                values.append(100 * sum(i.points or 0.0 for i in items) / possible)
        if values:
            labels.append(f"{k}. {part.title}" + (" (bonus)" if part.bonus else ""))
            data.append(values)
    if data:
        ax.boxplot(
            data,
            widths=0.6,
            medianprops={"color": "#b42318"},
            flierprops={"markersize": 3},
            **_horizontal_box(labels),
        )
        ax.invert_yaxis()
    ax.set_xlim(-2, 102)
    ax.set_xlabel("points earned (% of the part's graded points)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _horizontal_box(labels: list[str]) -> dict:
    """boxplot's keywords for horizontal boxes with labels, across matplotlib versions."""
    import matplotlib

    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2] if p.isdigit())
    if version >= (3, 10):
        return {"orientation": "horizontal", "tick_labels": labels}
    if version >= (3, 9):
        return {"vert": False, "tick_labels": labels}
    return {"vert": False, "labels": labels}


def plot_questions(stats: list[QuestionStats]) -> str:
    fig, ax = _figure(7, 3.6)
    points = [s for s in stats if s.difficulty is not None and s.discrimination is not None]
    colors = ["#b42318" if s.flagged else "#3b6ea5" for s in points]
    ax.scatter([s.difficulty for s in points], [s.discrimination for s in points], c=colors, s=28)
    for s in points:
        if s.flagged:
            ax.annotate(
                s.key,
                (s.difficulty, s.discrimination),
                fontsize=7,
                xytext=(4, 2),
                textcoords="offset points",
            )
    ax.axhline(LOW_DISCRIMINATION, color="#888", linewidth=0.8, linestyle=":")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("difficulty (mean share of points; 1 = everyone right)")
    ax.set_ylabel("discrimination (point-biserial)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def plot_options(options: list[OptionStats]) -> str:
    rows = [o for o in options if sum(o.counts) + o.blank]
    fig, ax = _figure(7, max(1.6, 0.32 * len(rows) + 0.9))
    width = max((len(o.counts) for o in rows), default=0)
    left = [0.0] * len(rows)
    for j in range(width + 1):  # one barh call per option column (the last: blank)
        ys, shares, lefts, colors = [], [], [], []
        for y, o in enumerate(rows):
            total = sum(o.counts) + o.blank
            if j < len(o.counts):
                count = o.counts[j]
                color = (
                    "#1f7a3f" if j in o.answer else ("#b42318" if j in o.suspicious else "#b8c2cc")
                )
            elif j == width:
                count, color = o.blank, "#eef0f2"
            else:
                continue
            if not count:
                continue
            ys.append(y)
            shares.append(count / total)
            lefts.append(left[y])
            colors.append(color)
            if j < len(o.counts) and count / total >= 0.06:
                ax.text(
                    left[y] + count / total / 2,
                    y,
                    chr(97 + j),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="#1d232b" if color == "#b8c2cc" else "white",
                )
            left[y] += count / total
        if ys:
            ax.barh(ys, shares, left=lefts, color=colors, edgecolor="white", height=0.7)
    ax.set_yticks(range(len(rows)), [o.key for o in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        "share of students choosing each option (authored letters; green = key, "
        "red = distractor above the key)",
        fontsize=8,
    )
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def plot_checks(checks: list[CheckStats], top: int = 15) -> str:
    rows = [c for c in checks if c.failed][:top]
    fig, ax = _figure(7, max(1.6, 0.3 * len(rows) + 0.9))
    ax.barh(range(len(rows)), [100 * c.rate for c in rows], color="#b42318")
    ax.set_yticks(range(len(rows)), [f"{c.task}: {c.name}" for c in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students failing the check (%)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


# ---------------------------------------------------------------- page


def summary_numbers(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "mean": None, "median": None, "stdev": None, "min": None, "max": None}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "stdev": statistics.pstdev(values),
        "min": min(values),
        "max": max(values),
    }


def render_report(
    info: RunInfo, results: list[StudentResult], *, review_notes: Sequence[str] = ()
) -> str:
    """report.html for the whole class."""
    from mmexam.grade.feedback import environment

    totals = [r.total for r in results if r.items]
    qstats = sorted(question_stats(results), key=lambda s: (_part_index(info, s.part), s.key))
    options = option_stats(results)
    checks = check_stats(results)
    pending: Counter[str] = Counter()
    for r in results:
        for item in r.items:
            if item.pending:
                pending[item.review_key] += 1
    plots = {
        "histogram": plot_histogram(totals, info.total_points),
        "parts": plot_parts(info, results),
        "questions": plot_questions(qstats),
    }
    if options:
        plots["options"] = plot_options(options)
    if any(c.failed for c in checks):
        plots["checks"] = plot_checks(checks)
    texts = {s.key: s.text for s in qstats}
    template = environment().get_template("report.html.j2")
    return template.render(
        info=info,
        results=results,
        summary=summary_numbers(totals),
        bonus=summary_numbers([r.bonus_total for r in results if r.items]),
        questions=qstats,
        options=options,
        texts=texts,
        checks=[c for c in checks if c.failed][:25],
        check_count=len(checks),
        pending=sorted(pending.items()),
        problems=[r for r in results if r.problems],
        plots=plots,
        review_notes=list(review_notes),
        low=LOW_DISCRIMINATION,
    )


def _part_index(info: RunInfo, part: str) -> int:
    for k, p in enumerate(info.parts):
        if p.id == part:
            return k
    return len(info.parts)
