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

    S[i, j] = <z_a[i], z_b[j]> / (‖z_a[i]‖·‖z_b[j]‖): each row is L2-normalised
    over the feature dimension (dim=-1, eps 1e-12 as in F.normalize) before the
    dot products, so S is a cosine similarity in [-1, 1], not a raw dot product.

    Args:
        z_a: shape [N, d].
        z_b: shape [M, d] (M = N for the losses below).

    Returns:
        S: shape [N, M], same dtype and device as z_a; row i is z_a[i].
    """
    # BEGIN SOLUTION
    return F.normalize(z_a, dim=-1) @ F.normalize(z_b, dim=-1).T
    # END SOLUTION


def info_nce(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE loss in the a→b direction, with cosine similarity and a temperature.

    L = -(1/N) Σ_i log softmax_j(S[i, j] / τ) evaluated at j = i, where
    S = similarity_matrix(z_a, z_b): for each z_a[i] the softmax runs over all
    candidates z_b[j] (dim=1, the columns), the positive is z_b[i], and the
    result is the mean over the N rows. Equivalent to
    F.cross_entropy(S / τ, arange(N)).

    Args:
        z_a: shape [N, d], anchors.
        z_b: shape [N, d], candidates; z_b[i] is z_a[i]'s positive.
        temperature: τ > 0, a python float; the logits are S / τ.

    Returns:
        a 0-d tensor (shape []), same dtype and device as z_a.
    """
    # BEGIN SOLUTION
    logits = similarity_matrix(z_a, z_b) / temperature
    idx = torch.arange(logits.shape[0], device=logits.device)
    return -torch.log_softmax(logits, dim=1)[idx, idx].mean()
    # END SOLUTION


def clip_loss(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """The symmetric CLIP loss: the mean of InfoNCE in both directions.

    L = (info_nce(z_a, z_b, τ) + info_nce(z_b, z_a, τ)) / 2, i.e. the a→b
    loss (softmax over each row of S / τ) and the b→a loss (softmax over each
    column of S / τ), averaged. Symmetric: clip_loss(z_a, z_b) = clip_loss(z_b, z_a).

    Args:
        z_a: shape [N, d].
        z_b: shape [N, d]; z_b[i] is z_a[i]'s positive.
        temperature: τ > 0, a python float.

    Returns:
        a 0-d tensor (shape []), same dtype and device as z_a.
    """
    # BEGIN SOLUTION
    logits = similarity_matrix(z_a, z_b) / temperature
    n = logits.shape[0]
    idx = torch.arange(n, device=logits.device)
    a_to_b = -torch.log_softmax(logits, dim=1)[idx, idx].mean()
    b_to_a = -torch.log_softmax(logits, dim=0)[idx, idx].mean()
    return (a_to_b + b_to_a) / 2
    # END SOLUTION
