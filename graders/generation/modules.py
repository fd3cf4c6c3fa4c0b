"""The generation task's velocity networks: trusted `nn.Module`s the sandbox builds.

`euler_sample` takes the velocity field as an `nn.Module`. Modules cannot
cross the sandbox boundary (no pickle), so the checks send a
`mmexam.sandbox.ModuleSpec` (a class name from `MODULES` plus its tensors)
and the sandbox builds the module from this file, which the grader hands it
as a trusted module file (`Sandbox(modules=...)`).

This file is loaded inside the sandbox, where the mmexam package is not
visible: it must import nothing but torch and the standard library.
"""

from __future__ import annotations

import torch
from torch import nn


def _time_column(t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`t` (a float, a 0-d tensor or a tensor of shape [B]) as a [B, 1]-broadcastable tensor."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        return t
    return t.reshape(t.shape[0], *([1] * (x.dim() - 1)))


class LinearVelocity(nn.Module):
    """v(x, t) = x @ A.T + t · c + b — a linear field, on which Euler's error is known.

    State: A [d, d], c [d], b [d]. `t` is a float, a 0-d tensor or a tensor of shape [B].
    """

    def __init__(self, A: torch.Tensor, c: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        if A.dim() != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"LinearVelocity: A must be square [d, d], got {tuple(A.shape)}")
        d = A.shape[0]
        if tuple(c.shape) != (d,) or tuple(b.shape) != (d,):
            raise ValueError(f"LinearVelocity: c and b must have shape [{d}]")
        self.register_buffer("A", A)
        self.register_buffer("c", c)
        self.register_buffer("b", b)

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        return x @ self.A.T + _time_column(t, x) * self.c + self.b


class MLPVelocity(nn.Module):
    """v(x, t) = W2 · tanh(W1 · [x, t] + b1) + b2 — a small non-linear field with a time input.

    State: W1 [h, d+1], b1 [h], W2 [d, h], b2 [d]. `t` is a float, a 0-d tensor
    or a tensor of shape [B]; it is appended to x's features as the last input.
    """

    def __init__(
        self, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
    ) -> None:
        super().__init__()
        if W1.dim() != 2 or W2.dim() != 2 or W2.shape[1] != W1.shape[0]:
            raise ValueError("MLPVelocity: W1 must be [h, d+1] and W2 [d, h]")
        if W1.shape[1] != W2.shape[0] + 1:
            raise ValueError("MLPVelocity: W1 must have d+1 columns where d = W2.shape[0]")
        self.register_buffer("W1", W1)
        self.register_buffer("b1", b1)
        self.register_buffer("W2", W2)
        self.register_buffer("b2", b2)

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        time = _time_column(t, x).expand(*x.shape[:-1], 1)
        hidden = torch.tanh(torch.cat([x, time], dim=-1) @ self.W1.T + self.b1)
        return hidden @ self.W2.T + self.b2


MODULES: dict[str, type[nn.Module]] = {
    "LinearVelocity": LinearVelocity,
    "MLPVelocity": MLPVelocity,
}
