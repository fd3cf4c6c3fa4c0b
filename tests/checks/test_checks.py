"""The checks engine on real files in the real sandbox: references, buggy fixtures, replay."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mmexam.checks import export_fixtures, plans, run_checks
from mmexam.checks.tasks import list_tasks, starter_source, task_functions
from mmexam.errors import GradeError
from mmexam.paths import GRADERS

BUGGY = Path(__file__).resolve().parent.parent / "fixtures" / "buggy"

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox():
    from mmexam.paths import trusted_modules
    from mmexam.sandbox import Sandbox, SandboxWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)  # rlimits-only where bwrap is missing
        box = Sandbox(modules=trusted_modules())
    yield box
    box.close()


def _reference(task):
    return (GRADERS / task / "reference.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("task", ["fusion", "contrastive", "mllm", "generation"])
def test_reference_passes_every_check_with_full_score(sandbox, task):
    result = run_checks(task, _reference(task), hidden=True, sandbox=sandbox)
    failed = [f"{c.name}: {c.message}" for c in result.checks if not c.passed]
    assert not failed, "\n".join(failed)
    assert result.score == result.max_score > 0
    assert result.load_error is None
    kinds = {c.kind for c in result.checks}
    assert {"value", "gradient", "property", "mutation", "determinism", "device"} <= kinds
    assert {c.visibility for c in result.checks} == {"public", "hidden"}
    cuda = [c for c in result.checks if c.kind == "device"]
    assert all(c.skipped and c.max_score == 0 for c in cuda)  # this sandbox has no CUDA
    public = run_checks(task, _reference(task), hidden=False, sandbox=sandbox)
    assert {c.visibility for c in public.checks} == {"public"}


# fixture -> (check that must fail, text its message must contain)
EXPECTED = {
    "fusion": {
        "additive_multiplicative__no_interaction": [
            ("additive_multiplicative.values", "not close to the reference"),
            ("additive_multiplicative.interaction_only", "only the multiplicative term remains"),
        ],
        "additive_multiplicative__swapped_weights": [
            ("additive_multiplicative.values", "Greatest absolute difference"),
            ("additive_multiplicative.gradient", "gradient w.r.t. x_a does not match"),
        ],
        "additive_multiplicative__in_place": [
            ("additive_multiplicative.inputs_unchanged", "modified its input x_a in place"),
        ],
        "tensor_fusion__missing_one": [
            ("tensor_fusion.values", "returned shape (1, 6), expected (1, 12)"),
            ("tensor_fusion.values", "Hint: the 1 is appended after each modality's features"),
        ],
        "tensor_fusion__xb_major": [
            ("tensor_fusion.values", "Mismatched elements"),
            ("tensor_fusion.hidden_values", "x_a's index major"),
        ],
        "tensor_fusion__one_prepended": [
            ("tensor_fusion.values", "not close to the reference"),
        ],
        "tensor_fusion_linear__materialised": [
            ("tensor_fusion_linear.memory", "ran out of memory under the 160 MB limit"),
            ("tensor_fusion_linear.memory", "instead of building"),
        ],
        "tensor_fusion_linear__no_bias": [
            ("tensor_fusion_linear.values", "not close to the reference"),
            ("tensor_fusion_linear.gradient", "no gradient reaches b"),
        ],
        "tensor_fusion_linear__transposed_W": [
            ("tensor_fusion_linear.values", "raised RuntimeError"),
        ],
        "gated_fusion__softmax_wrong_axis": [
            ("gated_fusion.gates_sum_to_one", "the two gates of each example sum to 1"),
        ],
        "gated_fusion__sigmoid_gates": [
            ("gated_fusion.gates_sum_to_one", "the two gates of each example sum to 1"),
            ("gated_fusion.values", "softmax over the two modalities"),
        ],
        "gated_fusion__swapped_gates": [
            ("gated_fusion.values", "not close to the reference"),
        ],
    },
    "contrastive": {
        "similarity_matrix__dot_product": [
            ("similarity_matrix.scale_invariant", "cosine similarity ignores the norms"),
        ],
        "similarity_matrix__normalise_wrong_dim": [
            ("similarity_matrix.values", "not close to the reference"),
        ],
        "info_nce__no_temperature": [
            ("info_nce.values", "Expected 1.01155, got 1.11185"),
        ],
        "info_nce__softmax_wrong_axis": [
            ("info_nce.values", "softmax over the candidates j (dim=1)"),
        ],
        "info_nce__dot_product": [
            ("info_nce.scale_invariant", "rescaling the embeddings changes nothing"),
        ],
        "info_nce__sum_reduction": [
            ("info_nce.values", "Relative difference: 3"),
        ],
        "clip_loss__one_direction": [
            ("clip_loss.symmetric", "symmetric in its arguments"),
        ],
        "clip_loss__sum_of_directions": [
            ("clip_loss.values", "Relative difference: 1 "),
        ],
    },
    "mllm": {
        "project_visual_tokens__transposed_W": [
            ("project_visual_tokens.values", "raised RuntimeError: mat1 and mat2 shapes"),
        ],
        "project_visual_tokens__no_bias": [
            ("project_visual_tokens.bias_only", "mapped to the bias b"),
        ],
        "gated_cross_attention__no_tanh": [
            ("gated_cross_attention.values", "tanh(alpha)"),
        ],
        "gated_cross_attention__no_scaling": [
            ("gated_cross_attention.values", "not close to the reference"),
            ("gated_cross_attention.hidden_values", "√d"),
        ],
        "gated_cross_attention__softmax_wrong_axis": [
            (
                "gated_cross_attention.single_visual_token",
                "the softmax runs over the visual tokens",
            ),
        ],
        "gated_cross_attention__no_residual": [
            ("gated_cross_attention.identity_at_zero", "alpha = 0 leaves the language model"),
        ],
        "gated_cross_attention__transposed_weights": [
            ("gated_cross_attention.values", "not close to the reference"),
        ],
    },
    "generation": {
        "reparameterize__std_as_logvar": [
            ("reparameterize.sigma_from_logvar", "σ = exp(logvar/2)"),
        ],
        "reparameterize__fresh_noise": [
            ("reparameterize.deterministic", "a second call with the same inputs returned"),
        ],
        "reparameterize__logvar_as_std": [
            ("reparameterize.sigma_from_logvar", "the noise is scaled by σ = 3"),
        ],
        "vae_loss__kl_sign": [
            ("vae_loss.kl_nonnegative", "KL ≥ 0"),
            ("vae_loss.kl_nonnegative", "Smallest value returned: -"),
        ],
        "vae_loss__mean_squared_error": [
            ("vae_loss.values", "summed over all of x's features"),
        ],
        "vae_loss__batch_sum": [
            ("vae_loss.batch_mean", "a mean over the batch"),
        ],
        "q_sample__no_sqrt": [
            ("q_sample.values", "x_t = √ᾱ_t · x0"),
        ],
        "q_sample__off_by_one": [
            ("q_sample.values", "0-based index"),
        ],
        "q_sample__swapped_weights": [
            ("q_sample.endpoints", "ᾱ = 1 gives x0, ᾱ = 0 gives the noise"),
        ],
        "q_sample__two_dims_only": [
            ("q_sample.values", "raised RuntimeError"),
        ],
        "p_sample_step__noise_at_t0": [
            ("p_sample_step.noise_scale", "none at t = 0"),
        ],
        "p_sample_step__beta_instead_of_alpha_bar": [
            ("p_sample_step.values", "not close to the reference"),
        ],
        "p_sample_step__off_by_one": [
            ("p_sample_step.values", "not close to the reference"),
            ("p_sample_step.noise_scale", "σ_t = √β_t"),
        ],
        "p_sample_step__variance_as_std": [
            ("p_sample_step.noise_scale", "σ_t = √β_t"),
        ],
        "flow_matching_pair__reversed_time": [
            ("flow_matching_pair.endpoints", "x_t is not close to the expected value"),
        ],
        "flow_matching_pair__velocity_sign": [
            ("flow_matching_pair.endpoints", "v is not close to the expected value"),
        ],
        "flow_matching_pair__returns_list": [
            ("flow_matching_pair.values", "returned list"),
        ],
        "euler_sample__wrong_time_grid": [
            ("euler_sample.time_grid", "evaluated at t_k = k/steps"),
        ],
        "euler_sample__no_step_size": [
            ("euler_sample.converges", "the error grew with more steps"),
            ("euler_sample.constant_field", "exact for a constant field"),
        ],
        "euler_sample__reversed_time": [
            ("euler_sample.time_grid", "evaluated at t_k = k/steps"),
        ],
        "euler_sample__in_place": [
            ("euler_sample.inputs_unchanged", "modified its input x0 in place"),
        ],
    },
}

# bugs that only show on CUDA (a tensor created on the CPU): tested in test_checks_gpu
CUDA_ONLY = {"tensor_fusion__cpu_ones", "clip_loss__cpu_labels"}

CASES = [(task, name) for task, names in EXPECTED.items() for name in names]


def test_every_function_has_at_least_two_buggy_fixtures_and_each_is_tested():
    on_disk = {(p.parent.name, p.stem) for p in BUGGY.glob("*/*.py")}
    assert on_disk == set(CASES) | {(t, n) for t, n in on_disk if n in CUDA_ONLY}
    for task in list_tasks():
        for function in task_functions(task):
            bugs = [n for t, n in CASES if t == task and n.split("__")[0] == function]
            assert len(bugs) >= 2, f"{task}.{function} has {len(bugs)} buggy fixtures"


@pytest.mark.parametrize(("task", "name"), CASES, ids=[n for _, n in CASES])
def test_buggy_fixture_loses_points_naming_the_broken_property(sandbox, task, name):
    source = (BUGGY / task / f"{name}.py").read_text(encoding="utf-8")
    # salt="": the public checks on the bundle's inputs (grading draws fresh ones), so the
    # messages quote the numbers written below
    result = run_checks(task, source, hidden=True, sandbox=sandbox, salt="")
    function = name.split("__")[0]
    by_name = {c.name: c for c in result.checks}
    own = [c for c in result.checks if c.function == function]
    assert sum(c.score for c in own) < sum(c.max_score for c in own)
    for check_name, text in EXPECTED[task][name]:
        check = by_name[check_name]
        assert not check.passed and check.score == 0, f"{check_name} passed"
        assert text in check.message, check.message
    # the other functions are missing from the file, and say so
    other = [c for c in result.checks if c.function != function and not c.skipped]
    assert all("has no function" in c.message for c in other)


def test_hidden_checks_say_what_failed_without_the_expected_values(sandbox):
    source = (BUGGY / "fusion" / "tensor_fusion__xb_major.py").read_text(encoding="utf-8")
    result = run_checks("fusion", source, hidden=True, sandbox=sandbox)
    hidden = next(c for c in result.checks if c.name == "tensor_fusion.hidden_values")
    public = next(c for c in result.checks if c.name == "tensor_fusion.values")
    assert "hidden inputs" in hidden.message and "Mismatched elements" in hidden.message
    assert "expected" not in hidden.message and "Greatest" not in hidden.message
    assert "Greatest absolute difference" in public.message and "expected" in public.message


def test_starter_stub_scores_zero_with_not_implemented_messages(sandbox):
    result = run_checks("mllm", starter_source("mllm"), hidden=True, sandbox=sandbox)
    assert result.score == 0
    graded = [c for c in result.checks if not c.skipped]
    assert all("raised NotImplementedError" in c.message for c in graded)


def test_a_file_that_does_not_load_fails_every_check_with_the_reason(sandbox):
    result = run_checks("contrastive", "def similarity_matrix(:\n", sandbox=sandbox)
    assert result.score == 0 and "SyntaxError" in result.load_error
    graded = [c for c in result.checks if not c.skipped]
    assert all(c.message.startswith("could not load contrastive.py: SyntaxError") for c in graded)


def test_missing_function_and_wrong_signature_cost_only_that_function(sandbox):
    source = (
        _reference("fusion")
        .replace("def gated_fusion(", "def gated_fusion_renamed(")
        .replace(
            "def tensor_fusion(x_a: torch.Tensor, x_b: torch.Tensor)", "def tensor_fusion(x_a)"
        )
    )
    result = run_checks("fusion", source, sandbox=sandbox, filename="fusion_s001.py")
    for c in result.checks:
        if c.skipped:
            continue
        if c.function == "gated_fusion":
            assert "fusion_s001.py has no function gated_fusion — define def gated_fusion(" in (
                c.message
            )
        elif c.function == "tensor_fusion":
            assert c.message.startswith("wrong signature: tensor_fusion(x_a) cannot be called")
        else:
            assert c.passed, c.message


def test_a_crash_in_one_call_costs_only_that_check(sandbox):
    source = _reference("contrastive").replace(
        '    """Cosine similarity of every row',
        "    import os\n    if z_a.shape[0] == 7:\n        os._exit(3)\n"
        '    """Cosine similarity of every row',
    )
    result = run_checks("contrastive", source, sandbox=sandbox)
    failed = {c.name: c.message for c in result.checks if not c.passed}
    with_n7 = ["hidden_values", "gradient", "inputs_unchanged", "deterministic"]
    # the invariance check passes on its own but pays only once the values match
    withheld = "similarity_matrix.scale_invariant"
    assert sorted(failed) == sorted([withheld, *(f"similarity_matrix.{n}" for n in with_n7)])
    # hidden checks name the kind of failure only: the exit status is the student's to choose
    assert all(
        "ended its process" in message for name, message in failed.items() if name != withheld
    )
    assert failed[withheld].startswith(
        "similarity_matrix: not credited: similarity_matrix does not yet match the reference "
        "(see similarity_matrix.hidden_values)"
    )
    assert result.score == result.max_score - 5


