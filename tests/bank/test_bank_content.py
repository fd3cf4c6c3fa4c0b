"""The shipped bank's content fixes (issue #12), each checked where a test can check it.

Keys and counts are checked for every parameter combination; wording fixes are
checked for the claim they removed and the one they make.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from mmexam.bank import check_bank, load_bank
from mmexam.bank.params import instantiate, param_values
from mmexam.grade.scoring import keyword_pattern

REPO = Path(__file__).resolve().parent.parent.parent
BANK = REPO / "question_bank"


@pytest.fixture(scope="module")
def bank():
    return load_bank(BANK, graders=REPO / "graders", math=False)


def combinations(question):
    names = list(question.params)
    for values in itertools.product(*(list(param_values(question.params[n])) for n in names)):
        yield dict(zip(names, values))


def option(body, letter: str) -> str:
    chosen = body.options["abcdefghij".index(letter)]
    return chosen if isinstance(chosen, str) else chosen.text


def test_early_fusion_dim_explanation_no_longer_argues_for_max(bank):
    question = bank.questions["mcq-early-fusion-dim"]
    for values in combinations(question):
        shown = instantiate(question, values)
        assert option(shown, shown.answer) == str(values["d_a"] + values["d_b"])
        assert "only make sense for element-wise addition" not in shown.explanation
        assert str(max(values["d_a"], values["d_b"])) in shown.explanation


def test_tensor_fusion_weights_concatenation_distractor_is_plain_concatenation(bank):
    question = bank.questions["mcq-tensor-fusion-weights"]
    for values in combinations(question):
        d_a, d_b, h = values["d_a"], values["d_b"], values["h"]
        shown = instantiate(question, values)
        assert option(shown, shown.answer) == str((d_a + 1) * (d_b + 1) * h)
        texts = [option(shown, letter) for letter in "abcd"]
        assert str((d_a + d_b) * h) in texts, texts
        assert str((d_a + d_b + 2) * h) not in texts
        assert f"{(d_a + d_b) * h}$ is the count for a layer on the plain concatenation" in (
            " ".join(shown.explanation.split())
        )


def test_flow_matching_velocity_explanation_reads_as_sentences(bank):
    explanation = bank.questions["mcq-flow-matching-velocity"].explanation
    assert "designed to avoid training by likelihood" not in explanation
    assert "by regression onto a target" in " ".join(explanation.split())


def test_minigpt4_llava_is_concurrent_not_later(bank):
    stage = bank.questions["mllm-minigpt4-projection"].parts[1]
    assert "later" not in stage.explanation
    assert "at the same time as MiniGPT-4" in " ".join(stage.explanation.split())


def test_gated_contrastive_wording_notation_and_no_trivial_gate(bank):
    question = bank.questions["fusion-gated-contrastive"]
    assert "clip classifier" not in question.text.casefold()
    assert 1 not in question.params["r"].choices
    for values in combinations(question):
        g_a = float(instantiate(question, values).parts[0].answer)
        assert abs(g_a - 0.5) > 0.1, values  # part (a) is a computation, not a symmetry
    written = question.parts[4].text
    assert "\\mathbf{z}_A" not in written and "\\mathbf{x}_A" in written


def test_flow_matching_statements_do_not_claim_the_lecture_says_what_it_does_not(bank):
    statements = bank.questions["gen-flow-matching"].parts[3]
    assert "lecture" not in statements.text
    assert "follow from this problem's setup" in " ".join(statements.explanation.split())


def test_vae_loss_docstring_names_the_reconstruction_weighting():
    source = (REPO / "graders" / "generation" / "reference.py").read_text()
    docstring = source.split("def vae_loss", 1)[1].split('"""')[1]
    assert "weighting of the reconstruction term" in " ".join(docstring.split())


def test_three_modality_binding_names_imagebind_not_clap(bank):
    question = bank.questions["bonus-clip-three-modalities"]
    for item in question.rubric:
        assert "CLAP" not in item.description
        assert "bind" not in item.keywords


@pytest.mark.parametrize(
    ("written", "matches"),
    [
        ("so dẑ/dμ = 1 and dẑ/dσ = ε", True),
        ("∂z/∂mu is one", True),
        ("\\partial \\hat{z} / \\partial \\sigma = \\epsilon", True),
        ("the loss is = 1 over the batch", False),
    ],
)
def test_reparameterisation_derivative_item_needs_a_derivative(bank, written, matches):
    item = bank.questions["short-reparameterisation"].rubric[2]
    assert item.regex is not None
    hit = bool(re.search(item.regex, written)) or any(
        keyword_pattern(k).search(written) for k in item.keywords
    )
    assert hit is matches


def test_no_rubric_keyword_in_the_shipped_bank_is_generic(bank):
    report = check_bank(BANK, graders=REPO / "graders", math=False)
    assert report.ok, [str(p) for p in report.problems]


def test_a_generic_keyword_is_reported_where_it_is(make_bank):
    root = make_bank()
    path = root / "short.yaml"
    text = path.read_text()
    assert "keywords: [" in text
    path.write_text(text.replace("keywords: [", "keywords: [can, '= 1', ", 1))
    report = check_bank(root, graders=REPO / "tests" / "fixtures" / "graders", math=False)
    messages = [p.message for p in report.problems]
    assert any("rubric keyword 'can' is too generic" in m for m in messages), messages
    assert any("rubric keyword '= 1' is too generic" in m for m in messages), messages


@pytest.mark.parametrize("topic", ["lmm-generation", "unclip"])
def test_the_lectures_generation_sections_have_three_mcqs_and_a_short_answer(bank, topic):
    tagged = [q for q in bank.questions.values() if topic in q.topics]
    kinds = [q.kind for q in tagged]
    assert kinds.count("mcq") >= 3 and kinds.count("short_answer") >= 1, kinds
    for question in tagged:
        assert question.part in ("mcq", "short")
        assert question.explanation, question.id


def test_bank_stats_reports_the_new_sections_covered():
    from typer.testing import CliRunner

    from mmexam.cli import app

    result = CliRunner().invoke(app, ["bank", "stats", "--seeds", "0:200", "--json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.output)
    coverage = {t["topic"]: t for t in data["coverage"]}
    assert all(t["questions"] > 0 for t in coverage.values()), "a lecture topic has no question"
    for topic in ("lmm-generation", "unclip"):
        assert coverage[topic]["parts"] == {"mcq": 3, "short": 1}
        assert data["papers"]["topics"][topic] > 0.3
