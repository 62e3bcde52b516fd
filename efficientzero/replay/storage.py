"""Replay: trajectory blocks, prioritized (or uniform) sampling of positions, and gathering.

Each block is kept as it arrived (its frames stored once, uint8 for images); a position is one
sampleable step of a block. Positions get global ids in arrival order; slot = id % capacity
addresses the sum tree and the position tables. When the ring is full the oldest blocks are
evicted whole. Priorities written back for an id that has since been evicted are ignored,
which makes asynchronous learners (Ray) safe.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from efficientzero.replay.sum_tree import SumTree
from efficientzero.targets import value_horizon
from efficientzero.types import SampledPositions, TrajectoryBlock

PRIORITY_EPS = 1e-6


class ReplayBuffer:
    """Trajectory blocks with prioritized sampling of their positions."""

    def __init__(
        self,
        capacity: int,
        *,
        frame_stack: int,
        unroll_steps: int,
        td_steps: int,
        alpha: float = 0.6,
        use_priority: bool = True,
        new_priority: str = "max_ever",
    ) -> None:
        """``new_priority``: new positions enter at the largest priority ever written
        ("max_ever") or the largest now stored ("max_stored", the reference code; 1 when empty)."""
        if new_priority not in ("max_ever", "max_stored"):
            raise ValueError(
                f"new_priority must be 'max_ever' or 'max_stored', got {new_priority!r}"
            )
        self.new_priority = new_priority
        self.capacity = capacity
        self.frame_stack = frame_stack
        self.unroll_steps = unroll_steps
        self.td_steps = td_steps
        self.alpha = alpha if use_priority else 0.0
        self.use_priority = use_priority
        self.tree = SumTree(capacity)
        self.slot_block = np.full(capacity, -1, dtype=np.int64)
        self.slot_offset = np.zeros(capacity, dtype=np.int64)
        self.slot_id = np.full(capacity, -1, dtype=np.int64)
        self.blocks: dict[int, TrajectoryBlock] = {}
        self._order: deque[tuple[int, int, int]] = deque()  # (block id, first position id, count)
        self.num_added = 0  # positions ever added == next position id
        self.num_blocks_added = 0
        self.size = 0  # positions currently stored
        self.max_priority = 1.0

    # ------------------------------------------------------------------ writing
    def add(self, block: TrajectoryBlock) -> None:
        """Store ``block``; its positions enter at the new-data priority (``new_priority``)."""
        count = block.num_positions
        if count <= 0:
            return
        if count > self.capacity:
            raise ValueError(f"block of {count} positions exceeds replay capacity {self.capacity}")
        while self.size + count > self.capacity:
            self._evict_oldest()
        block_id = self.num_blocks_added
        self.num_blocks_added += 1
        ids = np.arange(self.num_added, self.num_added + count, dtype=np.int64)
        slots = ids % self.capacity
        self.blocks[block_id] = block
        self._order.append((block_id, self.num_added, count))
        self.slot_block[slots] = block_id
        self.slot_offset[slots] = np.arange(count)
        self.slot_id[slots] = ids
        self.tree.set(slots, np.full(count, self._entry_priority()) ** self.alpha)
        self.num_added += count
        self.size += count

    def _entry_priority(self) -> float:
        """The priority new positions enter at (see ``new_priority``)."""
        if self.new_priority == "max_ever":
            return self.max_priority
        if self.size == 0 or self.alpha == 0.0:
            return 1.0
        leaves = self.tree.tree[self.tree.size : self.tree.size + self.capacity]
        return float(leaves.max()) ** (1.0 / self.alpha)  # leaves hold priority ** alpha

    def _evict_oldest(self) -> None:
        block_id, first, count = self._order.popleft()
        slots = np.arange(first, first + count) % self.capacity
        self.tree.set(slots, np.zeros(count))
        self.slot_block[slots] = -1
        self.slot_id[slots] = -1
        del self.blocks[block_id]
        self.size -= count

    def update_priorities(self, ids: np.ndarray, priorities: np.ndarray) -> None:
        """Write new priorities for position ids (ids evicted since sampling are skipped)."""
        ids = np.asarray(ids, dtype=np.int64)
        slots = ids % self.capacity
        live = self.slot_id[slots] == ids
        if not live.any():
            return
        values = np.asarray(priorities, dtype=np.float64)[live] + PRIORITY_EPS
        self.max_priority = max(self.max_priority, float(values.max()))
        if self.use_priority:
            self.tree.set(slots[live], values**self.alpha)

    # ------------------------------------------------------------------ sampling
    def sample_ids(
        self, batch_size: int, beta: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Position ids ``[B]`` and importance weights ``[B]`` (normalised by the batch maximum)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        slots = self.tree.sample(batch_size, rng)
        if not self.use_priority:  # alpha = 0: every stored slot has tree value 1
            return self.slot_id[slots].copy(), np.ones(batch_size, dtype=np.float32)
        probs = self.tree.get(slots) / self.tree.total
        weights = (self.size * probs) ** (-beta)
        weights /= weights.max()
        return self.slot_id[slots].copy(), weights.astype(np.float32)

    def value_horizons(self, ids: np.ndarray, td_steps: int, age_unit: float | None) -> np.ndarray:
        """Off-policy-corrected horizon l = clip(td - floor(age / age_unit), 1, td) per id (Ye et al. 2021, §4.3).

        ``age_unit=None`` disables the correction (a fixed ``td_steps`` horizon).
        """
        if age_unit is None:
            return np.full(len(ids), td_steps, dtype=np.int64)
        age = self.num_added - np.asarray(ids, dtype=np.int64)  # 1 for the newest position
        return value_horizon(age, td_steps, age_unit)

    def gather(
        self, ids: np.ndarray, weights: np.ndarray, horizons: np.ndarray, rng: np.random.Generator
    ) -> SampledPositions:
        """Everything the targets need for positions ``ids`` (see ``SampledPositions``)."""
        from efficientzero.replay.gather import gather_positions

        slots = np.asarray(ids, dtype=np.int64) % self.capacity
        if not np.all(self.slot_id[slots] == ids):
            raise KeyError("some sampled positions are no longer in replay")
        blocks = [self.blocks[b] for b in self.slot_block[slots]]
        return gather_positions(
            blocks,
            self.slot_offset[slots],
            ids,
            weights,
            horizons,
            frame_stack=self.frame_stack,
            unroll_steps=self.unroll_steps,
            td_steps=self.td_steps,
            rng=rng,
        )

    def sample(
        self, batch_size: int, beta: float, rng: np.random.Generator, age_unit: float | None
    ) -> SampledPositions:
        ids, weights = self.sample_ids(batch_size, beta, rng)
        horizons = self.value_horizons(ids, self.td_steps, age_unit)
        return self.gather(ids, weights, horizons, rng)

    # ------------------------------------------------------------------ stats and checkpoints
    def nbytes(self) -> int:
        return (
            sum(b.nbytes() for b in self.blocks.values())
            + self.tree.tree.nbytes
            + 3 * self.slot_id.nbytes
        )

    def state_dict(self) -> dict[str, Any]:
        """Arrays and counters to rebuild the buffer exactly (blocks, priorities, ids)."""
        blocks = []
        for block_id, first, count in self._order:
            b = self.blocks[block_id]
            slots = np.arange(first, first + count) % self.capacity
            blocks.append(
                {
                    "frames": b.frames,
                    "actions": b.actions,
                    "rewards": b.rewards,
                    "policies": b.policies,
                    "num_positions": b.num_positions,
                    "episode_end": b.episode_end,
                    "terminated": b.terminated,
                    "first_id": first,
                    "tree_values": self.tree.get(slots),
                }
            )
        return {
            "blocks": blocks,
            "num_added": self.num_added,
            "num_blocks_added": self.num_blocks_added,
            "max_priority": self.max_priority,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            self.capacity,
            frame_stack=self.frame_stack,
            unroll_steps=self.unroll_steps,
            td_steps=self.td_steps,
            alpha=self.alpha,
            use_priority=self.use_priority,
            new_priority=self.new_priority,
        )
        for entry in state["blocks"]:
            block = TrajectoryBlock(
                frames=np.asarray(entry["frames"]),
                actions=np.asarray(entry["actions"]),
                rewards=np.asarray(entry["rewards"]),
                policies=np.asarray(entry["policies"]),
                num_positions=int(entry["num_positions"]),
                episode_end=bool(entry["episode_end"]),
                terminated=bool(entry["terminated"]),
            )
            self.num_added = int(entry["first_id"])
            self.add(block)
            count = block.num_positions
            slots = np.arange(self.num_added - count, self.num_added) % self.capacity
            self.tree.set(slots, np.asarray(entry["tree_values"], dtype=np.float64))
        self.num_added = int(state["num_added"])
        self.num_blocks_added = int(state["num_blocks_added"])
        self.max_priority = float(state["max_priority"])
