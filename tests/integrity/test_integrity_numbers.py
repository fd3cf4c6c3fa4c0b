"""Identical numbers: wrong values shared across different parameters count; right ones never."""

from mmexam.integrity import numbers
from mmexam.integrity.models import NumberAnswer, Sheet


def sheet(sid: str, *answers: tuple[str, float, bool, str]) -> Sheet:
    return Sheet(
        id=sid,
        name=None,
        earned=5,
        possible=10,
        numbers=tuple(
            NumberAnswer(number=f"3.{k}", key=key, raw=str(v), value=v, correct=ok, params=params)
            for k, (key, v, ok, params) in enumerate(answers)
        ),
    )


def class_of(n: int) -> list[Sheet]:
    """n students who each got their own parameters right or slipped their own way."""
    return [
        sheet(f"s{k}", ("q.a", 10.0 + k, k % 3 != 0, f"p{k}"), ("q.b", 100.0 + k, True, f"p{k}"))
        for k in range(n)
    ]


def test_identical_right_answers_with_the_same_parameters_are_not_evidence():
    sheets = class_of(20) + [
        sheet("x", ("q.a", 7.0, True, "same"), ("q.b", 8.0, True, "same")),
        sheet("y", ("q.a", 7.0, True, "same"), ("q.b", 8.0, True, "same")),
    ]
    found = numbers.candidates(numbers.columns(sheets))
    assert (20, 21) not in found


def test_shared_wrong_values_across_different_parameters_are_strong_evidence():
    sheets = class_of(40) + [
        sheet("x", ("q.a", 55.5, False, "px"), ("q.b", 77.25, True, "px")),
        sheet("y", ("q.a", 55.5, False, "py"), ("q.b", 77.25, False, "py")),
    ]
    data = numbers.columns(sheets)
    assert (40, 41) in numbers.candidates(data)
    index = numbers.score_pair(data, 40, 41)
    assert index.p < 1e-4
    assert {s.value for s in index.shared} == {"55.5", "77.25"}
    assert all(s.params_differ for s in index.shared)


def test_a_common_wrong_value_is_weak_evidence():
    zero = [sheet(f"z{k}", ("q.a", 0.0, False, f"z{k}")) for k in range(15)]
    sheets = class_of(20) + zero
    data = numbers.columns(sheets)
    index = numbers.score_pair(data, 20, 21)
    assert index.shared and index.shared[0].chance > 0.3
    assert index.p > 0.3
