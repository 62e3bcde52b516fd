"""A small, obviously-correct MCTS for equivalence tests: one root at a time, Python node objects.

Written straight from the rules in ``efficientzero.search.tree``'s docstring; it shares nothing
with the library but the tie-break rule (re-implemented here in plain Python integers) and the
inputs (noise array, tie-break seed). Slow on purpose: clarity over speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from efficientzero.types import Embedding, SearchModel

TIE_TOLERANCE = 1e-9
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def tie_hash(seed: int, sim: int, node: int) -> int:
    x = mix64((seed + sim * GOLDEN) & MASK64)
    return mix64((x + node * GOLDEN) & MASK64)


@dataclass
class Node:
    index: int  # creation order: the root is 0, the node made by simulation i is i + 1
    prior: list[float]
    reward: float
    embedding: Embedding
    children: dict[int, Node] = field(default_factory=dict)
    visits: int = 0
    value_sum: float = 0.0

    def value(self) -> float:
        return self.value_sum / self.visits


@dataclass
class MinMax:
    low: float = math.inf
    high: float = -math.inf

    def update(self, q: float) -> None:
        self.low = min(self.low, q)
        self.high = max(self.high, q)

    def normalize(self, q: float) -> float:
        if self.high < self.low:  # no Q seen yet
            return 0.0
        return min(max((q - self.low) / max(self.high - self.low, 0.01), 0.0), 1.0)


def child_q(child: Node, discount: float) -> float:
    return child.reward + discount * child.value()


def select_action(
    node: Node, legal: list[bool], stats: MinMax, seed: int, sim: int, c: tuple[float, float, float]
) -> int:
    discount, pb_c_base, pb_c_init = c
    n = node.visits
    explore = (math.log((n + pb_c_base + 1.0) / pb_c_base) + pb_c_init) * math.sqrt(n)
    visited_q = [child_q(ch, discount) for _, ch in sorted(node.children.items())]
    mean_q = sum(visited_q) / len(visited_q) if visited_q else None
    scores = {}
    for a, p in enumerate(node.prior):
        if not legal[a]:
            continue
        child = node.children.get(a)
        if child is not None:
            term = stats.normalize(child_q(child, discount))
            scores[a] = p * explore / (1.0 + child.visits) + term
        else:
            term = 0.0 if mean_q is None else stats.normalize(mean_q)
            scores[a] = p * explore / 1.0 + term
    best = max(scores.values())
    tied = [a for a, s in scores.items() if s >= best - TIE_TOLERANCE]
    if len(tied) == 1:
        return tied[0]
    return tied[tie_hash(seed, sim, node.index) % len(tied)]


def expand(model: SearchModel, node: Node, action: int, index: int) -> tuple[Node, float]:
    out = model.recurrent(node.embedding, torch.tensor([action]))
    prior = torch.softmax(out.prior_logits.float(), dim=-1)[0].tolist()
    child = Node(index, prior, float(out.reward.float()[0]), out.embedding)
    node.children[action] = child
    return child, float(out.value.float()[0])


def reference_search(
    model: SearchModel,
    prior_logits: np.ndarray,
    embedding: Embedding,
    legal: np.ndarray,
    noise: np.ndarray | None,
    exploration_fraction: float,
    seed: int,
    num_simulations: int,
    discount: float,
    pb_c_base: float = 19652.0,
    pb_c_init: float = 1.25,
) -> dict[str, np.ndarray | float]:
    """Search one root: ``prior_logits`` [A], ``embedding`` with batch size 1, ``legal`` [A]."""
    legal_list = [bool(x) for x in legal]
    exps = [math.exp(float(z) - float(prior_logits[legal].max())) for z in prior_logits]
    total = sum(e for e, ok in zip(exps, legal_list) if ok)
    prior = [e / total if ok else 0.0 for e, ok in zip(exps, legal_list)]
    if noise is not None and exploration_fraction > 0:
        f = exploration_fraction
        prior = [
            (1 - f) * p + f * float(n) if ok else 0.0 for p, n, ok in zip(prior, noise, legal_list)
        ]
    root = Node(0, prior, 0.0, embedding)
    stats = MinMax()
    consts = (discount, pb_c_base, pb_c_init)
    all_legal = [True] * len(prior)
    for sim in range(num_simulations):
        node, path = root, [root]
        while True:
            action = select_action(
                node, legal_list if node is root else all_legal, stats, seed, sim, consts
            )
            if action not in node.children:
                break
            node = node.children[action]
            path.append(node)
        leaf, value = expand(model, node, action, sim + 1)
        path.append(leaf)
        for visited in reversed(path):
            visited.value_sum += value
            visited.visits += 1
            if visited is not root:
                stats.update(child_q(visited, discount))
            value = visited.reward + discount * value
    num_actions = len(prior)
    visits = np.zeros(num_actions, np.int64)
    q = np.zeros(num_actions)
    for a, child in root.children.items():
        visits[a] = child.visits
        q[a] = child_q(child, discount)
    return {
        "visit_counts": visits,
        "root_value": root.value() if root.visits else math.nan,
        "prior": np.array(prior),
        "q_values": q,
    }
