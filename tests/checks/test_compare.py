"""assert_close-style feedback: structure first, then where and by how much values differ."""

import torch

from mmexam.checks.compare import compare, tolerance


def test_close_values_give_no_lines():
    expected = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert compare(expected + 1e-7, expected, rtol=1e-4, atol=1e-5) == []


def test_structure_is_reported_before_values():
    expected = torch.zeros(3, 20)
    assert compare([1, 2], expected, rtol=0, atol=0) == [
        "returned list, expected a torch.Tensor of shape (3, 20)"
    ]
    assert compare(torch.zeros(3, 12), expected, rtol=0, atol=0) == [
        "returned shape (3, 12), expected (3, 20)"
    ]
    assert compare(torch.zeros(3, 20, dtype=torch.float64), expected, rtol=0, atol=0)[0].startswith(
        "returned dtype float64, expected float32"
    )


def test_a_tensor_subclass_is_not_a_tensor():
    class Sneaky(torch.Tensor):
        pass

    expected = torch.zeros(2)
    lines = compare(expected.clone().as_subclass(Sneaky), expected, rtol=0, atol=0)
    assert lines == [
        "returned Sneaky (a torch.Tensor subclass), expected a torch.Tensor of shape (2,)"
    ]


def test_value_mismatch_names_count_greatest_differences_and_index():
    expected = torch.zeros(3, 4, dtype=torch.float64)
    actual = expected.clone()
    actual[2, 1] = 0.5
    actual[0, 3] = 1e-3
    lines = compare(actual, expected, rtol=1e-7, atol=1e-9)
    assert lines[0] == "output is not close to the reference"
    assert lines[1] == "  Mismatched elements: 2 / 12 (16.7%)"
    assert lines[2] == "  Greatest absolute difference: 0.5 at index (2, 1) (up to 1e-09 allowed)"
    assert lines[3].startswith("  Greatest relative difference: inf at index")
    assert lines[4] == "  At index (2, 1): expected 0, got 0.5"


def test_hidden_feedback_keeps_only_the_mismatch_count():
    expected = torch.ones(5)
    lines = compare(expected * 2, expected, rtol=1e-4, atol=1e-5, reveal=False)
    assert lines == [
        "output is not close to the reference",
        "  Mismatched elements: 5 / 5 (100.0%)",
    ]


def test_scalars_and_tuples():
    lines = compare(torch.tensor(1.5), torch.tensor(1.0), rtol=1e-4, atol=1e-5)
    assert "  Expected 1, got 1.5" in lines
    pair = (torch.zeros(2), torch.ones(2))
    assert compare((torch.zeros(2), -torch.ones(2)), pair, rtol=0, atol=0, names=("x_t", "v"))[
        0
    ] == ("v is not close to the reference")
    assert compare(torch.zeros(2), pair, rtol=0, atol=0, names=("x_t", "v")) == [
        "returned torch.Tensor of shape (2,) and dtype float32, expected a tuple (x_t, v)"
    ]


def test_nan_is_never_close_to_a_number():
    lines = compare(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]), rtol=1, atol=1)
    assert "  Non-finite values (nan or inf) returned: 1" in lines


def test_tolerances_per_dtype_and_overrides():
    assert tolerance(torch.float32) == (1e-4, 1e-5)
    assert tolerance(torch.float64) == (1e-7, 1e-9)
    assert tolerance(torch.float32, {"float32": (1e-3, 1e-4)}) == (1e-3, 1e-4)
