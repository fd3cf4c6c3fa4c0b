"""The class report: how the exam went, and which questions or checks to look at again.

Statistics are computed per bank question (and problem part), not per
printed number, because every student's paper orders them differently, and
only over the class: a submission off the roster is graded and shown in its
own section, never counted (`split_off_roster`).

- difficulty: the mean share of the points earned (1 = everybody got it);
- discrimination: the point-biserial correlation between the share earned
  on the question and the share of the student's other graded points (the
  rest of the paper without that question), so that a question does not
  correlate with itself; low values mark questions that strong students miss;
- for MCQs, how often each option (in authored order) was chosen; a
  distractor chosen more often than the key is flagged as a likely wrong key;
- the code checks failed most often;
- the submissions with problems, the answers still pending review, the
  roster students who submitted nothing, and the submissions off the roster.

Every claim waits for the sample to support it (the thresholds below say
why): under its threshold the report shows the number with its n and "too
few answers to judge (n=3, need ≥ 25)" instead of a verdict or a flag.

Answers pending review are never counted as 0: an item waiting for a TA is
left out of the item statistics, a student's part with a pending answer is
left out of that part's plot, and a total with a pending answer is left out
of the score distribution ("pending: k students") and is shown only as
provisional.

Plots are matplotlib SVGs embedded as data URIs, so report.html is one
self-contained file. The SVGs are made deterministic (fixed hash salt, no
date), like every other output.
"""

from __future__ import annotations

import base64
import io
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from mmexam.bank.statistics import MIN_N
from mmexam.grade.results import (
    ItemResult,
    RunInfo,
    StudentResult,
    roster_note,
    split_off_roster,
)

LOW_DISCRIMINATION = 0.15
"""Point-biserial below this is flagged: the question does not separate strong from weak."""

MIN_DISCRIMINATION_N = MIN_N
"""Graded answers a question needs before its discrimination is shown or flagged (30, the
classical item-analysis minimum `bank learn` uses too). The standard error of a correlation
near 0 is about 1/sqrt(n): from 2–4 students a point-biserial of ±1.00 is what chance gives,
and even at 30 it is ±0.18, so below 30 the report shows "—" with n and flags nothing."""

MIN_DIFFICULTY_N = math.ceil((1.96 * 0.5 / 0.2) ** 2)
"""Graded answers a question needs before its difficulty is judged (25). Difficulty is a share
p; its 95% interval is ±1.96·sqrt(p(1-p)/n), at worst (p = 0.5) ±0.98/sqrt(n). The bank's
levels are 0.2 apart (hard 0.4, medium 0.6, easy 0.8), so the share must be known to ±0.2 to
say which level a question is at: n ≥ (0.98/0.2)² ≈ 24.01, so 25. Below it the share is shown
with its n and "too few answers to judge"."""

MIN_KEY_CHECK = 10
"""Answers (not blank) an MCQ needs before its key is checked at all: the check is a claim
about what the class prefers, and under 10 answers every count is one or two students — a TA
reads those answers faster than any statistic."""

MIN_DISTRACTOR = 5
"""Students who must choose a distractor before it can be flagged against the key. A wrong key
shows as a crowd on one distractor, not as one or two students; it is also the least the sign
test below can ever call unlikely at 5% (4 against 0 has p = 1/16)."""

KEY_CHECK_ALPHA = 0.05
"""A distractor chosen more often than the key is flagged only if a one-sided sign test on the
two counts gives p below this: among the students who chose either, each is a fair coin if
the two were equally attractive, and p is the chance of the distractor winning by at least
this much. One test per distractor that leads the key, uncorrected: the flag asks the TA to
reread a key (a minute's work), while a wrong key left in costs every student the points."""


def too_few(n: int, need: int) -> str:
    """What the report says instead of a claim its sample cannot support."""
    return f"too few answers to judge (n={n}, need ≥ {need})"


def sign_test(more: int, fewer: int) -> float:
    """One-sided sign test: P(X ≥ more) for X ~ Binomial(more + fewer, 1/2), exactly."""
    n = more + fewer
    if n <= 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(more, n + 1)) / 2**n


def rest_share(
    result: StudentResult, leave_out: str, *, whole_question: bool = False
) -> float | None:
    """The share of the points of the student's graded items other than `leave_out` (a review
    key, or with `whole_question` a question id with all its parts); pending items are left
    out, not counted as 0. None when nothing else is graded."""
    graded = [
        i
        for i in result.items
        if not i.pending and (i.question if whole_question else i.review_key) != leave_out
    ]
    possible = sum(i.max_points for i in graded)
    if possible <= 0:
        return None
    return sum(i.points or 0.0 for i in graded) / possible


