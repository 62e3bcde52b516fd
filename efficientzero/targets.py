"""Training targets (pure functions of arrays; Ye et al. 2021, §4.2–4.3 and Appendix A).

For a sampled position t and unroll steps k = 0..K:
- value prefix (k = 1..K): the undiscounted running sum of rewards since the last LSTM horizon
  reset, with resets every ``lstm_horizon_len`` unroll steps, aligned with the search;
- value: z = sum_{i<l} gamma^i u_{t+k+i} + gamma^l v(s_{t+k+l}), the horizon l cut short at a
  known episode end (no bootstrap after a termination, a bootstrap from the final observation
  after a truncation);
- masks: ``mask`` (policy, and by default consistency) where the state t+k has an action;
  ``value_mask`` (value and value prefix) also past a termination (absorbing state, value 0),
  but not past a truncation (unknown); ``observation_mask`` where the observation t+k exists,
  the final one included (consistency with ``consistency_at_episode_end``, as the reference).
"""

from __future__ import annotations

import numpy as np


def value_prefix_targets(
    rewards: np.ndarray, lstm_horizon_len: int, use_value_prefix: bool = True
) -> np.ndarray:
    """``rewards`` [B, K] (u_t .. u_{t+K-1}) -> targets [B, K] of unroll steps 1..K.

    Step k predicts the sum of rewards of steps ``reset(k)+1 .. k`` where ``reset(k)`` is the
    last multiple of ``lstm_horizon_len`` below k; without the value prefix, the reward itself.
    """
    if not use_value_prefix:
        return rewards.astype(np.float32, copy=True)
    out = np.empty_like(rewards, dtype=np.float32)
    running = np.zeros(rewards.shape[0], dtype=np.float32)
    for k in range(rewards.shape[1]):
        if k % lstm_horizon_len == 0:
            running[:] = 0.0
        running += rewards[:, k]
        out[:, k] = running
    return out


def value_targets(
    rewards: np.ndarray, bootstrap_values: np.ndarray, bootstrap_steps: np.ndarray, discount: float
) -> np.ndarray:
    """n-step value targets ``[B, K+1]``.

    ``rewards`` [B, K + td] (0 past the episode end), ``bootstrap_values`` [B, K+1] (0 where no
    bootstrap is needed), ``bootstrap_steps`` [B, K+1] the per-step horizon (<= td).
    """
    batch, num_steps = bootstrap_values.shape
    out = np.zeros((batch, num_steps), dtype=np.float64)
    max_steps = int(bootstrap_steps.max(initial=0))
    for i in range(max_steps):
        take = bootstrap_steps > i
        u = rewards[:, i : i + num_steps]
        out += np.where(take, discount**i * u, 0.0)
    out += discount ** bootstrap_steps.astype(np.float64) * bootstrap_values
    return out.astype(np.float32)


def state_masks(
    steps_to_end: np.ndarray, terminated: np.ndarray, unroll_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, value_mask, observation_mask), each [B, K+1] float32 (see the module docstring)."""
    k = np.arange(unroll_steps + 1)[None, :]
    steps = steps_to_end[:, None]
    mask = k < steps
    observation_mask = k <= steps
    value_mask = observation_mask | terminated[:, None]
    return (
        mask.astype(np.float32),
        value_mask.astype(np.float32),
        observation_mask.astype(np.float32),
    )


def value_horizon(age: np.ndarray, td_steps: int, age_unit: float) -> np.ndarray:
    """Off-policy correction (Ye et al. 2021, §4.3): l = clip(td - floor(age / age_unit), 1, td),
    the reference code's rule for the paper's shrinking horizon."""
    return np.clip(td_steps - np.floor(np.asarray(age) / age_unit).astype(np.int64), 1, td_steps)
