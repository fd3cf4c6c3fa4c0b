"""Multimodal fusion (midterm problem 3): fuse a feature of modality A with one of modality B.

Shapes: B is the batch size, dA and dB the feature sizes of the two modalities,
d a shared feature size, dout an output size. Every function works for B = 1,
for float32 and float64, and on any device: outputs have the inputs' dtype and
device, and no new tensor is created on the CPU when the inputs live elsewhere.
No input is modified in place.
"""

import torch


def additive_multiplicative(x_a: torch.Tensor, x_b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Univariate fusion with additive and multiplicative terms, one example at a time.

    The lecture's four-term regression of a scalar pair: a constant, one linear
    term per modality and the multiplicative interaction, weighted by w in that
    order, computed elementwise over the batch.
    Differentiable in: x_a, x_b, w.

    Args:
        x_a: shape [B], one scalar feature of modality A per example.
        x_b: shape [B], one scalar feature of modality B per example.
        w: shape [4]: w[0] the constant, w[1] weighs x_a, w[2] weighs x_b and
            w[3] the interaction x_a·x_b.

    Returns:
        z: shape [B], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    # z = w0 + w1·x_a + w2·x_b + w3·(x_a·x_b), elementwise.
    return w[0] + w[1] * x_a + w[2] * x_b + w[3] * (x_a * x_b)
    # END SOLUTION


def tensor_fusion(x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
    """Tensor fusion: the flattened outer product of [x_a, 1] and [x_b, 1], per example.

    The constant 1 is appended *after* each modality's features, so the
    unimodal terms and the constant survive in the product. Flattening is
    row-major with x_a's index major: output column i·(dB+1) + j holds
    [x_a, 1][i] · [x_b, 1][j].
    Differentiable in: x_a, x_b.

    Args:
        x_a: shape [B, dA].
        x_b: shape [B, dB].

    Returns:
        shape [B, (dA+1)·(dB+1)], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    # Pad each modality with a trailing 1 (on the inputs' device), then a batched outer
    # product [B, dA+1, dB+1] flattened row-major: it holds x_a ⊗ x_b, x_a, x_b and 1.
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    return (za[:, :, None] * zb[:, None, :]).reshape(x_a.shape[0], -1)
    # END SOLUTION


def tensor_fusion_linear(
    x_a: torch.Tensor, x_b: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """A linear layer applied to the tensor-fusion vector, without materialising it.

    The output equals tensor_fusion(x_a, x_b) @ W.reshape(dout, -1).T + b
    (W indexed like the fusion vector: W[o, i, j] weighs [x_a, 1][i]·[x_b, 1][j]),
    but the [B, (dA+1)(dB+1)] fusion vector must never exist in memory: the
    grader runs large dA, dB under a memory limit (peak memory of order
    B·dout·(dB+1) passes, B·dA·dB does not).
    Differentiable in: x_a, x_b, W, b.

    Args:
        x_a: shape [B, dA].
        x_b: shape [B, dB].
        W: shape [dout, dA+1, dB+1]; W[o, dA, dB] multiplies the constant 1·1.
        b: shape [dout], the bias.

    Returns:
        shape [B, dout], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    # out[n, o] = Σ_i Σ_j [x_a, 1][n, i] · W[o, i, j] · [x_b, 1][n, j] + b[o], contracted one
    # modality at a time: first over i (→ [B, dout, dB+1]), then over j.
    za = torch.cat([x_a, x_a.new_ones(x_a.shape[0], 1)], dim=1)
    zb = torch.cat([x_b, x_b.new_ones(x_b.shape[0], 1)], dim=1)
    partial = torch.einsum("ni,oij->noj", za, W)  # [B, dout, dB+1]
    return torch.einsum("noj,nj->no", partial, zb) + b
    # END SOLUTION


def gated_fusion(
    x_a: torch.Tensor, x_b: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """Gated fusion: a convex combination of the two modalities with learned gates.

    Each example gets two gate logits from a linear layer (nn.Linear's layout:
    weight W, bias b) applied to the concatenation [x_a; x_b] (x_a's features
    first); the gates are a softmax over the two modalities, so they sum to 1
    for every example. Gate 0 (from W's row 0) weighs x_a and gate 1 weighs x_b;
    each gate is one weight for the whole modality, shared by its d features.
    Differentiable in: x_a, x_b, W, b.

    Args:
        x_a: shape [B, d].
        x_b: shape [B, d].
        W: shape [2, 2d]; row 0 gives modality A's logit, row 1 modality B's.
        b: shape [2].

    Returns:
        z: shape [B, d], same dtype and device as x_a.
    """
    # BEGIN SOLUTION
    # logits = [x_a; x_b] @ W.T + b ([B, 2]), gates = softmax over dim -1,
    # z = g_a·x_a + g_b·x_b with each gate broadcast over the d features.
    logits = torch.cat([x_a, x_b], dim=1) @ W.T + b
    gates = torch.softmax(logits, dim=-1)
    return gates[:, 0:1] * x_a + gates[:, 1:2] * x_b
    # END SOLUTION
