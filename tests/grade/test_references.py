"""The trusted reference solutions agree with independent formulations of the same maths."""

import importlib.util
import math

import pytest
import torch
import torch.nn.functional as F

from mmexam.paths import GRADERS
from mmexam.sandbox import build_module, load_modules


def _load(task):
    spec = importlib.util.spec_from_file_location(f"ref_{task}", GRADERS / task / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fusion = _load("fusion")
contrastive = _load("contrastive")
mllm = _load("mllm")
generation = _load("generation")


@pytest.fixture
def g():
    return torch.Generator().manual_seed(7)


def randn(g, *shape, dtype=torch.float64):
    return torch.randn(shape, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------- fusion


def test_additive_multiplicative_is_the_lecture_regression(g):
    x_a, x_b, w = randn(g, 5), randn(g, 5), randn(g, 4)
    z = fusion.additive_multiplicative(x_a, x_b, w)
    for i in range(5):
        a, b = float(x_a[i]), float(x_b[i])
        expected = float(w[0]) + float(w[1]) * a + float(w[2]) * b + float(w[3]) * a * b
        assert math.isclose(float(z[i]), expected, rel_tol=1e-12, abs_tol=1e-12)


def test_tensor_fusion_is_the_kronecker_product_of_the_padded_vectors(g):
    x_a, x_b = randn(g, 3, 4), randn(g, 3, 2)
    out = fusion.tensor_fusion(x_a, x_b)
    assert out.shape == (3, 5 * 3)
    for n in range(3):
        za = torch.cat([x_a[n], torch.ones(1, dtype=torch.float64)])
        zb = torch.cat([x_b[n], torch.ones(1, dtype=torch.float64)])
        torch.testing.assert_close(out[n], torch.kron(za, zb))
    # the unimodal features survive: the column of x_a[i]·1 and the final 1·1
    assert torch.equal(out.reshape(3, 5, 3)[:, :4, 2], x_a)
    assert torch.equal(out[:, -1], torch.ones(3, dtype=torch.float64))


def test_tensor_fusion_linear_equals_a_linear_layer_on_the_explicit_outer_product(g):
    x_a, x_b = randn(g, 4, 3), randn(g, 4, 5)
    W, b = randn(g, 2, 4, 6), randn(g, 2)
    explicit = fusion.tensor_fusion(x_a, x_b) @ W.reshape(2, -1).T + b
    torch.testing.assert_close(fusion.tensor_fusion_linear(x_a, x_b, W, b), explicit)


def test_gated_fusion_matches_a_softmax_gate_written_out(g):
    x_a, x_b, W, b = randn(g, 3, 4), randn(g, 3, 4), randn(g, 2, 8), randn(g, 2)
    logit_a = torch.cat([x_a, x_b], 1) @ W[0] + b[0]
    logit_b = torch.cat([x_a, x_b], 1) @ W[1] + b[1]
    g_a = torch.exp(logit_a) / (torch.exp(logit_a) + torch.exp(logit_b))
    expected = g_a[:, None] * x_a + (1 - g_a)[:, None] * x_b
    torch.testing.assert_close(fusion.gated_fusion(x_a, x_b, W, b), expected)


# ----------------------------------------------------------------------------- contrastive


def test_similarity_matrix_is_pairwise_cosine_similarity(g):
    z_a, z_b = randn(g, 4, 6) * 3, randn(g, 5, 6)
    expected = F.cosine_similarity(z_a[:, None, :], z_b[None, :, :], dim=-1)
    torch.testing.assert_close(contrastive.similarity_matrix(z_a, z_b), expected)


def test_info_nce_is_cross_entropy_of_scaled_cosine_logits(g):
    z_a, z_b = randn(g, 6, 3), randn(g, 6, 3)
    logits = F.cosine_similarity(z_a[:, None], z_b[None], dim=-1) / 0.1
    expected = F.cross_entropy(logits, torch.arange(6))
    torch.testing.assert_close(contrastive.info_nce(z_a, z_b, 0.1), expected)
    assert contrastive.info_nce(z_a, z_b, 0.1).shape == ()


def test_clip_loss_averages_both_cross_entropy_directions_and_is_symmetric(g):
    z_a, z_b = randn(g, 5, 4), randn(g, 5, 4)
    logits = F.cosine_similarity(z_a[:, None], z_b[None], dim=-1) / 0.07
    target = torch.arange(5)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    torch.testing.assert_close(contrastive.clip_loss(z_a, z_b, 0.07), expected)
    torch.testing.assert_close(
        contrastive.clip_loss(z_a, z_b, 0.07), contrastive.clip_loss(z_b, z_a, 0.07)
    )
    expected_mean = (
        contrastive.info_nce(z_a, z_b, 0.07) + contrastive.info_nce(z_b, z_a, 0.07)
    ) / 2
    torch.testing.assert_close(contrastive.clip_loss(z_a, z_b, 0.07), expected_mean)


# ----------------------------------------------------------------------------- mllm


def test_project_visual_tokens_is_nn_linear(g):
    v, W, b = randn(g, 2, 3, 4), randn(g, 5, 4), randn(g, 5)
    torch.testing.assert_close(mllm.project_visual_tokens(v, W, b), F.linear(v, W, b))


def test_gated_cross_attention_matches_scaled_dot_product_attention(g):
    x, v = randn(g, 2, 3, 4), randn(g, 2, 5, 4)
    Wq, Wk, Wv, Wo = (randn(g, 4, 4) for _ in range(4))
    alpha = torch.tensor(0.6, dtype=torch.float64)
    attended = F.scaled_dot_product_attention(x @ Wq, v @ Wk, v @ Wv)  # scales by 1/√d
    expected = x + torch.tanh(alpha) * attended @ Wo
    out = mllm.gated_cross_attention(x, v, Wq, Wk, Wv, Wo, alpha)
    torch.testing.assert_close(out, expected)
    zero = torch.tensor(0.0, dtype=torch.float64)
    assert torch.equal(mllm.gated_cross_attention(x, v, Wq, Wk, Wv, Wo, zero), x)


# ----------------------------------------------------------------------------- generation


def test_reparameterize_uses_the_standard_deviation_exp_half_logvar(g):
    mu, logvar, eps = randn(g, 3, 2), randn(g, 3, 2), randn(g, 3, 2)
    std = torch.distributions.Normal(mu, torch.exp(logvar).sqrt()).stddev
    torch.testing.assert_close(generation.reparameterize(mu, logvar, eps), mu + std * eps)


def test_vae_loss_is_batch_mean_of_summed_squared_error_plus_analytic_kl(g):
    x, x_hat = randn(g, 4, 2, 3), randn(g, 4, 2, 3)
    mu, logvar = randn(g, 4, 5), randn(g, 4, 5)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = torch.distributions.kl_divergence(posterior, prior).sum(1)
    recon = F.mse_loss(x_hat, x, reduction="sum") / 4
    torch.testing.assert_close(generation.vae_loss(x, x_hat, mu, logvar), recon + kl.mean())
    zeros = torch.zeros_like(mu)
    assert generation.vae_loss(x, x, zeros, zeros) == 0
    assert generation.vae_loss(x, x, mu, logvar) > 0


def _schedule(T):
    betas = torch.linspace(1e-3, 0.2, T, dtype=torch.float64)
    return betas, torch.cumprod(1 - betas, 0)


def test_q_sample_weights_each_example_by_its_own_alpha_bar(g):
    _, alpha_bar = _schedule(10)
    x0, noise = randn(g, 3, 2, 2), randn(g, 3, 2, 2)
    t = torch.tensor([0, 4, 9])
    out = generation.q_sample(x0, t, alpha_bar, noise)
    for n in range(3):
        ab = float(alpha_bar[t[n]])
        torch.testing.assert_close(out[n], math.sqrt(ab) * x0[n] + math.sqrt(1 - ab) * noise[n])
    ones, zeros = torch.ones(10, dtype=torch.float64), torch.zeros(10, dtype=torch.float64)
    torch.testing.assert_close(generation.q_sample(x0, t, ones, noise), x0)
    torch.testing.assert_close(generation.q_sample(x0, t, zeros, noise), noise)


def test_p_sample_step_is_the_ddpm_update_with_sigma_squared_beta(g):
    betas, alpha_bar = _schedule(20)
    x_t, eps, noise = randn(g, 4, 3), randn(g, 4, 3), randn(g, 4, 3)
    t = torch.tensor([0, 1, 7, 19])
    out = generation.p_sample_step(x_t, eps, t, betas, noise)
    for n in range(4):
        i = int(t[n])
        beta, ab = float(betas[i]), math.prod(1 - float(b) for b in betas[: i + 1])
        mean = (x_t[n] - beta / math.sqrt(1 - ab) * eps[n]) / math.sqrt(1 - beta)
        expected = mean if i == 0 else mean + math.sqrt(beta) * noise[n]
        torch.testing.assert_close(out[n], expected)
        assert math.isclose(ab, float(alpha_bar[i]), rel_tol=1e-12)


def test_flow_matching_pair_interpolates_from_noise_to_data(g):
    x0, x1 = randn(g, 3, 2, 2), randn(g, 3, 2, 2)
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    x_t, v = generation.flow_matching_pair(x0, x1, t)
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[1], 0.75 * x0[1] + 0.25 * x1[1])
    torch.testing.assert_close(x_t[2], x1[2])
    torch.testing.assert_close(v, x1 - x0)


def _linear_velocity(A, c, b):
    registry = load_modules((str(GRADERS / "generation" / "modules.py"),))
    return build_module(registry, "LinearVelocity", {"A": A, "c": c, "b": b})


def test_euler_sample_is_exact_for_a_constant_field_and_converges_on_a_linear_one(g):
    d = 3
    zeros = torch.zeros(d, dtype=torch.float64)
    x0, b = randn(g, 2, d), randn(g, d)
    constant = _linear_velocity(torch.zeros(d, d, dtype=torch.float64), zeros, b)
    for steps in (1, 5):
        torch.testing.assert_close(generation.euler_sample(x0, constant, steps), x0 + b)
    A = randn(g, d, d) * 0.4
    exact = x0 @ torch.linalg.matrix_exp(A).T
    errors = [
        float(
            (generation.euler_sample(x0, _linear_velocity(A, zeros, zeros), n) - exact).abs().max()
        )
        for n in (1, 4, 16, 64)
    ]
    assert errors == sorted(errors, reverse=True)
    assert 3.5 < errors[2] / errors[3] < 4.5  # first order: 4× the steps, ~¼ of the error
    # on v = t·c the left-endpoint grid gives x0 + c·(n-1)/(2n)
    c = randn(g, d)
    timed = _linear_velocity(torch.zeros(d, d, dtype=torch.float64), c, zeros)
    torch.testing.assert_close(generation.euler_sample(x0, timed, 4), x0 + c * 3 / 8)


# ----------------------------------------------------------------------------- dtype and device


def _cases(device, dtype):
    g = torch.Generator().manual_seed(1)

    def r(*shape):
        return torch.randn(shape, generator=g, dtype=dtype).to(device)

    t = torch.tensor([0, 3], device=device)
    betas = torch.linspace(1e-3, 0.2, 5, dtype=dtype).to(device)
    field = _linear_velocity(r(3, 3), r(3), r(3)).to(device)
    return [
        (fusion.additive_multiplicative, (r(2), r(2), r(4))),
        (fusion.tensor_fusion, (r(2, 3), r(2, 2))),
        (fusion.tensor_fusion_linear, (r(2, 3), r(2, 2), r(4, 4, 3), r(4))),
        (fusion.gated_fusion, (r(2, 3), r(2, 3), r(2, 6), r(2))),
        (contrastive.similarity_matrix, (r(2, 3), r(2, 3))),
        (contrastive.info_nce, (r(2, 3), r(2, 3), 0.1)),
        (contrastive.clip_loss, (r(2, 3), r(2, 3), 0.1)),
        (mllm.project_visual_tokens, (r(2, 3, 4), r(5, 4), r(5))),
        (mllm.gated_cross_attention, (r(2, 3, 4), r(2, 2, 4), *(r(4, 4) for _ in range(4)), r())),
        (generation.reparameterize, (r(2, 3), r(2, 3), r(2, 3))),
        (generation.vae_loss, (r(2, 3), r(2, 3), r(2, 2), r(2, 2))),
        (generation.q_sample, (r(2, 3), t, torch.cumprod(1 - betas, 0), r(2, 3))),
        (generation.p_sample_step, (r(2, 3), r(2, 3), t, betas, r(2, 3))),
        (generation.flow_matching_pair, (r(2, 3), r(2, 3), r(2))),
        (generation.euler_sample, (r(2, 3), field, 3)),
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_references_keep_the_inputs_dtype_and_never_create_cpu_tensors(dtype):
    # The meta device has no data: any tensor a reference made on the CPU and mixed
    # with the inputs would raise, and outputs must come back on "meta".
    for function, args in _cases("meta", dtype):
        out = function(*args)
        for tensor in out if isinstance(out, tuple) else (out,):
            assert tensor.device.type == "meta", function.__name__
            assert tensor.dtype == dtype, function.__name__


@pytest.mark.gpu
def test_references_run_on_cuda():
    for function, args in _cases("cuda", torch.float32):
        out = function(*args)
        for tensor in out if isinstance(out, tuple) else (out,):
            assert tensor.device.type == "cuda", function.__name__
