"""`mmexam grade` end to end on a small exam: real bank, real build papers, real sandbox.

One graded class (module fixture) serves most tests; expectations are built
from what each submission was made to contain, never read from the output.
"""

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from exam_fixture import BANK, make_exam, reference, write_answers
from gradescope_schema import validate

from mmexam.errors import GradeError, UsageError
from mmexam.grade.engine import GradeOptions, grade_submissions
from mmexam.grade.merge import merge_shards

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

IDS = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]  # s8 is on the roster but submits nothing
BUG = """

def tensor_fusion(x_a, x_b):
    # forgot the unsqueeze: torch.ones(B) cannot be concatenated to [B, dA]
    ones = torch.ones(x_a.shape[0])
    return torch.cat([x_a, ones], dim=1)
"""


def function_points(task: str) -> dict[str, float]:
    """Points of the checks that run here (CUDA checks are skipped on a CPU), per function."""
    import torch

    from mmexam.checks import plans

    points: dict[str, float] = {}
    for plan in plans(task):
        if plan.kind == "device" and not torch.cuda.is_available():
            continue
        points[plan.function] = points.get(plan.function, 0.0) + plan.points
    return points


def build_class(root: Path):
    exam = make_exam(root, IDS + ["s8"])
    subs = root / "submissions"
    expected: dict[str, dict[str, float | None]] = {}

    def answers_for(sid, how):
        return {i.number: how(i) for i in exam.student(sid).items if i.kind != "code"}

    def auto(sid, right: set[str] | None = None, code: dict | None = None):
        """Expected points: `right` numbers earn full points (None = all), code as given."""
        out = {}
        for item in exam.student(sid).items:
            if item.kind in ("short_answer", "open"):
                out[item.number] = None
            elif item.kind == "code":
                out[item.number] = (code or {}).get(item.number, 0.0)
            else:
                out[item.number] = item.points if right is None or item.number in right else 0.0
        return out

    def full_code(sid):
        return {i.number: i.points for i in exam.student(sid).items if i.kind == "code"}

    # s1: perfect
    write_answers(subs / "s1", answers_for("s1", exam.correct))
    (subs / "s1" / "fusion.py").write_text(reference("fusion"))
    expected["s1"] = auto("s1", code=full_code("s1"))

    # s2: every answer wrong, tensor_fusion raises on every call
    write_answers(subs / "s2", answers_for("s2", exam.wrong))
    (subs / "s2" / "fusion.py").write_text(reference("fusion") + BUG)
    fp = function_points("fusion")
    code = {}
    for item in exam.student("s2").items:
        if item.kind == "code":
            functions = exam.body(item).functions
            total = sum(fp[f] for f in functions)
            code[item.number] = (
                item.points * sum(fp[f] for f in functions if f != "tensor_fusion") / total
            )
    expected["s2"] = auto("s2", right=set(), code=code)

    # s3: corrupted answers.yaml, perfect code
    (subs / "s3").mkdir(parents=True)
    (subs / "s3" / "answers.yaml").write_text("1.1: a\n1.2: [b, c\n")
    (subs / "s3" / "fusion.py").write_text(reference("fusion"))
    expected["s3"] = auto("s3", right=set(), code=full_code("s3"))
    expected["s3"].update(
        {i.number: 0.0 for i in exam.student("s3").items if i.kind in ("short_answer", "open")}
    )

    # s4: answers.yaml saved as Latin-1; its answers still count
    answers = answers_for("s4", exam.correct)
    text = "\n".join(f"'{k}': {json.dumps(v, ensure_ascii=False)}" for k, v in answers.items())
    (subs / "s4").mkdir(parents=True)
    (subs / "s4" / "answers.yaml").write_bytes((text + "\n# résumé\n").encode("latin-1"))
    expected["s4"] = auto("s4")

    # s5: a zip with a ../ member and a link next to good answers
    s5 = root / "build-s5"
    write_answers(s5, answers_for("s5", exam.correct))
    with zipfile.ZipFile(subs / "s5.zip", "w") as archive:
        archive.write(s5 / "answers.yaml", "answers.yaml")
        archive.writestr("../../escaped.py", "print('out')\n")
        archive.writestr("fusion.py", reference("fusion"))
    expected["s5"] = auto("s5", code=full_code("s5"))

    # s6: answers of the wrong type, and a number that is not on the paper
    items = [i for i in exam.student("s6").items if i.kind in ("mcq", "numeric")]
    wrong_type = {i.number: ("twenty" if i.kind == "numeric" else "z") for i in items}
    write_answers(subs / "s6", {**wrong_type, "9.9": "a"})
    expected["s6"] = auto("s6", right=set())
    expected["s6"].update(
        {i.number: 0.0 for i in exam.student("s6").items if i.kind in ("short_answer", "open")}
    )

    # s7: code with a syntax error, right answers
    write_answers(subs / "s7", answers_for("s7", exam.correct))
    (subs / "s7" / "fusion.py").write_text("def tensor_fusion(x_a, x_b)\n    return x_a\n")
    expected["s7"] = auto("s7")

    # zz: not on the roster
    write_answers(subs / "zz", {"1.1": "a"})
    return exam, subs, expected


