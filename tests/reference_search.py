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

    def rebuild(self, root: Node, discount: float) -> None:
        """The bounds of the Q values of every node under ``root`` (each with its own edge)."""
        self.low, self.high = math.inf, -math.inf
        stack = list(root.children.values())
        while stack:
            node = stack.pop()
            self.update(child_q(node, discount))
            stack.extend(node.children.values())

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
    node: Node,
    legal: list[bool],
    stats: MinMax,
    seed: int,
    sim: int,
    c: tuple[float, float, float],
    rules: tuple[bool, bool, bool] = (False, False, False),
    parent_q: float = 0.0,
    is_root: bool = True,
) -> tuple[int, float]:
    """(action, this node's mean Q); ``rules`` = (children visits, parent mean Q, rebuild)."""
    discount, pb_c_base, pb_c_init = c
    children_visits, parent_mean_q, _ = rules
    n = node.visits
    if children_visits and not is_root:
        n = sum(child.visits for child in node.children.values())
    explore = (math.log((n + pb_c_base + 1.0) / pb_c_base) + pb_c_init) * math.sqrt(n)
    visited_q = [child_q(ch, discount) for _, ch in sorted(node.children.items())]
    mean_q = sum(visited_q) / len(visited_q) if visited_q else None
    if parent_mean_q and not is_root:
        mean_q = (parent_q + sum(visited_q)) / (len(visited_q) + 1)
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
    own_q = 0.0 if mean_q is None else mean_q
    if len(tied) == 1:
        return tied[0], own_q
    return tied[tie_hash(seed, sim, node.index) % len(tied)], own_q


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
    rules: tuple[bool, bool, bool] = (False, False, False),
) -> dict[str, np.ndarray | float]:
    """Search one root: ``prior_logits`` [A], ``embedding`` with batch size 1, ``legal`` [A].

    ``rules`` = (pUCT N = children's visit sum, unvisited Q with the parent's mean, min-max
    rebuilt from the tree after each backup): the reference code's variants.
    """
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
        node, path, parent_q = root, [root], 0.0
        while True:
            action, parent_q = select_action(
                node,
                legal_list if node is root else all_legal,
                stats,
                seed,
                sim,
                consts,
                rules,
                parent_q,
                node is root,
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
        if rules[2]:
            stats.rebuild(root, discount)
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