def letter(j: int) -> str:
    return chr(97 + j)


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
    rest_n: int = 0  # graded answers with other graded points to correlate with

    @property
    def flagged(self) -> bool:
        return self.discrimination is not None and self.discrimination < LOW_DISCRIMINATION

    @property
    def enough(self) -> bool:
        """Whether n is large enough for the discrimination to mean anything."""
        return self.rest_n >= MIN_DISCRIMINATION_N

    @property
    def difficulty_judged(self) -> bool:
        return self.difficulty is not None and self.n >= MIN_DIFFICULTY_N

    @property
    def note(self) -> str:
        """The report's verdict on the question, or why it gives none."""
        if self.n == 0:
            return f"pending: {self.pending} students" if self.pending else ""
        if self.flagged:
            return (
                f"low discrimination ({self.discrimination:.2f} < {LOW_DISCRIMINATION}, "
                f"n={self.rest_n}): strong students do no better on it — check its key and "
                "wording"
            )
        if self.n < MIN_DIFFICULTY_N:
            return too_few(self.n, MIN_DIFFICULTY_N)
        if not self.enough:
            return "discrimination: " + too_few(self.rest_n, MIN_DISCRIMINATION_N)
        if self.discrimination is None:
            return "everyone earned the same share: discrimination undefined"
        return ""


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
    def leading(self) -> list[int]:
        """Distractors chosen more often than the (single) key, judged or not."""
        if len(self.answer) != 1:
            return []
        best = self.counts[self.answer[0]]
        return [j for j, c in enumerate(self.counts) if j not in self.answer and c > best]

    def p_value(self, j: int) -> float:
        """The sign test of distractor j against the key (see KEY_CHECK_ALPHA)."""
        return sign_test(self.counts[j], self.counts[self.answer[0]])

    def judged(self, j: int) -> bool:
        """Whether distractor j leads the key by more than chance, in a large enough sample."""
        return (
            j in self.leading
            and self.answered >= MIN_KEY_CHECK
            and self.counts[j] >= MIN_DISTRACTOR
            and self.p_value(j) < KEY_CHECK_ALPHA
        )

    @property
    def suspicious(self) -> list[int]:
        """Distractors flagged as a likely wrong key: chosen more often than the key, by at
        least MIN_DISTRACTOR students of at least MIN_KEY_CHECK, beyond chance."""
        return [j for j in self.leading if self.judged(j)]

    @property
    def notes(self) -> list[str]:
        """One line per distractor that leads the key: the warning, or why there is none."""
        lines = []
        for j in self.leading:
            c, k = self.counts[j], self.counts[self.answer[0]]
            head = f"distractor {letter(j)} chosen more than the key ({c} vs {k})"
            p = self.p_value(j)
            if self.judged(j):
                lines.append(f"{head}, beyond chance (sign test p = {p:.3f}) — check the key")
            elif self.answered < MIN_KEY_CHECK:
                lines.append(f"{head}: {too_few(self.answered, MIN_KEY_CHECK)}")
            elif c < MIN_DISTRACTOR:
                lines.append(f"{head}: {too_few(c, MIN_DISTRACTOR)} choosing {letter(j)}")
            else:
                lines.append(
                    f"{head}, within chance (sign test p = {p:.2f} ≥ {KEY_CHECK_ALPHA}): "
                    "no evidence of a wrong key"
                )
        return lines


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
    """Per question (or problem part): pending answers are left out, never counted as 0."""
    per: dict[str, list[tuple[StudentResult, ItemResult]]] = defaultdict(list)
    for r in results:
        for item in r.items:
            per[item.review_key].append((r, item))
    stats = []
    for key, pairs in per.items():
        first = pairs[0][1]
        graded = [(r, i) for r, i in pairs if not i.pending]
        shares = [(i.points or 0.0) / i.max_points if i.max_points else 0.0 for _, i in graded]
        correlated: list[tuple[float, float]] = []
        for (r, _), share in zip(graded, shares):
            rest = rest_share(r, key)
            if rest is not None:
                correlated.append((share, rest))
        enough = len(correlated) >= MIN_DISCRIMINATION_N
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
                discrimination=(
                    pearson([x for x, _ in correlated], [y for _, y in correlated])
                    if enough
                    else None
                ),
                text=first.text,
                rest_n=len(correlated),
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


def _students(k: int) -> str:
    return f"{k} student{'s' if k != 1 else ''}"


