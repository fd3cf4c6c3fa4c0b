"""Multimodal LLMs (midterm problem 4): feed visual tokens to a language model.

Shapes: B batch, T visual tokens, L text tokens, dv the vision feature size,
dl (or d) the language model's hidden size. Every function works for B = 1,
for float32 and float64, and on any device: outputs have the inputs' dtype and
device, and no new tensor is created on the CPU when the inputs live elsewhere.
No input is modified in place.
"""

import torch


def project_visual_tokens(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MiniGPT-4's projection of frozen visual tokens into the LLM's embedding space.

    One linear layer, with nn.Linear's convention for its weight and bias,
    applied to every visual token of every example independently.
    Differentiable in: v, W, b.

    Args:
        v: shape [B, T, dv], visual tokens.
        W: shape [dl, dv] (out_features × in_features, like nn.Linear.weight).
        b: shape [dl], the bias.

    Returns:
        shape [B, T, dl], same dtype and device as v.
    """
    raise NotImplementedError("project_visual_tokens")


def gated_cross_attention(
    x: torch.Tensor,
    v: torch.Tensor,
    Wq: torch.Tensor,
    Wk: torch.Tensor,
    Wv: torch.Tensor,
    Wo: torch.Tensor,
    alpha: torch.Tensor,
) -> torch.Tensor:
    """Flamingo's tanh-gated cross-attention, one head: text tokens attend to visual tokens.

    Conventions: the text states x give the queries and the visual tokens v
    the keys and values; every projection right-multiplies (a token row times
    a weight [d_in, d_out], no transpose; Wq, Wk, Wv project the inputs and Wo
    the attended values); the scores are scaled dot products (scale 1/√d with
    d = x.shape[-1]) normalised with a softmax over the T visual tokens, so each
    text token's attention weights sum to 1; the attended output is added to x
    through the residual gate tanh(alpha), so alpha = 0 returns x unchanged (a
    frozen language model is untouched at initialisation). No masking, no bias.
    Differentiable in: x, v, Wq, Wk, Wv, Wo, alpha.

    Args:
        x: shape [B, L, d], text hidden states (queries).
        v: shape [B, T, d], visual tokens (keys and values).
        Wq, Wk, Wv, Wo: shape [d, d] each.
        alpha: a 0-d tensor (shape []), the gate before tanh.

    Returns:
        shape [B, L, d], same dtype and device as x.
    """
    raise NotImplementedError("gated_cross_attention")
