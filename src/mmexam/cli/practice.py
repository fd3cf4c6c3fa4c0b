"""`mmexam practice …`: the students' practice mode (quiz, check, export, exam).

The quiz is an interactive terminal session, so this module is its edge: it
asks with `input()`, prints with rich, and leaves choosing, scoring and the
history to `mmexam.practice`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from mmexam.cli.app import CourseOption, NoSandboxOption, app
from mmexam.cli.check import FunctionOption
from mmexam.errors import MmexamError, PracticeError

practice = typer.Typer(
    help="Practise for the midterm: a terminal quiz, the public code checks, a practice exam.",
    no_args_is_help=True,
)
app.add_typer(practice, name="practice")

BundleOption = Annotated[
    Path | None,
    typer.Option(
        "--bundle",
        help="A bundle folder from `mmexam practice export`; without it, the shipped bank.",
        file_okay=False,
    ),
]


BankOption = Annotated[
    Path | None,
    typer.Option(
        "--bank",
        help="A bank folder to practise from (default: the course's, else the shipped bank).",
        file_okay=False,
    ),
]


def _source(bundle: Path | None, bank: Path | None, course: Path | None = None):
    """The practice pool: the bundle's, or a bank's practice questions (the course's by default)."""
    from mmexam.practice.bundle import bundle_from_bank, load_bundle

    if bundle is not None and bank is not None:
        raise PracticeError("give --bundle or --bank, not both")
    if bundle is not None:
        return load_bundle(bundle)
    from mmexam.bank import load_bank
    from mmexam.course import resolve_course

    found = resolve_course(course)
    return bundle_from_bank(load_bank(bank or found.bank, graders=found.graders))


# ---------------------------------------------------------------- quiz


def _plain(text: str | None) -> str:
    """Markdown + LaTeX as terminal text; the raw source if a formula cannot be converted."""
    if not text:
        return ""
    from mmexam.markup import to_plain

    try:
        return to_plain(text).strip()
    except MmexamError:
        return text.strip()


def _points(value: float) -> str:
    return f"{value:g}"


class _Session:
    """One quiz in the terminal: ask, score, tell, remember."""

    def __init__(self, console: Console, bundle_hint: str) -> None:
        self.console = console
        self.bundle_hint = bundle_hint

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(Text(text, style=style or ""), soft_wrap=False)

    def ask(self, prompt: str) -> str:
        self.console.file.flush()
        return input(prompt)

    def ask_valid(self, prompt: str, step, scorer):
        from mmexam.practice.quiz import InvalidAnswer

        while True:
            response = self.ask(prompt)
            try:
                return scorer(step, response), response
            except InvalidAnswer as problem:
                self.say(f"  {problem}", "yellow")

    # ---- one question

    def header(self, number: int, total: int, item, part_title: str) -> None:
        points = sum(s.points for s in item.steps)
        self.console.print()
        self.say(
            f"Question {number}/{total} · {part_title} · "
            f"{_points(points)} point{'s' if points != 1 else ''}",
            "bold cyan",
        )
        if item.setup:
            self.say(_plain(item.setup))

    def run_step(self, step, task_hint):
        from mmexam.practice import quiz

        self.console.print()
        label = f"{step.label} " if step.label else ""
        self.say(f"{label}{_plain(step.body.text)}".strip())
        kind = step.kind
        if kind in ("mcq", "multi_select"):
            letters = quiz.LETTERS
            for k, option in enumerate(step.options()):
                self.say(f"  {letters[k]}) {_plain(option)}")
            last = letters[len(step.order) - 1]
            prompt = (
                f"Your answer (a–{last}): "
                if kind == "mcq"
                else f"Your answer (all that apply, e.g. 'a c'; a–{last}): "
            )
            outcome, _ = self.ask_valid(prompt, step, quiz.score_choice)
        elif kind == "numeric":
            unit = f" in {step.body.unit}" if step.body.unit else ""
            outcome, _ = self.ask_valid(f"Your answer{unit}: ", step, quiz.score_numeric)
        elif kind in ("short_answer", "open"):
            answer = self.ask("Your answer (one line, or Enter to think it through on paper): ")
            self.show_rubric(step, answer)
            top = _points(step.points)
            outcome, _ = self.ask_valid(
                f"Points you award yourself (0–{top}): ", step, quiz.score_self
            )
        else:
            outcome = quiz.score(step, "")
            self.show_code(step, task_hint)
        self.feedback(step, outcome)
        return outcome

    def show_rubric(self, step, answer: str) -> None:
        from mmexam.practice.quiz import rubric_hits

        body = step.body
        if step.kind == "short_answer":
            self.say("Reference answer:", "bold")
            self.say("  " + _plain(body.reference).replace("\n", "\n  "))
        hits = rubric_hits(body, answer)
        self.say("Rubric:", "bold")
        for item, hit in zip(body.rubric, hits):
            mark = "  ✓ " if hit else "  · "
            self.say(f"{mark}[{_points(item.points)}] {_plain(item.description)}")
        if any(hits):
            suggested = sum(i.points for i, h in zip(body.rubric, hits) if h)
            self.say(
                f"  (✓ = your answer mentions it: about {_points(suggested)} points — judge for yourself)",
                "dim",
            )

    def show_code(self, step, task_hint) -> None:
        body = step.body
        names = ", ".join(body.functions)
        self.say(f"Code: implement {names} in {body.task}.py{task_hint(body.task)}.", "magenta")
        self.say(
            f"Check it with: mmexam practice check {body.task} {body.task}.py{self.bundle_hint}",
            "magenta",
        )

    def feedback(self, step, outcome) -> None:
        body = step.body
        got = f"{outcome.earned:g} / {outcome.possible:g} points"
        if outcome.verdict == "code":
            return
        if outcome.verdict == "self":
            self.say(f"You awarded yourself {got}.", "bold")
        elif outcome.verdict == "right":
            self.say(f"✓ Right — {got}.", "bold green")
        else:
            expected = self.expected(step, outcome)
            if outcome.verdict == "skipped":
                self.say(f"– Skipped — {expected}", "bold yellow")
            elif outcome.verdict == "partly":
                notes = []
                if outcome.wrong_picks:
                    notes.append(f"{', '.join(outcome.wrong_picks)} should not be picked")
                if outcome.missed_picks:
                    missing = outcome.missed_picks
                    notes.append(
                        f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
                    )
                self.say(
                    f"~ Partly right — {got}: you picked {outcome.got}; {'; '.join(notes)}. "
                    f"{expected[0].upper()}{expected[1:]}",
                    "bold yellow",
                )
            else:
                self.say(f"✗ Wrong — you answered {outcome.got}; {expected}", "bold red")
        for title, text in (("Explanation", body.explanation), ("Solution", body.solution)):
            if text and step.kind not in ("code",):
                self.say(f"{title}: {_plain(text)}")

    def expected(self, step, outcome) -> str:
        if step.kind == "numeric":
            return f"the answer is {outcome.expected}."
        if step.kind in ("short_answer", "open"):
            return "see the rubric above."
        options = step.options()
        from mmexam.fmt import LETTERS

        shown = [f"{x}) {_plain(options[LETTERS.index(x)])}" for x in outcome.expected.split(", ")]
        if step.kind == "mcq":
            return f"the answer is {shown[0]}"
        return "the answers are " + "; ".join(shown)

    def summary(self, tally, history_file: Path, early: str | None) -> None:
        self.console.print()
        if early:
            self.say(f"Quiz ended ({early}).", "bold")
        percent = f" ({100 * tally.earned / tally.possible:.0f}%)" if tally.possible else ""
        label = "Score so far" if early else "Score"
        self.say(
            f"{label}: {tally.earned:g} / {tally.possible:g} points{percent} — "
            f"{tally.right} of {tally.asked} question{'s' if tally.asked != 1 else ''} fully right.",
            "bold",
        )
        if tally.code:
            self.say(f"{tally.code} code part(s) to practise with `mmexam practice check`.")
        if tally.asked:
            self.say(
                f"Misses are remembered in {history_file}; `mmexam practice quiz --review` asks them first.",
                "dim",
            )


@practice.command()
def quiz(
    bundle: BundleOption = None,
    bank: BankOption = None,
    part: Annotated[
        list[str] | None,
        typer.Option(
            "--part",
            help="Only this part (mcq, short, fusion, mllm, generation, bonus); repeatable.",
        ),
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="Only questions on this topic; repeatable.")
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", help="How many questions to ask.")] = 10,
    review: Annotated[
        bool, typer.Option("--review", help="Ask the questions you missed before first.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for a reproducible quiz.")
    ] = None,
    course: CourseOption = None,
) -> None:
    """A terminal quiz on the practice questions, with instant feedback and a score.

    Answer options by letter, numbers as typed (3/4 and 1e-3 work), and grade your own
    short answers against the reference and rubric. Ctrl-C or Ctrl-D ends with the score so far.
    Your misses are kept in $MMEXAM_HOME/practice-history.json (default ~/.mmexam).

    Example: mmexam practice quiz --part mcq --count 5 --review
    """
    from mmexam.practice.history import history_path, load_history, save_history
    from mmexam.practice.quiz import Tally, choose, prepare

    source = _source(bundle, bank, course)
    history_file = history_path()
    history = load_history(history_file)
    rng = random.Random(seed)
    questions = choose(
        source.questions,
        source.blueprint,
        parts=part,
        topics=topic,
        count=count,
        rng=rng,
        first=history.missed_ids() if review else frozenset(),
    )
    titles = {p.id: p.title for p in source.blueprint.parts}
    bundle_hint = f" --bundle {bundle}" if bundle else ""

    def task_hint(task: str) -> str:
        entry = source.task(task)
        return f" (starter: {bundle / entry.starter})" if bundle and entry else ""

    session = _Session(Console(highlight=False), bundle_hint)
    tally = Tally()
    outcomes: list = []
    try:
        for number, question in enumerate(questions, 1):
            item = prepare(question, rng)
            session.header(number, len(questions), item, titles.get(question.part, question.part))
            outcomes = []
            for step in item.steps:
                outcomes.append(session.run_step(step, task_hint))
            scored = any(o.verdict != "code" for o in outcomes)
            missed = tally.add(outcomes)
            outcomes = []
            if scored:
                history.record(question.id, missed)
                save_history(history, history_file)
    except KeyboardInterrupt:
        tally.add_partial(outcomes)
        session.summary(tally, history_file, early="Ctrl-C")
        raise typer.Exit(130) from None
    except EOFError:
        tally.add_partial(outcomes)
        session.summary(tally, history_file, early="end of input")
        raise typer.Exit(0) from None
    session.summary(tally, history_file, early=None)


# ---------------------------------------------------------------- export


@practice.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="The bundle folder to write.")] = Path(
        "practice"
    ),
    bank: Annotated[
        Path | None,
        typer.Option("--bank", help="The question bank to export from.", file_okay=False),
    ] = None,
    include_exam_items: Annotated[
        bool,
        typer.Option(
            "--include-exam-items",
            help="Export questions the real exam may draw too (for a public or practice-only exam).",
        ),
    ] = False,
    course: CourseOption = None,
) -> None:
    """Write the student bundle: practice questions with answers, starter stubs, public-check fixtures.

    For instructors. The bundle holds no reference code and no hidden check; students
    use it with `practice quiz --bundle` and `practice check --bundle`.

    Example: mmexam practice export --out practice/
    """
    from mmexam.course import resolve_course
    from mmexam.practice.bundle import export_bundle

    found = resolve_course(course)
    result = export_bundle(
        bank or found.bank, out, graders=found.graders, include_exam_items=include_exam_items
    )
    console = Console(highlight=False)
    parts = ", ".join(f"{part} {n}" for part, n in result.by_part.items())
    console.print(
        Text(f"Wrote {result.out}/: {result.questions} practice questions ({parts})"),
        soft_wrap=True,
    )
    for task in result.tasks:
        console.print(
            Text(
                f"  {task.starter}: {len(task.functions)} functions; "
                f"fixtures/{task.task}.*: {len(task.checks)} public checks"
            ),
            soft_wrap=True,
        )
    if result.exam_items:
        console.print(
            Text(
                f"  {result.exam_items} of them are in the real exam's pool "
                "(--include-exam-items): students now hold them"
            ),
            soft_wrap=True,
        )
    if result.excluded:
        console.print(
            Text(f"  left out (practice: false): {', '.join(result.excluded)}"), soft_wrap=True
        )
    console.print(Text(f"Students run: mmexam practice quiz --bundle {result.out}"), soft_wrap=True)


