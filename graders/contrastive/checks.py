"""Checks of the contrastive task (see mmexam.checks for the kinds and how they run)."""

from mmexam.checks import rand, randn, standard_checks, symmetric


def _embeddings(g, dtype, N, d):
    """Paired embeddings with unequal norms (so a dot product differs from a cosine)."""
    z_a = randn(g, N, d, dtype=dtype) * rand(g, N, 1, dtype=dtype, low=0.5, high=3.0)
    z_b = (z_a + randn(g, N, d, dtype=dtype)) * rand(g, N, 1, dtype=dtype, low=0.5, high=3.0)
    return z_a, z_b


def _sim_inputs(g, dtype, N, M, d):
    return (
        randn(g, N, d, dtype=dtype) * rand(g, N, 1, dtype=dtype, low=0.5, high=3.0),
        randn(g, M, d, dtype=dtype) * rand(g, M, 1, dtype=dtype, low=0.5, high=3.0),
    )


def _loss_inputs(g, dtype, N, d, tau):
    return (*_embeddings(g, dtype, N, d), tau)


def _rescaled(args):
    return (args[0] * 2.5, args[1] * 3.0, *args[2:])


def _swapped(args):
    return (args[1], args[0], *args[2:])


SIM_HINT = (
    "cosine similarity: L2-normalise each row over the features (dim=-1) before the dot "
    "products, S = normalize(z_a) @ normalize(z_b).T, so S[i, j] is in [-1, 1]."
)
NCE_HINT = (
    "InfoNCE a→b: logits = cosine similarities / τ; for each row i, softmax over the "
    "candidates j (dim=1) and take -log of the positive j = i; average over the N rows "
    "(= F.cross_entropy(S / τ, arange(N)))."
)
CLIP_HINT = (
    "CLIP's loss is symmetric: the mean of the a→b loss (softmax over each row of S / τ) "
    "and the b→a loss (softmax over each column), each averaged over the N pairs."
)

_LOSS_PUBLIC = [
    {"N": 1, "d": 4, "tau": 0.07, "dtype": "float32"},
    {"N": 4, "d": 8, "tau": 0.1, "dtype": "float64"},
    {"N": 6, "d": 3, "tau": 0.5, "dtype": "float32"},
]
_LOSS_HIDDEN = [
    {"N": 8, "d": 6, "tau": 0.07, "dtype": "float64"},
    {"N": 3, "d": 5, "tau": 2.0, "dtype": "float32"},
]

CHECKS = [
    *standard_checks(
        "similarity_matrix",
        inputs=_sim_inputs,
        public=[
            {"N": 1, "M": 1, "d": 4, "dtype": "float32"},
            {"N": 4, "M": 4, "d": 5, "dtype": "float64"},
            {"N": 5, "M": 3, "d": 8, "dtype": "float32"},
        ],
        hidden=[
            {"N": 7, "M": 7, "d": 3, "dtype": "float64"},
            {"N": 2, "M": 6, "d": 4, "dtype": "float32"},
        ],
        wrt=("z_a", "z_b"),
        hint=SIM_HINT,
    ),
    symmetric(
        "similarity_matrix.scale_invariant",
        "similarity_matrix",
        inputs=_sim_inputs,
        cases=[{"N": 4, "M": 4, "d": 6, "dtype": "float64"}],
        swap=_rescaled,
        property="cosine similarity ignores the norms: "
        "similarity_matrix(2.5·z_a, 3·z_b) = similarity_matrix(z_a, z_b)",
        points=1.0,
        hint=SIM_HINT,
    ),
    *standard_checks(
        "info_nce",
        inputs=_loss_inputs,
        public=_LOSS_PUBLIC,
        hidden=_LOSS_HIDDEN,
        wrt=("z_a", "z_b"),
        hint=NCE_HINT,
    ),
    symmetric(
        "info_nce.scale_invariant",
        "info_nce",
        inputs=_loss_inputs,
        cases=[{"N": 5, "d": 4, "tau": 0.2, "dtype": "float64"}],
        swap=_rescaled,
        property="the loss uses cosine similarity, so rescaling the embeddings changes "
        "nothing: info_nce(2.5·z_a, 3·z_b, τ) = info_nce(z_a, z_b, τ)",
        points=1.0,
        hint=NCE_HINT,
    ),
    *standard_checks(
        "clip_loss",
        inputs=_loss_inputs,
        public=_LOSS_PUBLIC,
        hidden=_LOSS_HIDDEN,
        wrt=("z_a", "z_b"),
        hint=CLIP_HINT,
    ),
    symmetric(
        "clip_loss.symmetric",
        "clip_loss",
        inputs=_loss_inputs,
        cases=[
            {"N": 5, "d": 4, "tau": 0.1, "dtype": "float64"},
            {"N": 3, "d": 6, "tau": 0.5, "dtype": "float32"},
        ],
        swap=_swapped,
        property="symmetric in its arguments: clip_loss(z_a, z_b, τ) = clip_loss(z_b, z_a, τ)",
        points=1.0,
        hint=CLIP_HINT,
    ),
]
