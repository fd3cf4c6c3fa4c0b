"""A hidden check tests only what the contract promises: gradients only w.r.t. declared inputs."""

import pytest

from mmexam.checks import gradient, plans, randn, standard_checks
from mmexam.checks.declarations import check_contract
from mmexam.checks.planner import load_file
from mmexam.checks.tasks import declared_differentiable, function_info, task_function_infos
from mmexam.errors import GradeError
from mmexam.paths import GRADERS

TASKS = ["contrastive", "fusion", "generation", "mllm"]

# What each function's contract promises gradients for: data and learnable weights, never
# schedules, timesteps, times, indices or a given module.
DIFFERENTIABLE = {
    "additive_multiplicative": ("x_a", "x_b", "w"),
    "tensor_fusion": ("x_a", "x_b"),
    "tensor_fusion_linear": ("x_a", "x_b", "W", "b"),
    "gated_fusion": ("x_a", "x_b", "W", "b"),
    "similarity_matrix": ("z_a", "z_b"),
    "info_nce": ("z_a", "z_b"),
    "clip_loss": ("z_a", "z_b"),
    "project_visual_tokens": ("v", "W", "b"),
    "gated_cross_attention": ("x", "v", "Wq", "Wk", "Wv", "Wo", "alpha"),
    "reparameterize": ("mu", "logvar", "eps"),
    "vae_loss": ("x", "x_hat", "mu", "logvar"),
    "q_sample": ("x0", "noise"),
    "p_sample_step": ("x_t", "eps_pred", "noise"),
    "flow_matching_pair": ("x0", "x1"),
    "euler_sample": ("x0",),
}


def test_the_docstring_line_is_read_with_or_without_the_full_stop():
    assert declared_differentiable("Sample.\n    Differentiable in: x0, noise.\n") == (
        "x0",
        "noise",
    )
    assert declared_differentiable("Differentiable in: `mu`, logvar") == ("mu", "logvar")
    assert declared_differentiable("Differentiable in: none.") == ()
    assert declared_differentiable("No such line.") is None


@pytest.mark.parametrize("task", TASKS)
def test_every_function_declares_its_differentiable_inputs(task):
    for info in task_function_infos(task):
        assert declared_differentiable(info.docstring) is not None, info.name
        assert info.differentiable == DIFFERENTIABLE[info.name], info.name
        assert set(info.differentiable) <= set(info.params), info.name


@pytest.mark.parametrize("task", TASKS)
def test_every_gradient_check_of_the_graders_differentiates_only_declared_inputs(task):
    checks = load_file(GRADERS / task / "checks.py", f"contract_{task}_checks").CHECKS
    gradients = [c for c in checks if c.kind == "gradient"]
    assert gradients
    for check in gradients:
        info = function_info(task, check.function)
        check_contract(check, info)  # no error
        assert set(check.wrt) <= set(info.differentiable), check.name
    for plan in plans(task):
        if plan.kind == "gradient":
            assert set(plan.judge.wrt) <= set(DIFFERENTIABLE[plan.function]), plan.name


def _inputs(g, dtype, B):
    return randn(g, B, 2, dtype=dtype), randn(g, 3, dtype=dtype)


def test_a_gradient_check_on_an_undeclared_input_is_refused_with_where_and_how():
    info = function_info("generation", "q_sample")
    check = gradient(
        "q_sample.gradient",
        "q_sample",
        inputs=_inputs,
        cases=[{"B": 2}],
        wrt=("x0", "alpha_bar"),
        points=1,
    )
    with pytest.raises(GradeError) as error:
        check_contract(check, info)
    message = str(error.value)
    assert "check 'q_sample.gradient' of q_sample: gradient w.r.t. 'alpha_bar'" in message
    assert "'Differentiable in: x0, noise.'" in message
    by_position = gradient("g", "q_sample", inputs=_inputs, cases=[{"B": 2}], wrt=(2,), points=1)
    with pytest.raises(GradeError, match="w.r.t. 'alpha_bar'"):
        check_contract(by_position, info)
    with pytest.raises(GradeError, match="wrt 'alphabar' is not a parameter — q_sample takes"):
        check_contract(
            gradient(
                "g", "q_sample", inputs=_inputs, cases=[{"B": 2}], wrt=("alphabar",), points=1
            ),
            info,
        )


REFERENCE = '''"""A task whose contract promises gradients for x only."""

import torch


def scale(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """x times the constant s.

    Differentiable in: x.
    """
    # BEGIN SOLUTION
    return x * s
    # END SOLUTION
'''

CHECKS = """
from mmexam.checks import randn, standard_checks


def _inputs(g, dtype, B):
    return randn(g, B, 3, dtype=dtype), randn(g, 3, dtype=dtype)


CHECKS = standard_checks(
    "scale", inputs=_inputs, public=[{"B": 2}], hidden=[{"B": 3}], wrt=WRT, hint=""
)
"""


@pytest.mark.parametrize(
    ("wrt", "docstring"),
    [(("x", "s"), "Differentiable in: x."), (("x",), "Differentiable in: x, scale.")],
)
def test_the_planner_refuses_a_task_whose_checks_go_beyond_the_contract(tmp_path, wrt, docstring):
    folder = tmp_path / "graders" / "demo"
    folder.mkdir(parents=True)
    (folder / "reference.py").write_text(REFERENCE.replace("Differentiable in: x.", docstring))
    (folder / "checks.py").write_text(CHECKS.replace("WRT", repr(wrt)))
    with pytest.raises(GradeError, match="scale"):
        plans("demo", graders=tmp_path / "graders")


def test_a_task_within_its_contract_plans_its_gradient_by_name(tmp_path):
    folder = tmp_path / "graders" / "demo"
    folder.mkdir(parents=True)
    (folder / "reference.py").write_text(REFERENCE)
    (folder / "checks.py").write_text(CHECKS.replace("WRT", "('x',)"))
    (grad,) = [p for p in plans("demo", graders=tmp_path / "graders") if p.kind == "gradient"]
    assert grad.judge.wrt == ("x",)
    x_grad, s_grad = grad.calls[0].expected
    assert s_grad is None and x_grad.shape == (3, 3)


def test_standard_checks_pass_the_names_through():
    checks = standard_checks(
        "f", inputs=_inputs, public=[{"B": 1}], hidden=[{"B": 2}], wrt=("x",), hint=""
    )
    assert [c.wrt for c in checks if c.kind == "gradient"] == [("x",)]
