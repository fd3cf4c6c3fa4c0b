"""Declared exclusions (`excludes:`), suspected overlaps, and the blueprint's `cover` rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from mmexam.bank import check_bank, load_bank
from mmexam.bank.overlap import exclusions, suspected_overlaps, undeclared
from mmexam.cli import app

REPO = Path(__file__).resolve().parent.parent.parent
BANK = REPO / "question_bank"
GRADERS = REPO / "tests" / "fixtures" / "graders"


def shipped():
    return load_bank(BANK, graders=REPO / "graders", math=False)


def test_the_overlaps_the_review_found_are_declared():
    excluded = shipped().excluded()
    for a, b in [
        ("mcq-tensor-fusion-size", "fusion-tensor-dimensions"),
        ("mcq-diffusion-vs-vae", "gen-ddpm"),
        ("short-minigpt4-stages", "mllm-minigpt4-projection"),
        ("mcq-infonce-negatives", "short-infonce-batch"),
    ]:
        assert b in excluded[a] and a in excluded[b]


def test_the_detector_finds_a_question_asked_twice_and_the_shipped_bank_declares_all_it_finds():
    bank = shipped()
    found = {(o.first, o.second): o for o in suspected_overlaps(bank.questions)}
    assert ("mcq-diffusion-vs-vae", "short-diffusion-vs-vae") in found
    assert found[("gen-ddpm", "short-diffusion-vs-vae")].where == ("(e)", "")
    assert undeclared(bank.questions) == []


def test_exclusions_are_symmetric_and_ignore_unknown_ids():
    class Q:
        def __init__(self, excludes):
            self.excludes = excludes

    table = exclusions({"a": Q(["b", "zzz"]), "b": Q([]), "c": Q(["c"])})
    assert table == {"a": frozenset({"b"}), "b": frozenset({"a"}), "c": frozenset()}


def test_validate_warns_about_an_undeclared_overlap_with_its_line(tmp_path):
    root = tmp_path / "bank"
    shutil.copytree(BANK, root)
    path = root / "generation.yaml"
    text = path.read_text()
    declared = "    excludes: [short-diffusion-elbo-terms, short-diffusion-vs-vae]\n"
    assert declared in text
    path.write_text(text.replace(declared, "    excludes: [short-diffusion-elbo-terms]\n", 1))
    line = next(k for k, s in enumerate(path.read_text().splitlines(), 1) if "id: gen-ddpm" in s)
    result = CliRunner().invoke(
        app, ["validate", str(root), "--graders", str(REPO / "graders"), "--no-math"]
    )
    assert result.exit_code == 0, result.output
    assert (
        f"generation.yaml:{line}:5: gen-ddpm: warning: gen-ddpm(e) and short-diffusion-vs-vae "
        "ask alike" in result.output
    )
    assert "add `excludes: [short-diffusion-vs-vae]`" in result.output
    assert "no problems, 1 warning" in result.output


def test_an_unknown_or_self_exclusion_is_an_error(make_bank):
    root = make_bank()
    path = root / "mcq.yaml"
    text = path.read_text().replace(
        "    difficulty: easy\n",
        "    excludes: [mcq-infonc, mcq-tensor-size]\n    difficulty: easy\n",
        1,
    )
    path.write_text(text)
    report = check_bank(root, graders=GRADERS, math=False)
    shown = [p.message for p in report.problems]
    assert any("excludes 'mcq-infonc'" in m and "did you mean 'mcq-infonce'" in m for m in shown)
    assert "a question cannot exclude itself — drop it from excludes" in shown


def test_cover_rules_name_the_blueprint_line(make_bank):
    root = make_bank()
    path = root / "exam.yaml"
    path.write_text(
        path.read_text().replace(
            "    pick: 2\n    points: 4\n",
            "    pick: 2\n    points: 4\n    cover:\n      - {topics: [diffusin], min: 1}\n"
            "      - {topics: [diffusion], min: 2}\n",
            1,
        )
    )
    report = check_bank(root, graders=GRADERS, math=False)
    shown = [str(p).replace(f"{root}/", "") for p in report.problems]
    assert any("cover topic 'diffusin' is not in topics" in s for s in shown), shown
    assert any("cover 2 needs 2 question(s) per paper but the pool has 1" in s for s in shown)
    assert any("the covers need 3 questions per paper but the part draws 2" in s for s in shown)
    assert all(s.startswith("exam.yaml:") for s in shown)


def test_bank_stats_surveys_a_seed_range_and_prints_coverage_per_topic():
    runner = CliRunner()
    result = runner.invoke(app, ["bank", "stats", "--seeds", "0:300"])
    assert result.exit_code == 0, result.output
    assert "300 papers (seeds 0:300): 0 with an overlap (0.0%)" in " ".join(result.output.split())
    assert "per topic: coverage of the lecture" in result.output
    data = json.loads(runner.invoke(app, ["bank", "stats", "--seeds", "0:300", "--json"]).output)
    assert data["papers"]["papers"] == 300 and data["papers"]["overlapping"] == 0
    assert data["papers"]["outside_band"] == 0


def test_bank_stats_prints_the_spread_of_a_rosters_papers(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"s{k},Student {k}\n" for k in range(40)))
    result = CliRunner().invoke(
        app, ["bank", "stats", "--roster", str(roster), "--seed", "7", "--json"]
    )
    assert result.exit_code == 0, result.output
    papers = json.loads(result.output)["papers"]
    assert papers["papers"] == 40
    assert papers["spread"] == papers["expected_max"] - papers["expected_min"]
    assert papers["spread"] <= 2 * papers["band"] + 1e-9
