"""The search tree of B roots as arrays (mctx style: no per-node Python objects).

A search with S simulations has N = S + 1 nodes per root. Node 0 is the root; node i is created
by simulation i - 1 (0-based), so no allocator is needed and node indices double as creation
times. Per-node arrays are ``[B, N]``, per-edge arrays ``[B, N, A]``. Only the rows of nodes that
exist are meaningful: a node's row is written when it is created, so a tree needs no clearing
between searches (``init_roots`` resets node 0).

Search semantics (MuZero, Schrittwieser et al. 2020, Appendix B; Ye et al. 2021, Appendix A; docs/fidelity.md), implemented by :mod:`efficientzero.search.kernels`:

- Selection walks down from the root taking the pUCT argmax until an unexpanded edge.
  ``score(a) = P(a) * c(N) * sqrt(N) / (1 + n(a)) + normQ(s, a)`` with
  ``c(N) = log((N + pb_c_base + 1) / pb_c_base) + pb_c_init``; N is the node's visit count when
  the walk arrives (the root starts at 0; a new node has 1 visit after its own backup).
- ``Q(s, a) = r(s, a) + discount * V(child)``, ``V = value_sum / visits``. The tree only sees
  rewards: value prefix, LSTM state and horizon resets are the model's business.
- An unvisited child's Q is the mean Q of the node's visited children (each counted once); with
  no visited child its normQ term is 0.
- ``normQ = clip((Q - min) / max(max - min, 0.01), 0, 1)`` with min/max over every Q seen in the
  root's whole tree; 0 until the first backup has seen one.
- Ties are broken at random, reproducibly: a per-root seed and a counter-based hash of
  (seed, simulation, node) choose among the actions tied within ``TIE_TOLERANCE``.
- Expansion stores the network's reward, value and prior for the new node; backup walks from the
  leaf to the root: ``value_sum += v; visits += 1``; non-root nodes update the min-max with
  their Q; then ``v = r(node) + discount * v``.
- At the root, illegal actions have prior 0 and are never selected; interior nodes allow all
  actions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Tree(NamedTuple):
    """Arrays of B search trees with N nodes each over A actions.

    A NamedTuple so that the compiled kernels take it as one argument.
    """

    children: np.ndarray
    """[B, N, A] int32 child node index of each edge, -1 while unexpanded."""
    prior: np.ndarray
    """[B, N, A] float32 prior P(s, a) of each edge (the root's after masking and noise)."""
    visits: np.ndarray
    """[B, N] int32 visit count of each node."""
    value_sum: np.ndarray
    """[B, N] float64 sum of the values backed up through each node."""
    reward: np.ndarray
    """[B, N] float32 reward r(parent, action) of the edge into each node (root: unused)."""
    parent: np.ndarray
    """[B, N] int32 parent node index (root: unused)."""
    action: np.ndarray
    """[B, N] int32 action from the parent into each node (root: unused)."""
    legal: np.ndarray
    """[B, A] bool legal actions at the root."""
    min_q: np.ndarray
    """[B] float64 smallest Q seen in each tree (+inf before the first)."""
    max_q: np.ndarray
    """[B] float64 largest Q seen in each tree (-inf before the first)."""
    seeds: np.ndarray
    """[B] uint64 per-root tie-break seeds."""

    @classmethod
    def allocate(cls, batch: int, num_actions: int, num_nodes: int) -> Tree:
        """Uninitialised arrays for ``batch`` trees (``init_roots`` prepares them for a search)."""
        b, n, a = batch, num_nodes, num_actions
        return cls(
            children=np.full((b, n, a), -1, np.int32),
            prior=np.zeros((b, n, a), np.float32),
            visits=np.zeros((b, n), np.int32),
            value_sum=np.zeros((b, n), np.float64),
            reward=np.zeros((b, n), np.float32),
            parent=np.full((b, n), -1, np.int32),
            action=np.full((b, n), -1, np.int32),
            legal=np.ones((b, a), np.bool_),
            min_q=np.full(b, np.inf),
            max_q=np.full(b, -np.inf),
            seeds=np.zeros(b, np.uint64),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(B, N, A)."""
        b, n, a = self.children.shape
        return b, n, a
