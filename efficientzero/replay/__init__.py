"""Replay: trajectory blocks, a sum tree for prioritized sampling, and gathering of positions."""

from efficientzero.replay.gather import gather_positions
from efficientzero.replay.storage import ReplayBuffer
from efficientzero.replay.sum_tree import SumTree

__all__ = ["ReplayBuffer", "SumTree", "gather_positions"]
