"""Checks of the mllm task (see mmexam.checks for the kinds and how they run)."""

import math

from mmexam.checks import expect, randn, standard_checks


def _proj_inputs(g, dtype, B, T, dv, dl):
    return (
        randn(g, B, T, dv, dtype=dtype),
        randn(g, dl, dv, dtype=dtype) / math.sqrt(dv),
        randn(g, dl, dtype=dtype),
    )


def _proj_zero_weight(g, dtype, B, T, dv, dl):
    v, W, b = _proj_inputs(g, dtype, B, T, dv, dl)
    return v, W * 0, b


def _xattn_inputs(g, dtype, B, L, T, d, alpha):
    scale = 1 / math.sqrt(d)
    return (
        randn(g, B, L, d, dtype=dtype),
        randn(g, B, T, d, dtype=dtype),
        *(randn(g, d, d, dtype=dtype) * 2 * scale for _ in range(2)),  # Wq, Wk: peaky attention
        *(randn(g, d, d, dtype=dtype) * scale for _ in range(2)),  # Wv, Wo
        randn(g, dtype=dtype) * 0 + alpha,
    )


def _xattn_one_token(args):
    x, v, _, _, Wv, Wo, alpha = args
    return x + alpha.tanh() * ((v @ Wv) @ Wo)  # v is [B, 1, d]: broadcasts over the L queries


PROJ_HINT = (
    "MiniGPT-4's projection is one linear layer applied to every visual token, with "
    "nn.Linear's convention: out = v @ W.T + b, W of shape [dl, dv]."
)
XATTN_HINT = (
    "Flamingo: Q = x @ Wq, K = v @ Wk, V = v @ Wv; A = softmax(Q Kᵀ / √d) over the T visual "
    "tokens (dim=-1); out = x + tanh(alpha) · (A V) @ Wo — the tanh gate keeps the language "
    "model unchanged at alpha = 0."
)

CHECKS = [
    *standard_checks(
        "project_visual_tokens",
        inputs=_proj_inputs,
        public=[
            {"B": 1, "T": 1, "dv": 3, "dl": 5, "dtype": "float32"},
            {"B": 2, "T": 4, "dv": 6, "dl": 3, "dtype": "float64"},
            {"B": 3, "T": 2, "dv": 4, "dl": 4, "dtype": "float32"},
        ],
        hidden=[
            {"B": 4, "T": 5, "dv": 8, "dl": 6, "dtype": "float64"},
            {"B": 1, "T": 7, "dv": 2, "dl": 5, "dtype": "float32"},
        ],
        wrt=("v", "W", "b"),
        hint=PROJ_HINT,
    ),
    expect(
        "project_visual_tokens.bias_only",
        "project_visual_tokens",
        inputs=_proj_zero_weight,
        cases=[{"B": 2, "T": 3, "dv": 4, "dl": 5, "dtype": "float64"}],
        expected=lambda args: args[2].expand(args[0].shape[0], args[0].shape[1], -1),
        property="with W = 0 every visual token is mapped to the bias b",
        points=1.0,
        hint=PROJ_HINT,
    ),
    *standard_checks(
        "gated_cross_attention",
        inputs=_xattn_inputs,
        public=[
            {"B": 1, "L": 3, "T": 2, "d": 4, "alpha": 0.8, "dtype": "float32"},
            {"B": 2, "L": 5, "T": 4, "d": 6, "alpha": -1.3, "dtype": "float64"},
            {"B": 3, "L": 1, "T": 6, "d": 8, "alpha": 2.0, "dtype": "float32"},
        ],
        hidden=[
            {"B": 2, "L": 4, "T": 3, "d": 5, "alpha": 0.5, "dtype": "float64"},
            {"B": 1, "L": 6, "T": 5, "d": 4, "alpha": -0.7, "dtype": "float32"},
        ],
        wrt=("x", "v", "Wq", "Wk", "Wv", "Wo", "alpha"),
        hint=XATTN_HINT,
    ),
    expect(
        "gated_cross_attention.identity_at_zero",
        "gated_cross_attention",
        inputs=_xattn_inputs,
        cases=[{"B": 2, "L": 3, "T": 4, "d": 5, "alpha": 0.0, "dtype": "float64"}],
        expected=lambda args: args[0],
        property="alpha = 0 leaves the language model unchanged: the output is x",
        points=1.0,
        hint=XATTN_HINT,
    ),
    expect(
        "gated_cross_attention.single_visual_token",
        "gated_cross_attention",
        inputs=_xattn_inputs,
        cases=[{"B": 2, "L": 4, "T": 1, "d": 5, "alpha": 0.9, "dtype": "float64"}],
        expected=_xattn_one_token,
        property="the softmax runs over the visual tokens: with T = 1 every text token attends "
        "to it with weight 1, so out = x + tanh(alpha)·(v Wv) Wo",
        points=1.0,
        hint=XATTN_HINT,
    ),
]