# ---------------------------------------------------------------- exam


@practice.command()
def exam(
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the draw; the same seed gives the same exam."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the exam and its key.")] = Path(
        "practice-exam"
    ),
    bank: Annotated[
        Path | None,
        typer.Option("--bank", help="The question bank to draw from.", file_okay=False),
    ] = None,
    course: CourseOption = None,
) -> None:
    """A timed practice midterm (PDF + HTML) from the practice pool, with its answer key.

    The same six parts, points and time as the real midterm, drawn and rendered by
    `mmexam build`. Write it against the clock, then compare with key.pdf.

    Example: mmexam practice exam --seed 7 --out practice-exam/
    """
    from datetime import datetime, timedelta

    from mmexam.course import resolve_course
    from mmexam.practice.exam import practice_exam

    found = resolve_course(course)
    result = practice_exam(bank or found.bank, out, seed=seed, graders=found.graders)
    console = Console(highlight=False)
    names = ", ".join(p.name for p in result.files if p.parent == result.out)
    console.print(
        Text(f"{result.title} (seed {result.seed}) in {result.out}/: {names}"), soft_wrap=True
    )
    if any(p.parent.name == "starter" for p in result.files):
        console.print(
            Text(f"Starter code for the code parts: {result.out}/starter/"), soft_wrap=True
        )
    end = datetime.now() + timedelta(minutes=result.minutes)
    console.print(
        Text(
            f"You have {result.minutes} minutes: open exam.pdf now and stop at {end:%H:%M}; "
            "then mark it with key.pdf.",
            style="bold",
        ),
        soft_wrap=True,
    )
    console.print(
        Text(f"The same exam again: mmexam practice exam --seed {result.seed}"), soft_wrap=True
    )