def options(root: Path, exam, subs: Path, **kw) -> GradeOptions:
    return GradeOptions(
        submissions=subs,
        variants=exam.variants,
        bank=BANK,
        out=root / "grades",
        manual=root / "manual",
        jobs=2,
        **kw,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    exam, subs, expected = build_class(root)
    summary = grade_submissions(options(root, exam, subs))
    return root, exam, subs, expected, summary


def snapshot(root: Path) -> dict[str, bytes]:
    files = {}
    for folder in ("grades", "manual"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(root))] = path.read_bytes()
    return files


def test_each_student_gets_exactly_the_expected_points(graded):
    _, _, _, expected, summary = graded
    by_id = {r.id: r for r in summary.results}
    assert sorted(by_id) == sorted(IDS + ["zz"])
    for sid, want in expected.items():
        got = {i.number: i.points for i in by_id[sid].items}
        assert got.keys() == want.keys(), sid
        for number, points in want.items():
            if points is None:
                assert got[number] is None, (sid, number)
            else:
                assert got[number] == pytest.approx(points), (sid, number, got[number])


def test_problems_are_recorded_and_never_stop_the_run(graded):
    root, _, _, _, summary = graded
    by_id = {r.id: r for r in summary.results}
    lines = {sid: " | ".join(p.line() for p in r.problems) for sid, r in by_id.items()}
    assert by_id["s1"].problems == [] and by_id["s2"].problems == []
    assert "answers.yaml:2: not valid YAML" in lines["s3"]
    assert "answers.yaml:" in lines["s4"] and "not UTF-8 (byte 0xe9" in lines["s4"]
    assert "s5.zip: ../../escaped.py: a path that leaves the submission folder" in lines["s5"]
    assert (
        "'twenty' is not a number" in lines["s6"] and "'z' is not one of the letters" in lines["s6"]
    )
    assert "9.9 is not a question number on your paper" in lines["s6"]
    assert "not in variants.json" in lines["zz"]
    assert not (root / "escaped.py").exists() and not (root.parent / "escaped.py").exists()
    with (root / "grades" / "grades.csv").open(newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert [rows[s]["status"] for s in ("s1", "s3", "s4", "s5", "s6", "s8")] == [
        "ok",
        "problems",
        "problems",
        "problems",
        "problems",
        "no submission",  # on the roster, sent nothing: a status, not a row of zeros
    ]
    assert "zz" not in rows  # off the roster: listed apart
    with (root / "grades" / "off-roster.csv").open(newline="") as handle:
        apart = list(csv.DictReader(handle))
    assert [(r["id"], r["status"], r["total (of 34)"]) for r in apart] == [("zz", "no paper", "")]
    assert "not in variants.json" in apart[0]["problem"]
    report = (root / "grades" / "report.html").read_text()
    for sid in ("s3", "s4", "s5", "s6", "zz"):
        assert f"<strong>{sid}</strong>" in report
    assert "s8" in report  # on the roster, no submission
    feedback = (root / "grades" / "students" / "s7" / "feedback.html").read_text()
    assert "SyntaxError" in feedback


def test_pending_is_reported_not_zero(graded):
    root, exam, _, _, summary = graded
    s1 = next(r for r in summary.results if r.id == "s1")
    assert s1.pending == 2
    with (root / "grades" / "grades.csv").open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["id"] == "s1")
    auto_total = sum(
        i.points
        for i in exam.student("s1").items
        if not i.bonus and i.kind not in ("short_answer", "open")
    )
    assert float(row["total (of 34)"]) == pytest.approx(auto_total)
    assert row["pending"] == "2"
    data = json.loads((root / "grades" / "students" / "s1" / "results.json").read_text())
    pending = [t for t in data["tests"] if "pending" in t["name"]]
    assert len(pending) == 2 and all("score" not in t for t in pending)


def test_every_results_json_is_valid_gradescope(graded):
    root = graded[0]
    files = sorted((root / "grades" / "students").glob("*/results.json"))
    assert len(files) == len(IDS) + 1
    for path in files:
        validate(json.loads(path.read_text()))


def test_a_rerun_reuses_everything_and_changes_no_byte(graded, tmp_path):
    root, exam, _, _, _ = graded
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    exam_copy = type(exam)(exam.bank, exam.manifest, copy / "variants.json")
    summary = grade_submissions(options(copy, exam_copy, copy / "submissions"))
    assert summary.graded == 0 and summary.reused == len(IDS) + 1
    assert snapshot(copy) == snapshot(root)


