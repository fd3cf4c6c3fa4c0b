"""Checks of the fusion task (see mmexam.checks for the kinds and how they run)."""

from mmexam.checks import expect, randn, standard_checks, value

# ----------------------------------------------------------------- additive_multiplicative


def _am_inputs(g, dtype, B):
    return randn(g, B, dtype=dtype), randn(g, B, dtype=dtype), randn(g, 4, dtype=dtype)


def _am_product_only(g, dtype, B):
    x_a, x_b, _ = _am_inputs(g, dtype, B)
    return x_a, x_b, x_a.new_tensor([0.0, 0.0, 0.0, 1.0])


AM_HINT = (
    "z = w[0] + w[1]·x_a + w[2]·x_b + w[3]·(x_a·x_b): a constant, one additive term per "
    "modality and the multiplicative interaction term, elementwise over the batch."
)

# ----------------------------------------------------------------- tensor_fusion


def _tf_inputs(g, dtype, B, dA, dB):
    return randn(g, B, dA, dtype=dtype), randn(g, B, dB, dtype=dtype)


TF_HINT = (
    "the 1 is appended after each modality's features ([x_a, 1] ⊗ [x_b, 1]), and the "
    "product is flattened with x_a's index major: column i·(dB+1)+j holds [x_a,1][i]·[x_b,1][j]."
)

# ----------------------------------------------------------------- tensor_fusion_linear


def _tfl_inputs(g, dtype, B, dA, dB, dout):
    return (
        randn(g, B, dA, dtype=dtype),
        randn(g, B, dB, dtype=dtype),
        randn(g, dout, dA + 1, dB + 1, dtype=dtype) / (dA + 1),
        randn(g, dout, dtype=dtype),
    )


TFL_HINT = (
    "out[n, o] = Σ_ij [x_a,1][n,i]·W[o,i,j]·[x_b,1][n,j] + b[o] — contract W with one "
    "modality at a time (e.g. einsum('ni,oij->noj') then with [x_b, 1]) instead of building "
    "the [B, (dA+1)(dB+1)] outer product."
)

# Large enough that a materialised outer product (B·(dA+1)(dB+1) float32 = 256 MB) does not
# fit under the limit, while the reference's largest intermediate is B·dout·(dB+1) (512 KB).
MEMORY_CASE = {"B": 256, "dA": 511, "dB": 511, "dout": 1, "dtype": "float32"}
MEMORY_LIMIT_MB = 160

# ----------------------------------------------------------------- gated_fusion


def _gf_inputs(g, dtype, B, d):
    return (
        randn(g, B, d, dtype=dtype),
        randn(g, B, d, dtype=dtype),
        randn(g, 2, 2 * d, dtype=dtype),
        randn(g, 2, dtype=dtype),
    )


def _gf_same_modality(g, dtype, B, d):
    x_a, _, W, b = _gf_inputs(g, dtype, B, d)
    return x_a, x_a.clone(), W, b


GF_HINT = (
    "gate logits = [x_a; x_b] @ W.T + b (shape [B, 2]); softmax over the two modalities "
    "(dim=-1) so g_a + g_b = 1 per example; z = g_a·x_a + g_b·x_b with one gate per modality."
)


CHECKS = [
    *standard_checks(
        "additive_multiplicative",
        inputs=_am_inputs,
        public=[
            {"B": 1, "dtype": "float32"},
            {"B": 5, "dtype": "float64"},
            {"B": 7, "dtype": "float32"},
        ],
        hidden=[{"B": 16, "dtype": "float64"}, {"B": 3, "dtype": "float32"}],
        wrt=("x_a", "x_b", "w"),
        hint=AM_HINT,
    ),
    expect(
        "additive_multiplicative.interaction_only",
        "additive_multiplicative",
        inputs=_am_product_only,
        cases=[{"B": 6, "dtype": "float64"}],
        expected=lambda args: args[0] * args[1],
        property="with w = (0, 0, 0, 1) only the multiplicative term remains: z = x_a·x_b",
        points=1.0,
        hint=AM_HINT,
    ),
    *standard_checks(
        "tensor_fusion",
        inputs=_tf_inputs,
        public=[
            {"B": 1, "dA": 2, "dB": 3, "dtype": "float32"},
            {"B": 4, "dA": 3, "dB": 5, "dtype": "float64"},
            {"B": 3, "dA": 1, "dB": 1, "dtype": "float32"},
        ],
        hidden=[
            {"B": 2, "dA": 6, "dB": 4, "dtype": "float64"},
            {"B": 5, "dA": 4, "dB": 2, "dtype": "float32"},
        ],
        wrt=("x_a", "x_b"),
        hint=TF_HINT,
    ),
    *standard_checks(
        "tensor_fusion_linear",
        inputs=_tfl_inputs,
        public=[
            {"B": 1, "dA": 2, "dB": 3, "dout": 4, "dtype": "float32"},
            {"B": 3, "dA": 4, "dB": 2, "dout": 1, "dtype": "float64"},
            {"B": 5, "dA": 3, "dB": 3, "dout": 2, "dtype": "float32"},
        ],
        hidden=[
            {"B": 4, "dA": 5, "dB": 3, "dout": 3, "dtype": "float64"},
            {"B": 2, "dA": 2, "dB": 6, "dout": 2, "dtype": "float32"},
        ],
        wrt=("x_a", "x_b", "W", "b"),
        hint=TFL_HINT,
    ),
    value(
        "tensor_fusion_linear.memory",
        "tensor_fusion_linear",
        inputs=_tfl_inputs,
        cases=[MEMORY_CASE],
        points=2.0,
        visibility="public",
        kind="memory",
        memory_mb=MEMORY_LIMIT_MB,
        property=f"runs within {MEMORY_LIMIT_MB} MB without materialising the outer product",
        tol={"float32": (1e-3, 1e-4)},
        hint=TFL_HINT,
    ),
    *standard_checks(
        "gated_fusion",
        inputs=_gf_inputs,
        public=[
            {"B": 1, "d": 3, "dtype": "float32"},
            {"B": 4, "d": 5, "dtype": "float64"},
            {"B": 6, "d": 2, "dtype": "float32"},
        ],
        hidden=[{"B": 8, "d": 4, "dtype": "float64"}, {"B": 2, "d": 7, "dtype": "float32"}],
        wrt=("x_a", "x_b", "W", "b"),
        hint=GF_HINT,
    ),
    expect(
        "gated_fusion.gates_sum_to_one",
        "gated_fusion",
        inputs=_gf_same_modality,
        cases=[{"B": 5, "d": 4, "dtype": "float64"}],
        expected=lambda args: args[0],
        property="the two gates of each example sum to 1: with x_a = x_b the output is x_a",
        points=1.0,
        hint=GF_HINT,
    ),
]
