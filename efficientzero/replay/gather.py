"""Gather the raw data of sampled positions from their blocks (host side, numpy).

For a position t of a block with n steps: the frames of the stacked observations t .. t+K, the
actions, the rewards t .. t+K+td-1, the stored policies and root values, and for each unroll
step k the frames of its bootstrap observation t+k+l (l = the value horizon), cut short at a
known episode end. Past the end actions are random and rewards 0 (MuZero, Schrittwieser et al. 2020, Appendix G).
"""

from __future__ import annotations

import numpy as np

from efficientzero.types import SampledPositions, TrajectoryBlock

UNKNOWN_END = 1 << 40
"""steps_to_end of a position whose episode end lies beyond its block's padding."""


def _window(array: np.ndarray, start: int, length: int) -> np.ndarray:
    """``array[start : start + length]``, repeating the last row past the end."""
    index = np.minimum(np.arange(start, start + length), array.shape[0] - 1)
    return array[index]


def _bootstrap(
    t: int, n: int, horizon: int, unroll_steps: int, episode_end: bool, terminated: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For states s = t..t+K of a block with n steps: (steps to the bootstrap observation,
    whether a bootstrap value is needed, the bootstrap observation's step), each [K+1].

    The horizon is cut at a known episode end; after a termination nothing is bootstrapped
    (the observation index then points at the final frame, unused), after a truncation the
    final observation is.
    """
    s = t + np.arange(unroll_steps + 1)
    if not episode_end:
        return np.full_like(s, horizon), np.ones(s.shape, dtype=bool), s + horizon
    steps = np.clip(n - s, 0, horizon)
    needed = (s <= n) & ~(terminated & (s + horizon >= n))
    return steps, needed, np.where(needed, s + steps, n)


def gather_positions(
    blocks: list[TrajectoryBlock],
    offsets: np.ndarray,
    ids: np.ndarray,
    weights: np.ndarray,
    horizons: np.ndarray,
    *,
    frame_stack: int,
    unroll_steps: int,
    td_steps: int,
    rng: np.random.Generator,
) -> SampledPositions:
    B, K, S = len(blocks), unroll_steps, frame_stack
    first = blocks[0]
    frame_shape = first.frames.shape[1:]
    num_actions = first.policies.shape[1]
    frames = np.empty((B, S + K, *frame_shape), dtype=first.frames.dtype)
    boot_frames = np.empty((B, K + 1, S, *frame_shape), dtype=first.frames.dtype)
    if first.actions.ndim == 1:
        actions = rng.integers(num_actions, size=(B, K))
    else:  # continuous: uniform action vectors in [-1, 1]
        dims = first.actions.shape[1]
        actions = rng.uniform(-1.0, 1.0, (B, K, dims)).astype(np.float32)
    rewards = np.zeros((B, K + td_steps), dtype=np.float32)
    policies = np.zeros((B, K + 1, num_actions), dtype=np.float32)
    steps_to_end = np.full(B, UNKNOWN_END, dtype=np.int64)
    terminated = np.zeros(B, dtype=bool)
    boot_steps = np.zeros((B, K + 1), dtype=np.int64)
    boot_mask = np.zeros((B, K + 1), dtype=bool)

    for b, block in enumerate(blocks):
        t = int(offsets[b])
        n = block.length
        frames[b] = _window(block.frames, t, S + K)
        valid = min(K, n - t)
        actions[b, :valid] = block.actions[t : t + valid]
        valid_r = min(K + td_steps, n - t)
        rewards[b, :valid_r] = block.rewards[t : t + valid_r]
        valid_p = min(K + 1, n - t)
        policies[b, :valid_p] = block.policies[t : t + valid_p]
        if block.episode_end:
            steps_to_end[b] = n - t
            terminated[b] = block.terminated
        steps, needed, obs = _bootstrap(
            t, n, int(horizons[b]), K, block.episode_end, block.terminated
        )
        boot_steps[b] = steps
        boot_mask[b] = needed
        index = np.minimum(obs[:, None] + np.arange(S)[None, :], block.frames.shape[0] - 1)
        boot_frames[b] = block.frames[index]

    return SampledPositions(
        indices=np.asarray(ids, dtype=np.int64),
        weights=np.asarray(weights, dtype=np.float32),
        frames=frames,
        actions=actions if actions.dtype == np.float32 else actions.astype(np.int64),
        rewards=rewards,
        policies=policies,
        steps_to_end=steps_to_end,
        terminated=terminated,
        bootstrap_frames=boot_frames,
        bootstrap_steps=boot_steps,
        bootstrap_mask=boot_mask,
    )