def test_manual_points_are_merged_on_the_next_run(graded, tmp_path):
    root, exam, _, _, _ = graded
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    short = next(i for i in exam.student("s1").items if i.kind == "short_answer")
    sheet = copy / "manual" / f"{short.question}.csv"
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["student"] == "s1":
            row["points"], row["comment"] = "4", "Name the interaction term."
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    exam_copy = type(exam)(exam.bank, exam.manifest, copy / "variants.json")
    summary = grade_submissions(options(copy, exam_copy, copy / "submissions"))
    assert summary.graded == 0
    s1 = next(r for r in summary.results if r.id == "s1")
    item = next(i for i in s1.items if i.number == short.number)
    assert item.points == 4 and item.status == "manual" and s1.pending == 1
    page = (copy / "grades" / "students" / "s1" / "feedback.html").read_text()
    assert "Name the interaction term." in page
    rows = {r["student"]: r for r in csv.DictReader(sheet.read_text().splitlines())}
    assert rows["s1"]["points"] == "4"


def test_only_regrades_one_question_after_a_key_fix(graded, tmp_path):
    root, exam, _, _, before = graded
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    bank = tmp_path / "bank"
    shutil.copytree(BANK, bank)
    questions = bank / "questions.yaml"
    text = questions.read_text()
    old = '      - text: "None of the above"\n        fixed: true\n    answer: a'
    assert old in text
    questions.write_text(text.replace(old, old[:-1] + "b"))  # the key moves to option b
    exam_copy = type(exam)(exam.bank, exam.manifest, copy / "variants.json")
    opts = options(copy, exam_copy, copy / "submissions", only="mcq-clip-objective")
    after = grade_submissions(GradeOptions(**{**opts.__dict__, "bank": bank}))
    assert after.graded > 0
    old_points = {(r.id, i.number): i.points for r in before.results for i in r.items}
    changed = set()
    for r in after.results:
        for i in r.items:
            if i.points != old_points[(r.id, i.number)]:
                changed.add((r.id, i.question))
    assert changed and all(q == "mcq-clip-objective" for _, q in changed)
    assert ("s1", "mcq-clip-objective") in changed or "mcq-clip-objective" not in {
        i.question for i in exam.student("s1").items
    }


def test_only_with_an_unknown_number_is_an_error(graded, tmp_path):
    _, exam, subs, _, _ = graded
    with pytest.raises(UsageError, match="--only 7.7: no item has that number"):
        grade_submissions(options(tmp_path, exam, subs, only="7.7"))


def test_shards_merge_to_the_single_run(tmp_path):
    exam = make_exam(tmp_path, [f"t{k}" for k in range(8)])
    subs = tmp_path / "subs"
    for k in range(7):
        sid = f"t{k}"
        how = exam.correct if k % 2 else exam.wrong
        write_answers(
            subs / sid, {i.number: how(i) for i in exam.student(sid).items if i.kind != "code"}
        )
    single = tmp_path / "single"
    grade_submissions(
        GradeOptions(
            submissions=subs,
            variants=exam.variants,
            bank=BANK,
            out=single / "grades",
            manual=single / "manual",
        )
    )
    shard_dirs = []
    seen = set()
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        summary = grade_submissions(
            GradeOptions(
                submissions=subs,
                variants=exam.variants,
                bank=BANK,
                out=out,
                manual=tmp_path / "unused",
                shard=(k, 3),
            )
        )
        ids = {r.id for r in summary.results}
        assert not ids & seen
        seen |= ids
        shard_dirs.append(out)
    assert seen == {f"t{k}" for k in range(7)}
    assert not (tmp_path / "unused").exists()
    merged = tmp_path / "merged"
    with pytest.raises(GradeError, match="missing shard"):
        merge_shards(shard_dirs[:2], merged / "grades", merged / "manual")
    merge_shards(shard_dirs, merged / "grades", merged / "manual")
    a, b = snapshot(single), snapshot(merged)
    assert {k.split("/", 1)[1] for k in a} == {k.split("/", 1)[1] for k in b}
    for key, data in a.items():
        assert b[key.replace(str(single), str(merged))] == data, key


def test_kill_9_mid_run_then_resume_gives_identical_files(graded, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = graded[0]
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(root / "submissions", run / "submissions")
    shutil.copy2(root / "variants.json", run / "variants.json")
    command = [
        sys.executable,
        "-m",
        "mmexam",
        "grade",
        str(run / "submissions"),
        "--variants",
        str(run / "variants.json"),
        "--bank",
        str(BANK),
        "--out",
        str(run / "grades"),
        "--manual",
        str(run / "manual"),
        "--jobs",
        "2",
    ]
    total = len(IDS) + 1
    graded_dir = run / "grades" / "graded"
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        done = 0
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            done = len(list(graded_dir.glob("*.json"))) if graded_dir.is_dir() else 0
            if done >= 4:  # the answer-only students and at least one sandboxed one
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    finally:
        process.stderr.close()
        try:  # the workers notice their parent is gone; make sure nothing is left behind
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert 4 <= done < total
    assert not (run / "grades" / "grades.csv").exists()
    for path in graded_dir.glob("*.json"):
        json.loads(path.read_text())  # every saved result is whole

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"reused {done}" in resumed.stdout.replace("\n", " ") or "reused" in resumed.stdout
    assert snapshot(run) == snapshot(root)
