"""check_bank on the good test bank and on one broken bank per kind of problem.

Each broken bank is the good one with the files of
tests/fixtures/banks/validate/broken/<kind>/ laid over it; the test asserts
every problem line (file:line:col: id: message) and the summary exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mmexam.bank import Bank, BankReport, check_bank, load_bank
from mmexam.bank.models import Mcq, Problem
from mmexam.errors import BankError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GRADERS = FIXTURES / "graders"
BROKEN = FIXTURES / "banks" / "validate" / "broken"
REPO = Path(__file__).resolve().parent.parent.parent


def lines(report: BankReport, root: Path) -> list[str]:
    shown = [
        str(p).replace(f"{root}/", "").replace(str(GRADERS), "<graders>") for p in report.problems
    ]
    return [*shown, report.summary()]


EXPECTED = {
    "blueprint-missing": (
        "exam.yaml: missing: a bank needs exam.yaml (the blueprint) — see `mmexam schema --blueprint` for its format",
        "1 error in 1 file",
    ),
    "blueprint-pools": (
        "exam.yaml:4:15: the non-bonus parts add up to 26 points, but total_points is 20 — make them agree",
        "exam.yaml:5:15: the bonus parts add up to 5 points, but bonus_points is 4 — make them agree",
        "exam.yaml:14:11: part mcq: part 'mcq' draws 5 questions but its pool has 3 — add questions with part: mcq, or lower pick",
        "exam.yaml:21:32: part short: pool id 'short-gate-wieght' is not a question in the bank — did you mean 'short-gate-weight'?",
        "exam.yaml:21:51: part short: question 'mcq-infonce' belongs to part 'mcq', not 'short' — change its part or drop it from the pool",
        "exam.yaml:24:11: part fusion: part 'fusion' draws 1 question but its pool has 0 — add questions with part: fusion tagged with one of diffusion, fuson, or lower pick",
        "exam.yaml:27:27: part fusion: pool topic 'fuson' is not in topics — did you mean 'fusion'?",
        "exam.yaml:28:9: part short: duplicate part id 'short' (also parts[1]) — give each part its own id",
        "8 errors in 1 file",
    ),
    "blueprint-schema": (
        "exam.yaml:3:19: duration_minutes: expected a whole number, got the text 'sixty'",
        "exam.yaml:16:5: part mcq: unknown key 'shufle' — did you mean 'shuffle'?",
        "exam.yaml:19:11: part short: parts[1].pick must be >= 1, got the number 0 — change the value",
        "3 errors in 1 file",
    ),
    "code": (
        "broken.yaml:10:77: code-bad-refs: part (a): function 'scael' is not defined in <graders>/demo/reference.py — did you mean 'scale'?",
        "broken.yaml:11:50: code-bad-refs: part (b): task 'dmeo' is not a folder in <graders> — did you mean 'demo'?",
        "2 errors in 1 file",
    ),
    "duplicate-id": (
        "broken.yaml:2:9: mcq-infonce: duplicate id 'mcq-infonce' — also at mcq.yaml:22; ids must be unique across the bank, rename one",
        "mcq.yaml:22:9: mcq-infonce: duplicate id 'mcq-infonce' — also at broken.yaml:2; ids must be unique across the bank, rename one",
        "2 errors in 2 files",
    ),
    "duplicate-key": (
        "broken.yaml:9:5: duplicate key 'text' (first at line 8) — keep only one",
        "1 error in 1 file",
    ),
    "duplicate-options": (
        "broken.yaml:9:25: two-correct: options a and c read the same ('4') — make every option different, so exactly the keyed ones are correct",
        "broken.yaml:21:30: two-correct-for-some-values: for d=2: options a and b read the same ('4') — make every option different, so exactly the keyed ones are correct",
        "2 errors in 1 file",
    ),
    "file-structure": (
        "broken.yaml:1:1: unknown key 'questons' — did you mean 'questions'?",
        "other.yaml:2:5: questions[0]: expected a question (a mapping of id, kind, text, ...), got the text 'just a string'",
        "other.yaml:6:13: fine-but-wrong-type: topics: expected a list, got the text 'fusion'",
        "3 errors in 2 files",
    ),
    "math": (
        "broken.yaml:11:9: broken-math: text: math '$\\mathcal{L} = \\frac{1}{N \\sum_i \\ell_i$' cannot be converted: Unmatched '{' — fix the LaTeX",
        "broken.yaml:13:24: broken-math: text: unknown LaTeX command \\softgate in math '$\\softgate(x)$' — use a standard command, or \\operatorname{...} for a named operator",
        "broken.yaml:14:17: broken-math: reference: unmatched '$' in 'Costs $5 per \\mathbf{x}.' — close the formula with '$' (no digit right after it), or write '\\$' for a dollar sign",
        "broken.yaml:16:35: broken-math: rubric[0].description: unclosed '**' in 'Uses **bold' — close the bold with '**', or write '\\*\\*' for the characters themselves",
        "broken.yaml:17:44: broken-math: rubric[1].description: math '$a \\hspace{x} b$' cannot be typeset: Typst says 'unknown variable: x' (converted to 'a #h(x) b') — rewrite the formula with standard commands",
        "5 errors in 1 file",
    ),
    "mcq-answer": (
        "broken.yaml:10:13: answer-out-of-range: answer 'e' is not one of the options a–d — use one of a, b, c, d",
        "broken.yaml:20:13: answer-is-a-list: answer: an mcq has exactly one correct option, so answer is one letter — for several use kind: multi_select",
        "2 errors in 1 file",
    ),
    "multi-select": (
        "broken.yaml:10:18: select-bad-letters: answer 'd' is not one of the options a–c — use letters from a, b, c",
        "broken.yaml:10:21: select-bad-letters: answer 'a' is listed twice — list each correct option once",
        "2 errors in 1 file",
    ),
    "no-solution": (
        "broken.yaml:2:5: no-key: no solution or explanation — add one (the answer key and feedback show why the answer is right)",
        "broken.yaml:19:9: problem-without-key: part (b) has no solution or explanation — add one (the answer key and feedback show why the answer is right), or give the problem a solution",
        "2 errors in 1 file",
    ),
    "points": (
        "broken.yaml:7:13: rubric-short: points is 5 but the rubric items add up to 4 — make them equal",
        "broken.yaml:19:13: problem-sum: points is 10 but the parts add up to 8 — make them equal, or leave points out",
        "broken.yaml:29:13: worth-too-much: worth 3 points, but part 'mcq' gives each question 2 (4 points / 2 picked) — make it worth 2",
        "3 errors in 1 file",
    ),
    "schema-values": (
        "broken.yaml:2:9: Bad Id: id: the text 'Bad Id' is not a valid slug — use lower-case letters, digits and dashes, e.g. 'bad-id'",
        "broken.yaml:6:17: Bad Id: difficulty: the text 'medum' is not one of easy, medium, hard — did you mean 'medium'?",
        "broken.yaml:7:13: Bad Id: points must be > 0, got the number -2 — change the value",
        "broken.yaml:9:14: Bad Id: options needs at least 2 item(s), has 1",
        "broken.yaml:19:24: yes-is-text: options[2]: expected text or a mapping, got true — put it in quotes: 'true'",
        "broken.yaml:31:57: bad-regex: rubric[0].regex is not a valid regular expression (missing ), unterminated subpattern at position 0) — fix it",
        "6 errors in 1 file",
    ),
    "templates": (
        "broken.yaml:11:11: undefined-param: text: template uses 'd_c', which is not a parameter — did you mean 'd_b'?",
        "broken.yaml:23:13: fails-for-some-values: answer: for n=0: template failed with ZeroDivisionError: division by zero — fix the template or the parameter ranges",
        "broken.yaml:34:13: answer-not-a-number: answer: for n=1: numeric answer rendered as '1 features', not a number — fix the template or the parameter ranges",
        "broken.yaml:44:7: unused-and-stray: parameter 'unused' is never used — use {{ unused }} in the text or answers, or remove it",
        "broken.yaml:45:11: unused-and-stray: text: template syntax error: unexpected end of template, expected 'end of print statement' — fix the {{ ... }} expression",
        "broken.yaml:54:11: stray-template: text: '{{ d_a }}' looks like a template, but the question has no params — add params, or remove the braces",
        "broken.yaml:55:13: stray-template: answer 'twelve' is not a number — write a number, or add params to make it a template",
        "7 errors in 1 file",
    ),
    "unknown-key": (
        "broken.yaml:9:5: typo-options: unknown key 'optons' — did you mean 'options'?",
        "1 error in 1 file",
    ),
    "unknown-kind": (
        "broken.yaml:3:11: bad-kind: kind 'mcx' is not a question kind — did you mean 'mcq'?",
        "broken.yaml:9:5: no-kind: missing 'kind' — add kind: one of mcq, multi_select, numeric, short_answer, code, open, problem",
        "2 errors in 1 file",
    ),
    "unknown-topic-part": (
        "broken.yaml:4:11: misspelt-topic-and-part: part 'fusoin' is not in exam.yaml — did you mean 'fusion'?",
        "broken.yaml:5:22: misspelt-topic-and-part: topic 'contrastiv' is not in exam.yaml's topics — did you mean 'contrastive'? (or add it to exam.yaml)",
        "broken.yaml:5:34: misspelt-topic-and-part: topic 'memes' is not in exam.yaml's topics — use one of contrastive, diffusion, fusion (or add it to exam.yaml)",
        "3 errors in 1 file",
    ),
    "yaml-bomb": (
        "broken.yaml:6:8: aliases expand this file to more than 100,856 values (a 'billion laughs' YAML bomb?) — use fewer nested aliases",
        "1 error in 1 file",
    ),
    "yaml-empty": (
        "broken.yaml:1:1: the file is empty — start the file with 'questions:' and list the questions under it, or delete the file",
        "1 error in 1 file",
    ),
    "yaml-latex-in-double-quotes": (
        "broken.yaml:8:25: YAML syntax error: found unknown escape character (while parsing a quoted scalar) — in double quotes a backslash starts an escape: write LaTeX in single quotes ('...') or in a | block",
        "mangled.yaml:8:11: '\\frac' in double quotes: YAML reads '\\f' as form feed, so the LaTeX is lost — write LaTeX in single quotes ('...') or in a | block",
        "mangled.yaml:8:11: mangled-latex: text: math '$\x08eta$' cannot be converted: Unknown token type — fix the LaTeX",
        "3 errors in 2 files",
    ),
    "yaml-not-utf8": (
        "broken.yaml:3:15: the file is not UTF-8 (byte 0xe9) — save it as UTF-8",
        "1 error in 1 file",
    ),
    "yaml-syntax": (
        "broken.yaml:6:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar) — close the quote",
        "1 error in 1 file",
    ),
    "yaml-tab": (
        "broken.yaml:4:1: a tab is used for indentation — YAML indents with spaces; replace the tab with spaces",
        "1 error in 1 file",
    ),
    "yaml-top-level-list": (
        "broken.yaml:1:1: the top level is a list, but a bank file is a mapping — start the file with 'questions:' and list the questions under it",
        "1 error in 1 file",
    ),
    "yaml-unsafe-tag": (
        "broken.yaml:8:11: tagged: text: expected text, got a list",
        "broken.yaml:8:11: unsupported YAML tag !!python/object/apply:os.system — remove it; the bank only holds plain data",
        "2 errors in 1 file",
    ),
}


def test_every_broken_fixture_has_expectations():
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_broken_bank_reports_every_problem_where_it_is(kind, make_bank):
    root = make_bank(kind)
    report = check_bank(root, graders=GRADERS)
    assert lines(report, root) == list(EXPECTED[kind])
    assert report.bank is None
    assert not report.ok


def test_good_bank_is_clean_and_complete(make_bank):
    root = make_bank()
    report = check_bank(root, graders=GRADERS)
    assert report.problems == []
    assert report.summary() == (
        "7 questions in 5 files (2 mcq, 1 multi_select, 1 numeric, 1 open, 1 problem, "
        "1 short_answer), 4 parts: no problems"
    )
    bank = report.bank
    assert isinstance(bank, Bank)
    assert list(bank.questions)[:3] == ["bonus-open", "mcq-tensor-size", "mcq-infonce"]
    assert isinstance(bank.questions["mcq-infonce"], Mcq)
    assert isinstance(bank.questions["fusion-problem"], Problem)
    assert bank.source("mcq-infonce") == (str(root / "mcq.yaml"), 22)
    assert [q.id for q in bank.pool("mcq")] == [
        "mcq-tensor-size",
        "mcq-infonce",
        "mcq-diffusion-select",
    ]
    assert [q.id for q in bank.pool(bank.part("short"))] == [
        "short-late-fusion",
        "short-gate-weight",
    ]
    assert bank.blueprint.total_points == 19


def test_pool_narrows_by_ids_and_topics(make_bank):
    root = make_bank()
    exam = (root / "exam.yaml").read_text()
    exam = exam.replace(
        '  - id: mcq\n    title: "Multiple choice"\n    pick: 2\n',
        '  - id: mcq\n    title: "Multiple choice"\n    pick: 2\n'
        "    pool: {topics: [contrastive, diffusion]}\n",
    )
    (root / "exam.yaml").write_text(exam)
    bank = load_bank(root, graders=GRADERS)
    assert [q.id for q in bank.pool("mcq")] == ["mcq-infonce", "mcq-diffusion-select"]


def test_load_bank_raises_the_first_problem_and_counts_the_rest(make_bank):
    root = make_bank("points")
    with pytest.raises(BankError) as caught:
        load_bank(root, graders=GRADERS)
    message = str(caught.value)
    assert message.startswith(
        f"{root}/broken.yaml:7:13: rubric-short: points is 5 but the rubric items add up to 4"
    )
    assert message.endswith(f"(and 2 more: run `mmexam validate {root}`)")
    assert "\n" not in message


def test_missing_folder_and_file_arguments(tmp_path, make_bank):
    report = check_bank(tmp_path / "nowhere")
    assert [str(p) for p in report.problems] == [
        f"{tmp_path / 'nowhere'}: no such folder — give the bank folder (the one with exam.yaml)"
    ]
    root = make_bank()
    report = check_bank(root / "mcq.yaml", graders=GRADERS)
    assert [str(p) for p in report.problems] == [
        f"{root / 'mcq.yaml'}: is a file — give the bank folder that holds it and exam.yaml"
    ]
    # exam.yaml itself stands for its folder.
    assert check_bank(root / "exam.yaml", graders=GRADERS).ok


def test_hidden_files_are_skipped_and_subfolders_read(make_bank):
    root = make_bank()
    (root / ".draft.yaml").write_text("not: [valid")
    (root / "extra").mkdir()
    (root / "extra" / "more.yml").write_text((BROKEN / "unknown-key" / "broken.yaml").read_text())
    report = check_bank(root, graders=GRADERS)
    assert lines(report, root) == [
        "extra/more.yml:9:5: typo-options: unknown key 'optons' — did you mean 'options'?",
        "1 error in 1 file",
    ]


def test_math_verdicts_are_remembered_between_runs(make_bank, tmp_path, monkeypatch):
    from mmexam import markup

    monkeypatch.setenv("MMEXAM_CACHE_DIR", str(tmp_path / "cache"))
    root = make_bank("math")
    first = check_bank(root, graders=GRADERS)
    assert list((tmp_path / "cache").glob("markup-*.json"))

    def no_conversion(*args, **kwargs):
        raise AssertionError("a cached formula was converted again")

    monkeypatch.setattr(markup, "math_to_typst", no_conversion)
    monkeypatch.setattr(markup, "check_typst_math", no_conversion)
    monkeypatch.setattr(markup, "scan", no_conversion)
    second = check_bank(root, graders=GRADERS)
    assert second.problems == first.problems


def test_a_corrupt_cache_is_ignored(make_bank, tmp_path, monkeypatch):
    monkeypatch.setenv("MMEXAM_CACHE_DIR", str(tmp_path / "cache"))
    root = make_bank("math")
    check_bank(root, graders=GRADERS)
    for path in (tmp_path / "cache").glob("markup-*.json"):
        path.write_text("{not json")
    assert len(check_bank(root, graders=GRADERS).problems) == 5


def test_math_can_be_skipped(make_bank):
    root = make_bank("math")
    report = check_bank(root, graders=GRADERS, math=False)
    assert report.ok


def test_the_shipped_bank_is_valid():
    report = check_bank(REPO / "question_bank")
    assert report.problems == [], "\n".join(str(p) for p in report.problems)
