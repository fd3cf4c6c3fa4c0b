"""Checks of the generation task (see mmexam.checks for the kinds and how they run)."""

import math

import torch

from mmexam.checks import (
    at_least,
    converges,
    expect,
    rand,
    randn,
    standard_checks,
    symmetric,
)
from mmexam.sandbox import ModuleSpec

# ----------------------------------------------------------------- VAE


def _rep_inputs(g, dtype, B, k):
    return (
        randn(g, B, k, dtype=dtype),
        randn(g, B, k, dtype=dtype) * 0.7,
        randn(g, B, k, dtype=dtype),
    )


def _rep_sigma_three(g, dtype, B, k):
    mu, _, eps = _rep_inputs(g, dtype, B, k)
    return mu, torch.full_like(mu, 2 * math.log(3.0)), eps


REP_HINT = (
    "logvar is log σ², so σ = exp(logvar / 2) — not exp(logvar), which is the variance; "
    "z = mu + σ·eps uses the eps you are given (no fresh torch.randn)."
)


def _vae_inputs(g, dtype, B, C, D, k):
    x = randn(g, B, C, D, dtype=dtype)
    return (
        x,
        x + 0.5 * randn(g, B, C, D, dtype=dtype),
        randn(g, B, k, dtype=dtype),
        randn(g, B, k, dtype=dtype) * 0.7,
    )


def _vae_prior(g, dtype, B, C, D, k):
    x, _, mu, _ = _vae_inputs(g, dtype, B, C, D, k)
    return x, x.clone(), torch.zeros_like(mu), torch.zeros_like(mu)


def _vae_kl_only(g, dtype, B, C, D, k):
    x, _, mu, logvar = _vae_inputs(g, dtype, B, C, D, k)
    return x, x.clone(), mu, logvar * 2


def _doubled_batch(args):
    return tuple(torch.cat([a, a]) for a in args)


VAE_HINT = (
    "per example: the squared error summed over all of x's features plus "
    "KL = -½ Σ (1 + logvar - mu² - exp(logvar)), which is ≥ 0; then the mean over the batch."
)

# ----------------------------------------------------------------- diffusion


def _schedule(T, dtype):
    return torch.linspace(1e-3, 0.2, T, dtype=torch.float64).to(dtype)


def _steps(g, B, T):
    t = torch.randint(0, T, (B,), generator=g)
    if B > 1:
        t[0] = 0  # every batch of two or more has a t = 0 example
        t[1] = max(int(t[1]), 1)  # and one with t > 0
    return t


def _q_inputs(g, dtype, B, C, D, T):
    alpha_bar = torch.cumprod(1 - _schedule(T, torch.float64), 0).to(dtype)
    return (
        randn(g, B, C, D, dtype=dtype),
        _steps(g, B, T),
        alpha_bar,
        randn(g, B, C, D, dtype=dtype),
    )


def _q_endpoint(g, dtype, B, C, D, T, ab):
    x0, t, alpha_bar, noise = _q_inputs(g, dtype, B, C, D, T)
    return x0, t, torch.full_like(alpha_bar, ab), noise


Q_HINT = (
    "x_t = √ᾱ_t · x0 + √(1 - ᾱ_t) · noise with ᾱ_t = alpha_bar[t] (t is a 0-based index), "
    "reshaped to [B, 1, ..., 1] so it broadcasts over x0's trailing dims."
)


def _p_inputs(g, dtype, B, C, D, T):
    return (
        randn(g, B, C, D, dtype=dtype),
        randn(g, B, C, D, dtype=dtype),
        _steps(g, B, T),
        _schedule(T, dtype),
        randn(g, B, C, D, dtype=dtype),
    )


def _p_noise_only(g, dtype, B, C, D, T):
    x_t, eps, t, betas, noise = _p_inputs(g, dtype, B, C, D, T)
    return torch.zeros_like(x_t), torch.zeros_like(eps), t, betas, noise


def _p_noise_expected(args):
    _, _, t, betas, noise = args
    sigma = (betas[t].sqrt() * (t > 0).to(betas.dtype)).reshape(-1, *[1] * (noise.dim() - 1))
    return sigma * noise