def plot_histogram(totals: list[float], total_points: float, pending: int = 0) -> str:
    """Final totals only; `pending` students (provisional totals) are named, not plotted."""
    fig, ax = _figure(7, 3.2)
    step = max(total_points / 20, 1)
    bins = [step * k for k in range(int(total_points / step) + 2)]
    ax.hist(totals, bins=bins, color="#3b6ea5", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#b42318", linestyle="--", linewidth=1.5, label=f"mean {mean:.1f}")
        ax.legend(frameon=False)
    if pending:
        ax.text(
            0.99,
            0.97,
            f"pending: {_students(pending)} (provisional totals not plotted)",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="#5b6673",
        )
    ax.set_xlim(0, total_points + step)
    ax.set_xlabel(f"total points (of {total_points:g}; final totals only, n={len(totals)})")
    ax.set_ylabel("students")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def part_shares(info: RunInfo, results: list[StudentResult]) -> list[tuple[str, list[float], int]]:
    """Per part: (label, each student's % of the part's points, students with an answer of
    the part pending). A student's part with a pending answer is left out, not counted as 0."""
    rows = []
    for k, part in enumerate(info.parts, start=1):
        values, waiting = [], 0
        for r in results:
            items = [i for i in r.items if i.part == part.id]
            if any(i.pending for i in items):
                waiting += 1
                continue
            possible = sum(i.max_points for i in items)
            if possible:
                values.append(100 * sum(i.points or 0.0 for i in items) / possible)
        label = f"{k}. {part.title}" + (" (bonus)" if part.bonus else "")
        if waiting:
            label += f" (pending: {_students(waiting)})"
        if values or waiting:
            rows.append((label, values, waiting))
    return rows


def plot_parts(info: RunInfo, results: list[StudentResult]) -> str:
    rows = part_shares(info, results)
    fig, ax = _figure(7, max(1.6, 0.45 * len(rows) + 1.2))
    boxed = [(y, values) for y, (_, values, _) in enumerate(rows) if values]
    if boxed:
        ax.boxplot(
            [values for _, values in boxed],
            positions=[y for y, _ in boxed],
            widths=0.6,
            medianprops={"color": "#b42318"},
            flierprops={"markersize": 3},
            **_horizontal(),
        )
    for y, (_, values, waiting) in enumerate(rows):
        if not values:
            text = f"pending: {_students(waiting)}, nothing final yet"
            ax.text(50, y, text, ha="center", va="center", fontsize=8, color="#5b6673")
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
    if rows:
        ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(-2, 102)
    ax.set_xlabel("points earned (% of the part's points; parts with a pending answer left out)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _horizontal() -> dict:
    """boxplot's keyword for horizontal boxes, across matplotlib versions."""
    import matplotlib

    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2] if p.isdigit())
    if version >= (3, 10):
        return {"orientation": "horizontal"}
    return {"vert": False}


def plot_questions(stats: list[QuestionStats]) -> str:
    fig, ax = _figure(7, 3.6)
    points = [s for s in stats if s.difficulty is not None and s.discrimination is not None]
    left_out = sum(1 for s in stats if s.n and not s.enough)
    if left_out:
        ax.text(
            0.99,
            0.03,
            f"{left_out} question(s) with fewer than {MIN_DISCRIMINATION_N} graded answers "
            "not plotted",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="#5b6673",
        )
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
        "red = distractor flagged as a likely wrong key)",
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
    """report.html for the whole class (submissions off the roster in a section of their own,
    never counted with the class)."""
    from mmexam.grade.feedback import environment

    counted, apart = split_off_roster(info, results)
    graded = [r for r in counted if r.items]
    provisional = [r for r in graded if r.provisional]
    totals = [r.total for r in graded if not r.provisional]
    qstats = sorted(question_stats(counted), key=lambda s: (_part_index(info, s.part), s.key))
    options = option_stats(counted)
    checks = check_stats(counted)
    pending: Counter[str] = Counter()
    for r in counted:
        for item in r.items:
            if item.pending:
                pending[item.review_key] += 1
    plots = {
        "histogram": plot_histogram(totals, info.total_points, len(provisional)),
        "parts": plot_parts(info, counted),
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
        results=counted,
        summary=summary_numbers(totals),
        bonus=summary_numbers([r.bonus_total for r in graded if not r.bonus_provisional]),
        provisional=provisional,
        questions=qstats,
        options=options,
        texts=texts,
        checks=[c for c in checks if c.failed][:25],
        check_count=len(checks),
        pending=sorted(pending.items()),
        problems=[r for r in counted if r.problems],
        apart=[(r, off_roster_line(r)) for r in apart],
        plots=plots,
        review_notes=list(review_notes),
        low=LOW_DISCRIMINATION,
        min_difficulty=MIN_DIFFICULTY_N,
        min_discrimination=MIN_DISCRIMINATION_N,
        min_key_check=MIN_KEY_CHECK,
        min_distractor=MIN_DISTRACTOR,
        alpha=KEY_CHECK_ALPHA,
    )


def off_roster_line(result: StudentResult) -> str:
    """'not on the roster: s999 (folder subs/s999)' — from the intake's note when there is one."""
    note = roster_note(result)
    if note is not None:
        return note.message.split("; graded apart", 1)[0]
    return f"not on the roster: {result.id} ({result.source} {result.id})"


def _part_index(info: RunInfo, part: str) -> int:
    for k, p in enumerate(info.parts):
        if p.id == part:
            return k
    return len(info.parts)
