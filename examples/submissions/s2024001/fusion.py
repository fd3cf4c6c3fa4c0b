"""Multimodal fusion (midterm problem 3): fuse a feature of modality A with one of modality B.

Shapes: B is the batch size, dA and dB the feature sizes of the two modalities,
d a shared feature size, dout an output size. Every function works for B = 1,
for float32 and float64, and on any device: outputs have the inputs' dtype and
device, and no new tensor is created on the CPU when the inputs live elsewhere.
No input is modified in place.
"""

import torch


def additive_multiplicative(x_a: torch.Tensor, x_b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Univariate fusion with additive and multiplicative terms.

    z = w[0] + w[1]·x_a + w[2]·x_b + w[3]·(x_a·x_b), elementwise over the batch.

    Args:
        x_a: shape [B], one scalar feature of modality A per example.
        x_b: shape [B], one scalar feature of modality B per example.
        w: shape [4], the weights (w[0] the constant, w[3] the multiplicative term).

    Returns:
        z: shape [B], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    return w[0] + w[1] * x_a + w[2] * x_b + w[3] * (x_a * x_b)
    # END SOLUTION


def tensor_fusion(x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
    """Tensor fusion: the flattened outer product of [x_a, 1] and [x_b, 1].

    The constant 1 is appended *after* each modality's features, so the unimodal
    terms survive in the product: [x_a, 1] ⊗ [x_b, 1] holds x_a ⊗ x_b, x_a, x_b and 1.
    Flattening is row-major with x_a's index major: output column
    i·(dB+1) + j holds [x_a, 1][i] · [x_b, 1][j].

    Args:
        x_a: shape [B, dA].
        x_b: shape [B, dB].

    Returns:
        shape [B, (dA+1)·(dB+1)], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    return (za[:, :, None] * zb[:, None, :]).reshape(x_a.shape[0], -1)
    # END SOLUTION


def tensor_fusion_linear(
    x_a: torch.Tensor, x_b: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """A linear layer applied to the tensor-fusion vector, without materialising it.

    out[n, o] = Σ_i Σ_j [x_a, 1][n, i] · W[o, i, j] · [x_b, 1][n, j] + b[o],
    i.e. tensor_fusion(x_a, x_b) @ W.reshape(dout, -1).T + b, but computed by
    contracting one modality at a time so that the [B, (dA+1)(dB+1)] outer
    product never exists in memory (peak memory O(B·dout·(dB+1)), not
    O(B·dA·dB)).

    Args:
        x_a: shape [B, dA].
        x_b: shape [B, dB].
        W: shape [dout, dA+1, dB+1]; W[o, dA, dB] multiplies the constant 1·1.
        b: shape [dout], the bias.

    Returns:
        shape [B, dout], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    partial = torch.einsum("ni,oij->noj", za, W)  # [B, dout, dB+1]
    return torch.einsum("noj,nj->no", partial, zb) + b
    # END SOLUTION


def gated_fusion(
    x_a: torch.Tensor, x_b: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """Gated fusion: z = g_a·x_a + g_b·x_b with one gate per modality.

    The gate logits are a linear map of the concatenation [x_a; x_b]:
    logits = [x_a; x_b] @ W.T + b, shape [B, 2]; the gates are the softmax of
    the logits over the two modalities (dim=-1), so g_a + g_b = 1 for every
    example. g_a = gates[:, 0] weighs x_a and g_b = gates[:, 1] weighs x_b; each
    gate is one weight for the whole modality, broadcast over its d features.

    Args:
        x_a: shape [B, d].
        x_b: shape [B, d].
        W: shape [2, 2d]; row 0 gives modality A's logit, row 1 modality B's.
        b: shape [2].

    Returns:
        z: shape [B, d], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    logits = torch.cat([x_a, x_b], dim=1) @ W.T + b
    gates = torch.softmax(logits, dim=-1)
    return gates[:, 0:1] * x_a + gates[:, 1:2] * x_b
    # END SOLUTION