P_HINT = (
    "mean = (x_t - β_t/√(1-ᾱ_t) · eps_pred) / √α_t with α_t = 1 - β_t and ᾱ_t = cumprod(1 - β) "
    "at the 0-based index t; then add σ_t · noise with σ_t = √β_t, except where t = 0."
)

# ----------------------------------------------------------------- flow matching


def _fm_inputs(g, dtype, B, C, D):
    return (
        randn(g, B, C, D, dtype=dtype),
        randn(g, B, C, D, dtype=dtype),
        rand(g, B, dtype=dtype),
    )


def _fm_at(g, dtype, B, C, D, at):
    x0, x1, t = _fm_inputs(g, dtype, B, C, D)
    return x0, x1, torch.full_like(t, at)


def _fm_endpoint_expected(args):
    x0, x1, t = args
    return (x0 if float(t[0]) == 0.0 else x1), x1 - x0


FM_HINT = (
    "the straight path from noise x0 (t = 0) to data x1 (t = 1): x_t = (1 - t)·x0 + t·x1, and "
    "its velocity v = d x_t/dt = x1 - x0; t [B] broadcasts over the trailing dims."
)


def _mlp_field(g, dtype, d, hidden=8):
    return ModuleSpec(
        "MLPVelocity",
        {
            "W1": randn(g, hidden, d + 1, dtype=dtype) / math.sqrt(d + 1),
            "b1": randn(g, hidden, dtype=dtype) * 0.1,
            "W2": randn(g, d, hidden, dtype=dtype) / math.sqrt(hidden),
            "b2": randn(g, d, dtype=dtype) * 0.1,
        },
    )


def _linear_field(A, c, b):
    return ModuleSpec("LinearVelocity", {"A": A, "c": c, "b": b})


def _euler_inputs(g, dtype, B, d, steps):
    return randn(g, B, d, dtype=dtype), _mlp_field(g, dtype, d), steps


def _euler_constant(g, dtype, B, d, steps):
    zeros = torch.zeros(d, d, dtype=dtype)
    field = _linear_field(zeros, zeros[0], randn(g, d, dtype=dtype))
    return randn(g, B, d, dtype=dtype), field, steps


def _euler_time_only(g, dtype, B, d, steps):
    zeros = torch.zeros(d, d, dtype=dtype)
    field = _linear_field(zeros, randn(g, d, dtype=dtype), zeros[0])
    return randn(g, B, d, dtype=dtype), field, steps


def _euler_time_only_expected(args):
    x0, field, steps = args
    return x0 + field.state["c"] * (steps - 1) / (2 * steps)


def _euler_linear(g, dtype, B, d):
    A = randn(g, d, d, dtype=dtype) * (0.6 / math.sqrt(d))
    zeros = torch.zeros(d, dtype=dtype)
    x0 = randn(g, B, d, dtype=dtype)
    # Doubling to 16 steps shows the first-order convergence (error 0.139 at 1 step, 0.0056 at
    # 16 for the reference); more steps cost sandbox time and catch nothing more.
    return [(x0, _linear_field(A, zeros, zeros), steps) for steps in (1, 2, 4, 8, 16)]


def _euler_linear_exact(args):
    x0, field, _ = args
    return x0 @ torch.linalg.matrix_exp(field.state["A"]).T


EULER_HINT = (
    "h = 1/steps and x ← x + h·velocity(x, t_k) on the left-endpoint grid t_k = k/steps, "
    "k = 0 … steps-1 (the first evaluation at t = 0, never at t = 1)."
)


