"""Contrastive alignment (CLIP): cosine similarities, InfoNCE and the symmetric CLIP loss.

Shapes: N paired examples (z_a[i] and z_b[i] are a positive pair, z_b[j] for
j != i are negatives), d the embedding size. Every function works for N = 1,
for float32 and float64, and on any device: outputs have the inputs' dtype and
device, and no new tensor is created on the CPU when the inputs live elsewhere.
No input is modified in place.
"""

import torch

# BEGIN SOLUTION
import torch.nn.functional as F
# END SOLUTION


def similarity_matrix(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of z_a with every row of z_b.

    S[i, j] is the cosine of the angle between z_a[i] and z_b[j] (in [-1, 1],
    not a raw dot product); a norm is clamped below at eps = 1e-12 as
    F.normalize does, so an all-zero row gives similarities 0, not NaN.
    Differentiable in: z_a, z_b.

    Args:
        z_a: shape [N, d].
        z_b: shape [M, d] (M = N for the losses below).

    Returns:
        S: shape [N, M], same dtype and device as z_a; row i is z_a[i].
    """
    # BEGIN SOLUTION
    # S[i, j] = <z_a[i], z_b[j]> / (‖z_a[i]‖·‖z_b[j]‖): L2-normalise each row over the
    # features (dim=-1), then all dot products at once.
    return F.normalize(z_a, dim=-1) @ F.normalize(z_b, dim=-1).T
    # END SOLUTION


def info_nce(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE loss in the a→b direction, with cosine similarity and a temperature.

    The logits are the cosine similarities (similarity_matrix(z_a, z_b))
    divided by τ. Each anchor z_a[i] is classified among all N candidates
    z_b[0..N-1] (a softmax over the candidates), its positive being z_b[i];
    the loss is the negative log-likelihood of the positive, averaged (not
    summed) over the N anchors.
    Differentiable in: z_a, z_b.

    Args:
        z_a: shape [N, d], anchors.
        z_b: shape [N, d], candidates; z_b[i] is z_a[i]'s positive.
        temperature: τ > 0, a python float; the logits are S / τ.

    Returns:
        a 0-d tensor (shape []), same dtype and device as z_a.
    """
    # BEGIN SOLUTION
    # L = -(1/N) Σ_i log softmax_j(S[i, j] / τ) at j = i: the softmax over each row (dim=1),
    # i.e. F.cross_entropy(S / τ, arange(N)); the labels are made on the inputs' device.
    logits = similarity_matrix(z_a, z_b) / temperature
    idx = torch.arange(logits.shape[0], device=logits.device)
    return -torch.log_softmax(logits, dim=1)[idx, idx].mean()
    # END SOLUTION


def clip_loss(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """The symmetric CLIP loss: the mean (not the sum) of InfoNCE in both directions.

    The a→b loss (each z_a[i] picks its positive among the z_b) and the b→a
    loss (each z_b[j] picks its positive among the z_a), both with cosine
    similarities at temperature τ as in info_nce, averaged. Symmetric:
    clip_loss(z_a, z_b) = clip_loss(z_b, z_a).
    Differentiable in: z_a, z_b.

    Args:
        z_a: shape [N, d].
        z_b: shape [N, d]; z_b[i] is z_a[i]'s positive.
        temperature: τ > 0, a python float.

    Returns:
        a 0-d tensor (shape []), same dtype and device as z_a.
    """
    # BEGIN SOLUTION
    # L = (info_nce(z_a, z_b, τ) + info_nce(z_b, z_a, τ)) / 2: one similarity matrix, the
    # a→b softmax over its rows (dim=1) and the b→a softmax over its columns (dim=0).
    logits = similarity_matrix(z_a, z_b) / temperature
    n = logits.shape[0]
    idx = torch.arange(n, device=logits.device)
    a_to_b = -torch.log_softmax(logits, dim=1)[idx, idx].mean()
    b_to_a = -torch.log_softmax(logits, dim=0)[idx, idx].mean()
    return (a_to_b + b_to_a) / 2
    # END SOLUTION
