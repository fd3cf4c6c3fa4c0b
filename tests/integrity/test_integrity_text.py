"""Written answers: near-duplicates are shown; the model answer and class-wide text are not."""

import pytest

from mmexam.integrity import text
from mmexam.integrity.models import Sheet, TextAnswer

REFERENCE = (
    "Late fusion trains one model per modality and averages their final decisions at the end."
)


def sheet(sid: str, answer: str) -> Sheet:
    return Sheet(
        id=sid,
        name=None,
        earned=1,
        possible=2,
        texts=(TextAnswer("2.1", "short-x", answer, REFERENCE),),
    )


OWN = [
    "Each modality gets a separate classifier and we combine predictions by voting later on.",
    "Early fusion joins raw features first, while this approach only mixes outputs of the models.",
    "Separate networks per input type, then their logits are summed, so no interactions are learnt.",
    "The unimodal models never see each other, the combination is additive in their outputs here.",
    "You average the scores of an audio model and a video model that were trained independently.",
]
COPIED = "Two modality-specific networks, whose softmax outputs get multiplied elementwise at the very end!"


def test_a_copied_answer_is_found_and_own_answers_are_not():
    sheets = [sheet(f"s{k}", t) for k, t in enumerate(OWN)]
    sheets += [sheet("c1", COPIED), sheet("c2", COPIED.replace("very end", "very end of it"))]
    found = text.similar_answers(sheets, "lexical", text.lexical)
    assert list(found.similar) == [(5, 6)]
    assert found.similar[(5, 6)][0].similarity > 0.8
    # The copied pair is the most similar of the 21 pairs: its rank tail is the smallest.
    assert found.p((5, 6)) == min(found.p(pair) for pair in found.tails)
    assert found.p((5, 6)) == pytest.approx(1 / 22)


def test_two_students_who_both_wrote_the_model_answer_are_not_listed():
    sheets = [sheet(f"s{k}", t) for k, t in enumerate(OWN)]
    sheets += [sheet("r1", REFERENCE), sheet("r2", REFERENCE + " ")]
    found = text.similar_answers(sheets, "lexical", text.lexical)
    assert found.similar == {} and found.p((5, 6)) == 1.0


def test_text_a_quarter_of_the_class_shares_is_named_once_in_the_notes():
    sheets = [sheet(f"s{k}", t) for k, t in enumerate(OWN)]
    sheets += [sheet(f"b{k}", COPIED) for k in range(4)]
    notes: list[str] = []
    assert text.similar_answers(sheets, "lexical", text.lexical, notes).similar == {}
    assert notes and "short-x: 4 of its 9 answers" in notes[0]


def test_fisher_combines_tails_exactly():
    assert text.fisher([0.5]) == pytest.approx(0.5)
    # Two tails of 0.05: x = -2 ln(0.0025) = 11.98 on 4 degrees of freedom.
    assert text.fisher([0.05, 0.05]) == pytest.approx(0.0175, abs=2e-4)
    assert text.fisher([1.0, 1.0, 1.0]) == 1.0
