"""From root visit counts to actions and policy targets (MuZero, Schrittwieser et al. 2020, Appendix D)."""

from __future__ import annotations

import numpy as np


def visit_policy(visit_counts: np.ndarray) -> np.ndarray:
    """Normalised visit counts [B, A] -> [B, A] float32 (the policy target); all-zero rows stay 0."""
    counts = visit_counts.astype(np.float64)
    total = counts.sum(axis=1, keepdims=True)
    return (counts / np.maximum(total, 1.0)).astype(np.float32)


def temperature_weights(visit_counts: np.ndarray, temperature: float) -> np.ndarray:
    """``visits ** (1 / temperature)`` [B, A] float64, each row scaled by its largest count first
    so that small temperatures do not overflow: proportional to the probability with which
    ``select_actions`` samples each action. ``temperature`` > 0; every row needs a visit."""
    counts = np.asarray(visit_counts, dtype=np.float64)
    return (counts / counts.max(axis=1, keepdims=True)) ** (1.0 / temperature)


def select_actions(
    visit_counts: np.ndarray, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """One action per root from visit counts [B, A] -> [B] int64.

    ``temperature`` > 0 samples proportionally to ``visits ** (1 / temperature)``; 0 takes the
    most visited action, ties broken uniformly at random. Every row needs a visit.
    """
    counts = np.asarray(visit_counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"visit_counts must be [B, A], got shape {counts.shape}")
    if (counts.sum(axis=1) <= 0).any():
        raise ValueError("every row of visit_counts needs at least one visit")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0.0:
        best = counts == counts.max(axis=1, keepdims=True)
        # Uniform keys restricted to the maxima: the argmax is a uniform pick among them.
        keys = np.where(best, rng.random(counts.shape), -1.0)
        return keys.argmax(axis=1).astype(np.int64)
    weights = temperature_weights(counts, temperature)
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random((counts.shape[0], 1)) * cumulative[:, -1:]
    actions = (cumulative <= draws).sum(axis=1)
    # Rounding can put a draw at the very top; it belongs to the last action with weight.
    last = counts.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    return np.minimum(actions, last).astype(np.int64)
