"""A sum tree over replay slots for proportional prioritized sampling (compiled with numba).

Leaves hold ``priority ** alpha``; internal node i holds the sum of its two children, so a
prefix-sum search finds the slot for a uniform draw in O(log capacity).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _update(tree: np.ndarray, size: int, slots: np.ndarray, values: np.ndarray) -> None:
    for i in range(slots.shape[0]):
        node = slots[i] + size
        tree[node] = values[i]
        node //= 2
        while node >= 1:
            tree[node] = tree[2 * node] + tree[2 * node + 1]
            node //= 2


@numba.njit(cache=True)
def _find(tree: np.ndarray, size: int, targets: np.ndarray) -> np.ndarray:
    out = np.empty(targets.shape[0], dtype=np.int64)
    for i in range(targets.shape[0]):
        target = targets[i]
        node = 1
        while node < size:
            left = 2 * node
            if target < tree[left] or tree[left + 1] <= 0.0:
                node = left
            else:
                target -= tree[left]
                node = left + 1
        out[i] = node - size
    return out


class SumTree:
    """Priorities of ``capacity`` slots (rounded up to a power of two internally)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 1 << max(int(np.ceil(np.log2(max(capacity, 2)))), 1)
        self.tree = np.zeros(2 * self.size, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def get(self, slots: np.ndarray) -> np.ndarray:
        return self.tree[np.asarray(slots, dtype=np.int64) + self.size]

    def set(self, slots: np.ndarray, values: np.ndarray) -> None:
        _update(
            self.tree,
            self.size,
            np.asarray(slots, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
        )

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Stratified proportional sampling: one draw in each of ``batch_size`` equal segments."""
        total = self.total
        if total <= 0.0:
            raise ValueError("cannot sample from an empty sum tree")
        edges = np.arange(batch_size, dtype=np.float64) * (total / batch_size)
        targets = edges + rng.random(batch_size) * (total / batch_size)
        targets = np.minimum(targets, np.nextafter(total, 0.0))
        return _find(self.tree, self.size, targets)