# ---------------------------------------------------------------- check


@practice.command("check")
def check_command(
    task: Annotated[
        str, typer.Argument(help="Code task: fusion, contrastive, mllm or generation.")
    ],
    file: Annotated[Path, typer.Argument(help="Your Python file for that task, e.g. fusion.py.")],
    bundle: BundleOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of a table.")
    ] = False,
    no_sandbox: NoSandboxOption = False,
    function: FunctionOption = None,
) -> None:
    """Run a code task's public checks on your file, as the real grading does.

    The same sandbox and messages as `mmexam check`; with --bundle, the expected outputs
    come from the bundle's fixtures. Hidden checks run only at grading time. Exit status
    0 when every check passed, 1 when any failed, 2 for a usage error (unknown task or
    function, unreadable file, a bundle without the task).

    Example: mmexam practice check fusion fusion.py --function tensor_fusion
    """
    from mmexam.checks.planner import function_names
    from mmexam.cli.check import check_function, read_source, run_and_show, usage_errors
    from mmexam.practice.check import bundle_modules, fixtures_for, practice_checks

    with usage_errors():
        fixtures = None
        if bundle is not None:
            # a wrong task or bundle fails before the sandbox starts
            fixtures = fixtures_for(task, bundle)
        else:
            from mmexam.checks.tasks import list_tasks

            if task not in list_tasks():
                raise PracticeError(
                    f"unknown code task '{task}' — known tasks: {', '.join(list_tasks())}"
                )
        if function is not None:
            check_function(task, function, function_names(task, fixtures=fixtures))
        source = read_source(file)

    def grade(sandbox):
        return practice_checks(
            task, source, filename=file.name, bundle=bundle, sandbox=sandbox, function=function
        )

    modules = bundle_modules(task, bundle) if bundle is not None else None
    here = file.resolve().parent
    run_and_show(
        grade, as_json=as_json, no_sandbox=no_sandbox, modules=modules, hide=(here,), folder=here
    )
