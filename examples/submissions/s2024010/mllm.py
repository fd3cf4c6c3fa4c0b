"""Multimodal LLMs (midterm problem 4): feed visual tokens to a language model.

Shapes: B batch, T visual tokens, L text tokens, dv the vision feature size,
dl (or d) the language model's hidden size. Every function works for B = 1,
for float32 and float64, and on any device: outputs have the inputs' dtype and
device, and no new tensor is created on the CPU when the inputs live elsewhere.
No input is modified in place.
"""

# BEGIN SOLUTION
import math
# END SOLUTION

import torch


def project_visual_tokens(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MiniGPT-4's projection of frozen visual tokens into the LLM's embedding space.

    A linear layer with nn.Linear's convention applied to every token:
    out = v @ W.T + b, so out[n, t] = W @ v[n, t] + b.

    Args:
        v: shape [B, T, dv], visual tokens.
        W: shape [dl, dv] (out_features × in_features, like nn.Linear.weight).
        b: shape [dl], the bias.

    Returns:
        shape [B, T, dl], same dtype and device as v.
    """
    # BEGIN SOLUTION
    return v @ W.T + b
    # END SOLUTION


def gated_cross_attention(
    x: torch.Tensor,
    v: torch.Tensor,
    Wq: torch.Tensor,
    Wk: torch.Tensor,
    Wv: torch.Tensor,
    Wo: torch.Tensor,
    alpha: torch.Tensor,
) -> torch.Tensor:
    """Flamingo's tanh-gated cross-attention from text tokens to visual tokens (one head).

    Q = x @ Wq, K = v @ Wk, V = v @ Wv (right-multiplication: the weights are
    [d_in, d_out], no transpose), A = softmax(Q Kᵀ / √d) with the softmax over
    the T visual tokens (dim=-1) and d = x.shape[-1], and
    out = x + tanh(alpha) · (A V) @ Wo.
    The residual gate tanh(alpha) makes alpha = 0 return x unchanged, so a
    frozen language model is untouched at initialisation.

    Args:
        x: shape [B, L, d], text hidden states (queries).
        v: shape [B, T, d], visual tokens (keys and values).
        Wq, Wk, Wv, Wo: shape [d, d] each.
        alpha: a 0-d tensor (shape []), the gate before tanh.

    Returns:
        shape [B, L, d], same dtype and device as x.
    """
    # BEGIN SOLUTION
    d = x.shape[-1]
    q = x @ Wq
    k = v @ Wk
    values = v @ Wv
    attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
    return x + torch.tanh(alpha) * ((attn @ values) @ Wo)
    # END SOLUTION
