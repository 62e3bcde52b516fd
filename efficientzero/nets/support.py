"""Categorical supports for scalars (values, value prefixes, rewards).

MuZero/EfficientZero learn scalars as distributions over the integers ``[-S, S]`` after the
invertible transform ``h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x`` (eps = 0.001; note that
``eps x`` sits outside the sign factor). A scalar becomes a two-hot vector over the support;
logits become a scalar by the softmax expectation followed by ``h^-1``.
"""

from __future__ import annotations

import torch

EPS = 0.001


def h(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """The value transform h(x) = sign(x)(sqrt(|x|+1) - 1) + eps x."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1.0) - 1.0) + eps * x


def h_inv(y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Exact inverse of :func:`h` (solves the quadratic in sqrt(|x| + 1))."""
    root = (torch.sqrt(1.0 + 4.0 * eps * (torch.abs(y) + 1.0 + eps)) - 1.0) / (2.0 * eps)
    return torch.sign(y) * (root * root - 1.0)


def scalar_to_support(x: torch.Tensor, support_size: int) -> torch.Tensor:
    """Two-hot encoding of ``h(x)``: ``[...] -> [..., 2 * support_size + 1]``.

    Values outside the support are clipped to its ends.
    """
    y = h(x.float()).clamp(-support_size, support_size)
    low = torch.floor(y)
    upper_weight = y - low
    low_index = (low + support_size).long()
    high_index = (low_index + 1).clamp(max=2 * support_size)
    out = torch.zeros(*x.shape, 2 * support_size + 1, device=x.device, dtype=torch.float32)
    out.scatter_add_(-1, low_index.unsqueeze(-1), (1.0 - upper_weight).unsqueeze(-1))
    out.scatter_add_(-1, high_index.unsqueeze(-1), upper_weight.unsqueeze(-1))
    return out


def support_to_scalar(logits: torch.Tensor, support_size: int) -> torch.Tensor:
    """Softmax expectation over the support followed by ``h^-1``: ``[..., 2S + 1] -> [...]``."""
    probs = torch.softmax(logits.float(), dim=-1)
    support = torch.arange(
        -support_size, support_size + 1, device=logits.device, dtype=torch.float32
    )
    return h_inv((probs * support).sum(-1))
