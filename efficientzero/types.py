"""Typed containers for every edge of the data flow.

Shape letters: B batch (roots or sampled positions), A actions, K unroll steps, S frame stack,
N tree nodes, T time steps of a block, F the shape of one frame (``(D,)`` for vector
observations, ``(C, H, W)`` uint8 for images).

Flow: the self-play actor writes ``TrajectoryBlock``s to replay; replay samples positions and
gathers ``SampledPositions`` (numpy); ``targets.make_batch`` reanalyses them into a ``Batch``
(torch) for the learner; the learner returns new priorities for the sampled positions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

Embedding = tuple[torch.Tensor, ...]
"""A search node's model state: a tuple of tensors, each ``[B, ...]``, on the model's device.

For EfficientZero it is (latent, lstm_h, lstm_c, value_prefix, depth); the tree never looks
inside, it only stores rows of these tensors by node index.
"""


# ---------------------------------------------------------------------------------- search


@dataclass
class RootOutput:
    """The model's output for B root observations."""

    prior_logits: torch.Tensor
    """[B, A] policy logits."""
    value: torch.Tensor
    """[B] scalar value estimate."""
    embedding: Embedding
    """Model state of each root."""
    actions: torch.Tensor | None = None
    """Continuous actions: ``[B, A, D]`` the action vector of each root child (the samples of
    the sampled search, ``nets/sampled.py``); None for discrete actions (child a is action a)."""


@dataclass
class RecurrentOutput:
    """The model's output for one step from B parent nodes."""

    reward: torch.Tensor
    """[B] reward of the edge parent -> child (for EfficientZero: a value-prefix difference)."""
    value: torch.Tensor
    """[B] scalar value of the child."""
    prior_logits: torch.Tensor
    """[B, A] policy logits of the child."""
    embedding: Embedding
    """Model state of each child."""


class SearchModel(Protocol):
    """What the search needs from a model: one batched step from parent embeddings."""

    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        """``action`` is ``[B]`` int64 child indices on the model's device.

        The search may keep the returned embedding tensors as its nodes until it ends: a model
        returns tensors it will not write again during the search (new tensors, as a network's
        outputs are; handing back one of the ``embedding`` tensors it was given is allowed).
        """
        ...


@dataclass
class SearchOutput:
    """Result of one batched search."""

    visit_counts: np.ndarray
    """[B, A] int32 root child visit counts (the policy target, once normalised)."""
    root_values: np.ndarray
    """[B] float32 mean of the values backed up through each root."""
    root_prior: np.ndarray
    """[B, A] float32 root prior used by the search (after masking and noise)."""
    q_values: np.ndarray
    """[B, A] float32 root Q(s, a) = r + discount * V(child) (0 for unvisited children)."""


# ---------------------------------------------------------------------------------- replay


@dataclass
class TrajectoryBlock:
    """A piece of one episode: ``n`` steps, of which the first ``num_positions`` may be sampled.

    The last ``n - num_positions`` steps (at most ``unroll_steps + td_steps``) are a copy of the
    first steps of the next block, so targets near the cut are right. ``frames`` holds each
    frame once: ``S - 1`` frames before the block start (for frame stacking; copies of the first
    frame at an episode start), then the frame of each step, then the frame after the last step.
    The stacked observation of step ``t`` is ``frames[t : t + S]``.
    """

    frames: np.ndarray
    """[S - 1 + n + 1, *F] uint8 (images) or float32 (vectors)."""
    actions: np.ndarray
    """[n] int64 actions taken ([n, D] float32 action vectors for continuous actions)."""
    rewards: np.ndarray
    """[n] float32 rewards (sign-clipped when the config says so)."""
    policies: np.ndarray
    """[n, A] float32 normalised visit counts (or improved policy) at acting time; for continuous
    actions [n, K * (1 + D)] records of K weights and the K sampled actions
    (``nets.sampled.pack_policy``)."""
    num_positions: int
    """Positions that may be sampled (the block proper); the rest is padding."""
    episode_end: bool
    """True when the episode ends after the last step (``frames[-1]`` is its final observation)."""
    terminated: bool
    """With ``episode_end``: ended by termination (values past it are 0) rather than truncation."""

    @property
    def length(self) -> int:
        """Steps ``n`` with actions, padding included."""
        return int(self.actions.shape[0])

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.frames, self.actions, self.rewards, self.policies)))


@dataclass
class SampledPositions:
    """Raw data gathered from replay for B sampled positions t (numpy, host memory)."""

    indices: np.ndarray
    """[B] int64 replay slots (to write new priorities back)."""
    weights: np.ndarray
    """[B] float32 importance-sampling weights (max-normalised)."""
    frames: np.ndarray
    """[B, S + K, *F] frames for the stacked observations of steps t .. t+K."""
    actions: np.ndarray
    """[B, K] int64 actions a_t .. a_{t+K-1} (random past the episode end); [B, K, D] float32 for
    continuous actions."""
    rewards: np.ndarray
    """[B, K + td_steps] float32 rewards u_t .. (0 past the episode end)."""
    policies: np.ndarray
    """[B, K + 1, A] float32 stored self-play policies or records (0 where no state exists)."""
    steps_to_end: np.ndarray
    """[B] int64 steps from t to the episode end (a large number when the end is not known)."""
    terminated: np.ndarray
    """[B] bool: the known episode end is a termination (else a truncation)."""
    bootstrap_frames: np.ndarray
    """[B, K + 1, S, *F] frames of the bootstrap observation of each unroll step."""
    bootstrap_steps: np.ndarray
    """[B, K + 1] int64 steps from t+k to its bootstrap observation (<= l; shorter at a truncation)."""
    bootstrap_mask: np.ndarray
    """[B, K + 1] bool: a bootstrap value is needed (False past a termination)."""


@dataclass
class Batch:
    """One learner batch (torch, on the learner's device)."""

    frames: torch.Tensor
    """[B, S + K, *F] frames; the stack of step k is ``frames[:, k : k + S]``."""
    actions: torch.Tensor
    """[B, K] int64, or [B, K, D] float32 for continuous actions."""
    target_value_prefixes: torch.Tensor
    """[B, K] float32 value-prefix (or per-step reward) targets of unroll steps 1..K."""
    target_values: torch.Tensor
    """[B, K + 1] float32 value targets of unroll steps 0..K."""
    target_policies: torch.Tensor
    """[B, K + 1, A] float32 policy targets (policy records for continuous actions)."""
    mask: torch.Tensor
    """[B, K + 1] float32: 1 where the state t+k has an action (policy and consistency losses)."""
    value_mask: torch.Tensor
    """[B, K + 1] float32: 1 where the value (and, for k >= 1, value-prefix) target is known."""
    consistency_mask: torch.Tensor
    """[B, K + 1] float32: 1 where the consistency loss applies at step k (k >= 1 is used)."""
    weights: torch.Tensor
    """[B] float32 importance weights."""
    indices: np.ndarray
    """[B] int64 replay slots of the positions."""

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], device: torch.device) -> Batch:
        """A batch from numpy arrays of its fields (``indices`` stays numpy), on ``device``."""
        values: dict[str, Any] = {}
        for name, value in arrays.items():
            values[name] = (
                value
                if name == "indices"
                else torch.from_numpy(np.ascontiguousarray(value)).to(device, non_blocking=True)
            )
        return cls(**values)

    def to(self, device: torch.device) -> Batch:
        """This batch with every tensor on ``device`` (itself when they already are)."""
        if self.frames.device == device:
            return self
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                values[name] = value.to(device, non_blocking=True)
        return Batch(**values)
