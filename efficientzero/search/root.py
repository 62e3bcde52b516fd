"""Root prior: softmax over legal actions and Dirichlet exploration noise (AlphaZero / MuZero).

``prior = (1 - f) * softmax(logits | legal) + f * Dirichlet(alpha | legal)``: illegal actions
get prior 0 (and the search never selects them at the root); the noise lives on the legal
actions only. Everything here is numpy on the host: the root is prepared once per search.
"""

from __future__ import annotations

import numpy as np

from efficientzero.types import RootOutput

_MAX_SEED = np.iinfo(np.uint64).max


def host_root(root: RootOutput, legal_actions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(prior logits [B, A] float64 on the host, validated legal mask [B, A]) of ``root``."""
    logits = root.prior_logits.detach().float().cpu().numpy().astype(np.float64)
    if logits.ndim != 2:
        raise ValueError(f"prior_logits must be [B, A], got shape {tuple(logits.shape)}")
    return logits, legal_or_all(legal_actions, *logits.shape)


def tie_break_seeds(rng: np.random.Generator, batch: int) -> np.ndarray:
    """[B] uint64 seeds of the kernels' random tie-breaks, one per root."""
    return np.asarray(rng.integers(0, _MAX_SEED, size=batch, dtype=np.uint64, endpoint=True))


def legal_or_all(legal_actions: np.ndarray | None, batch: int, num_actions: int) -> np.ndarray:
    """Validated ``[B, A]`` bool legal-action mask (all legal when ``None``)."""
    if legal_actions is None:
        return np.ones((batch, num_actions), np.bool_)
    legal = np.asarray(legal_actions, dtype=np.bool_)
    if legal.shape != (batch, num_actions):
        raise ValueError(f"legal_actions has shape {legal.shape}, expected {(batch, num_actions)}")
    if not legal.any(axis=1).all():
        raise ValueError("every root needs at least one legal action")
    return legal


def masked_softmax(prior_logits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Softmax of ``prior_logits`` [B, A] over the legal actions ``legal`` [B, A] -> [B, A] float32."""
    logits = np.where(legal, prior_logits.astype(np.float64), -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def dirichlet_noise(rng: np.random.Generator, legal: np.ndarray, alpha: float) -> np.ndarray:
    """One Dirichlet(alpha) sample per root over its legal actions -> [B, A] float64 (0 if illegal).

    Normalised Gamma(alpha) draws, which is a Dirichlet sample and vectorises over roots with
    different numbers of legal actions.
    """
    gamma = np.where(legal, rng.standard_gamma(alpha, size=legal.shape), 0.0)
    total = gamma.sum(axis=1, keepdims=True)
    # A tiny alpha can underflow every draw of a row to 0; fall back to uniform there.
    uniform = legal / legal.sum(axis=1, keepdims=True)
    return np.where(total > 0, gamma / np.where(total > 0, total, 1.0), uniform)


def root_prior(
    prior_logits: np.ndarray,
    legal: np.ndarray,
    noise: np.ndarray | None = None,
    exploration_fraction: float = 0.0,
) -> np.ndarray:
    """The prior the search uses at the root -> [B, A] float32.

    ``prior_logits`` [B, A]; ``legal`` [B, A] bool; ``noise`` [B, A] (e.g. from
    :func:`dirichlet_noise`, 0 on illegal actions) mixed in with weight ``exploration_fraction``.
    """
    prior = masked_softmax(prior_logits, legal)
    if noise is None or exploration_fraction == 0.0:
        return prior
    mixed = (1.0 - exploration_fraction) * prior + exploration_fraction * np.where(
        legal, noise, 0.0
    )
    return mixed.astype(np.float32)