CONSTANTS = """
import torch

def clip_loss(z_a, z_b, temperature):
    return z_a.new_zeros(())

def vae_loss(x, x_hat, mu, logvar):
    return x.new_zeros(())
"""


@pytest.mark.parametrize(
    ("task", "function", "withheld"),
    [
        ("contrastive", "clip_loss", {"symmetric", "inputs_unchanged", "deterministic"}),
        (
            "generation",
            "vae_loss",
            {"zero_at_prior", "kl_nonnegative", "batch_mean", "inputs_unchanged", "deterministic"},
        ),
    ],
)
def test_checks_a_constant_passes_pay_only_once_the_values_match(sandbox, task, function, withheld):
    result = run_checks(task, CONSTANTS, hidden=True, sandbox=sandbox)
    assert result.score == 0
    own = {c.name.split(".", 1)[1]: c for c in result.checks if c.function == function}
    for name in withheld:
        assert not own[name].passed and own[name].score == 0
        assert own[name].message.startswith(
            f"{function}: not credited: {function} does not yet match the reference "
            f"(see {function}.values and {function}.hidden_values)"
        ), own[name].message


def test_exported_fixtures_replay_the_public_checks_without_graders(sandbox, tmp_path):
    for task in list_tasks():
        export_fixtures(task, tmp_path)
    for task, source in [
        ("fusion", _reference("fusion")),
        ("generation", (BUGGY / "generation" / "vae_loss__kl_sign.py").read_text()),
        ("contrastive", (BUGGY / "contrastive" / "clip_loss__one_direction.py").read_text()),
    ]:
        live = run_checks(task, source, hidden=False, sandbox=sandbox)
        replay = run_checks(task, source, hidden=False, sandbox=sandbox, fixtures=tmp_path)
        assert replay == live
    public = plans("mllm", fixtures=tmp_path, graders=tmp_path / "no-graders-here")
    assert {p.visibility for p in public} == {"public"}
    with pytest.raises(GradeError, match="only the public checks"):
        run_checks("mllm", "", hidden=True, fixtures=tmp_path, sandbox=sandbox)
    with pytest.raises(GradeError, match="no practice fixture for task 'nope'"):
        plans("nope", fixtures=tmp_path)


def test_replay_in_a_fresh_process_never_imports_the_references(tmp_path):
    export_fixtures("generation", tmp_path)
    code = (
        "import sys, warnings\n"
        "from pathlib import Path\n"
        "from mmexam.checks import plans\n"
        f"ps = plans('generation', fixtures=Path({str(tmp_path)!r}))\n"
        "print(len(ps), any('graders' in name for name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, imported = out.stdout.split()
    assert int(count) > 10 and imported == "False"