CHECKS = [
    *standard_checks(
        "reparameterize",
        inputs=_rep_inputs,
        public=[
            {"B": 1, "k": 3, "dtype": "float32"},
            {"B": 4, "k": 2, "dtype": "float64"},
            {"B": 6, "k": 5, "dtype": "float32"},
        ],
        hidden=[{"B": 8, "k": 4, "dtype": "float64"}, {"B": 2, "k": 7, "dtype": "float32"}],
        wrt=("mu", "logvar", "eps"),
        hint=REP_HINT,
    ),
    expect(
        "reparameterize.sigma_from_logvar",
        "reparameterize",
        inputs=_rep_sigma_three,
        cases=[{"B": 3, "k": 4, "dtype": "float64"}],
        expected=lambda args: args[0] + 3 * args[2],
        property="σ = exp(logvar/2): with logvar = log 9 the noise is scaled by σ = 3",
        points=1.0,
        hint=REP_HINT,
    ),
    *standard_checks(
        "vae_loss",
        inputs=_vae_inputs,
        public=[
            {"B": 1, "C": 1, "D": 4, "k": 2, "dtype": "float32"},
            {"B": 4, "C": 2, "D": 3, "k": 3, "dtype": "float64"},
            {"B": 5, "C": 3, "D": 2, "k": 4, "dtype": "float32"},
        ],
        hidden=[
            {"B": 6, "C": 2, "D": 5, "k": 2, "dtype": "float64"},
            {"B": 2, "C": 4, "D": 1, "k": 6, "dtype": "float32"},
        ],
        wrt=("x", "x_hat", "mu", "logvar"),
        hint=VAE_HINT,
    ),
    expect(
        "vae_loss.zero_at_prior",
        "vae_loss",
        inputs=_vae_prior,
        cases=[{"B": 3, "C": 2, "D": 3, "k": 4, "dtype": "float64"}],
        expected=lambda args: args[0].new_zeros(()),
        property="KL = 0 at the prior: a perfect reconstruction with mu = 0, logvar = 0 has loss 0",
        points=1.0,
        hint=VAE_HINT,
        needs_values=True,  # a function returning 0 meets it
    ),
    at_least(
        "vae_loss.kl_nonnegative",
        "vae_loss",
        inputs=_vae_kl_only,
        cases=[
            {"B": 4, "C": 1, "D": 3, "k": 5, "dtype": "float64"},
            {"B": 1, "C": 2, "D": 2, "k": 3, "dtype": "float32"},
        ],
        lower=0.0,
        property="KL ≥ 0: with a perfect reconstruction the loss (the KL term alone) is "
        "never negative",
        points=1.0,
        hint=VAE_HINT,
    ),
    symmetric(
        "vae_loss.batch_mean",
        "vae_loss",
        inputs=_vae_inputs,
        cases=[{"B": 3, "C": 2, "D": 2, "k": 3, "dtype": "float64"}],
        swap=_doubled_batch,
        property="a mean over the batch: repeating every example twice leaves the loss unchanged",
        points=1.0,
        hint=VAE_HINT,
    ),
    *standard_checks(
        "q_sample",
        inputs=_q_inputs,
        public=[
            {"B": 1, "C": 1, "D": 3, "T": 10, "dtype": "float32"},
            {"B": 4, "C": 2, "D": 3, "T": 50, "dtype": "float64"},
            {"B": 6, "C": 1, "D": 5, "T": 20, "dtype": "float32"},
        ],
        hidden=[
            {"B": 5, "C": 3, "D": 2, "T": 100, "dtype": "float64"},
            {"B": 3, "C": 2, "D": 4, "T": 8, "dtype": "float32"},
        ],
        wrt=("x0", "noise"),  # the schedule is a constant (see the docstring)
        hint=Q_HINT,
    ),
    expect(
        "q_sample.endpoints",
        "q_sample",
        inputs=_q_endpoint,
        cases=[
            {"B": 3, "C": 2, "D": 3, "T": 10, "ab": 1.0, "dtype": "float64"},
            {"B": 3, "C": 2, "D": 3, "T": 10, "ab": 0.0, "dtype": "float64"},
        ],
        expected=lambda args: args[0] if float(args[2][0]) == 1.0 else args[3],
        property="the endpoints of the forward process: ᾱ = 1 gives x0, ᾱ = 0 gives the noise",
        points=1.0,
        hint=Q_HINT,
    ),
    *standard_checks(
        "p_sample_step",
        inputs=_p_inputs,
        public=[
            {"B": 1, "C": 1, "D": 3, "T": 10, "dtype": "float32"},
            {"B": 4, "C": 2, "D": 3, "T": 50, "dtype": "float64"},
            {"B": 6, "C": 1, "D": 5, "T": 20, "dtype": "float32"},
        ],
        hidden=[
            {"B": 5, "C": 3, "D": 2, "T": 100, "dtype": "float64"},
            {"B": 3, "C": 2, "D": 4, "T": 8, "dtype": "float32"},
        ],
        wrt=("x_t", "eps_pred", "noise"),  # not betas: a constant schedule
        hint=P_HINT,
    ),
    expect(
        "p_sample_step.noise_scale",
        "p_sample_step",
        inputs=_p_noise_only,
        cases=[
            {"B": 6, "C": 2, "D": 3, "T": 20, "dtype": "float64"},
            {"B": 1, "C": 1, "D": 4, "T": 5, "dtype": "float32"},
        ],
        expected=_p_noise_expected,
        property="the added noise is σ_t·noise with σ_t = √β_t, and none at t = 0: with "
        "x_t = eps_pred = 0 the step returns √β_t·noise (0 where t = 0)",
        points=1.0,
        hint=P_HINT,
    ),
    *standard_checks(
        "flow_matching_pair",
        inputs=_fm_inputs,
        public=[
            {"B": 1, "C": 1, "D": 3, "dtype": "float32"},
            {"B": 4, "C": 2, "D": 3, "dtype": "float64"},
            {"B": 6, "C": 1, "D": 5, "dtype": "float32"},
        ],
        hidden=[
            {"B": 5, "C": 3, "D": 2, "dtype": "float64"},
            {"B": 2, "C": 2, "D": 4, "dtype": "float32"},
        ],
        wrt=("x0", "x1"),  # not t: the time is sampled, not learned
        hint=FM_HINT,
        names=("x_t", "v"),
    ),
    expect(
        "flow_matching_pair.endpoints",
        "flow_matching_pair",
        inputs=_fm_at,
        cases=[
            {"B": 3, "C": 2, "D": 2, "at": 0.0, "dtype": "float64"},
            {"B": 3, "C": 2, "D": 2, "at": 1.0, "dtype": "float64"},
        ],
        expected=_fm_endpoint_expected,
        property="t = 0 is the noise and t = 1 the data: (x_t, v) = (x0, x1 - x0) at t = 0 "
        "and (x1, x1 - x0) at t = 1",
        points=1.0,
        hint=FM_HINT,
        names=("x_t", "v"),
    ),
    *standard_checks(
        "euler_sample",
        inputs=_euler_inputs,
        public=[
            {"B": 1, "d": 3, "steps": 1, "dtype": "float32"},
            {"B": 4, "d": 2, "steps": 5, "dtype": "float64"},
            {"B": 3, "d": 4, "steps": 12, "dtype": "float32"},
        ],
        hidden=[
            {"B": 5, "d": 3, "steps": 7, "dtype": "float64"},
            {"B": 2, "d": 5, "steps": 3, "dtype": "float32"},
        ],
        wrt=("x0",),
        hint=EULER_HINT,
    ),
    expect(
        "euler_sample.constant_field",
        "euler_sample",
        inputs=_euler_constant,
        cases=[
            {"B": 3, "d": 2, "steps": 1, "dtype": "float64"},
            {"B": 2, "d": 3, "steps": 7, "dtype": "float64"},
        ],
        expected=lambda args: args[0] + args[1].state["b"],
        property="Euler is exact for a constant field v = b: x1 = x0 + b for any number of steps",
        points=1.0,
        hint=EULER_HINT,
    ),
    expect(
        "euler_sample.time_grid",
        "euler_sample",
        inputs=_euler_time_only,
        cases=[
            {"B": 2, "d": 3, "steps": 4, "dtype": "float64"},
            {"B": 1, "d": 2, "steps": 10, "dtype": "float64"},
        ],
        expected=_euler_time_only_expected,
        property="the velocity is evaluated at t_k = k/steps: for v = t·c, Euler gives "
        "x0 + c·(steps-1)/(2·steps)",
        points=1.0,
        hint=EULER_HINT,
    ),
    converges(
        "euler_sample.converges",
        "euler_sample",
        inputs=_euler_linear,
        case={"B": 3, "d": 3, "dtype": "float64"},
        exact=_euler_linear_exact,
        # First order: 16 steps divide the error by ~16 (at most 1/7 over 3,000 draws).
        final_ratio=0.25,
        property="on a linear field v = x Aᵀ the error to the exact x0·exp(A)ᵀ shrinks as "
        "steps grow (1, 2, 4, 8, 16)",
        points=1.0,
        hint=EULER_HINT,
    ),
]
