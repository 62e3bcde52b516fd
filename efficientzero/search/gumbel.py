"""Gumbel root selection with sequential halving (Danihelka et al. 2022, "Policy improvement by
planning with Gumbel"; used by EfficientZero V2, Wang et al. 2024).

Built on :meth:`Searcher.run` through its ``root_action_fn`` hook: only the root changes;
interior nodes keep pUCT. Per root (B of them, A actions):

- Draw Gumbel noise g(a) and consider the m = min(max_considered_actions, #legal) legal actions
  with the largest g(a) + logits(a).
- Sequential halving: ``considered_visit_sequence(m, n)`` gives, for each simulation, the visit
  count L an action must have to be visited next; the simulation visits, among the considered
  actions with exactly L visits, the one maximising g(a) + logits(a) + sigma(q(a)). Each phase
  visits the remaining actions equally, and only the better half moves on.
- sigma(q) = (c_visit + max_b N(b)) * c_scale * q, on completed Q values min-max normalised over
  the legal actions: a visited action's Q, else the mixed value v_mix (paper, eq. 33).
- The chosen action maximises g + logits + sigma(q) among the most visited considered actions;
  the improved policy target is softmax(logits + sigma(completed Q)) over the legal actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from efficientzero.search import kernels
from efficientzero.search.kernels import SearchRules
from efficientzero.search.mcts import DEFAULT_RULES, Searcher, default_searcher
from efficientzero.search.root import host_root, masked_softmax, tie_break_seeds
from efficientzero.search.tree import Tree
from efficientzero.types import RootOutput, SearchModel, SearchOutput


@dataclass
class GumbelOutput:
    """Result of a Gumbel search: the plain search output plus the root decision."""

    search: SearchOutput
    """Visit counts, root values, prior and root Q values, as for pUCT search."""
    actions: np.ndarray
    """[B] int64 chosen actions (sequential-halving winners)."""
    improved_policy: np.ndarray
    """[B, A] float32 softmax(logits + sigma(completed Q)), 0 on illegal actions."""


def considered_visit_sequence(num_considered: int, num_simulations: int) -> np.ndarray:
    """[num_simulations] int64: the visit count the action visited by each simulation must have.

    Phase p visits each of the r_p remaining actions max(1, n // (phases * r_p)) times, round
    by round; r halves each phase (never below 2) and the last phase runs until the budget ends.
    """
    if num_considered <= 1:
        return np.arange(num_simulations, dtype=np.int64)
    num_phases = math.ceil(math.log2(num_considered))
    sequence: list[int] = []
    remaining, level = num_considered, 0
    while len(sequence) < num_simulations:
        for _ in range(max(1, num_simulations // (num_phases * remaining))):
            sequence.extend([level] * remaining)
            level += 1
        remaining = max(2, math.ceil(remaining / 2))
    return np.array(sequence[:num_simulations], dtype=np.int64)


def completed_q(
    visits: np.ndarray, q: np.ndarray, prior: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """Q of visited actions, the mixed value v_mix elsewhere -> [B, A] float64.

    ``visits``, ``q``, ``prior`` [B, A] root child statistics and prior (0 on illegal actions);
    ``value`` [B] the network's root value. v_mix = (value + N * sum_vis(pi q) / sum_vis(pi))
    / (1 + N) with N the total visits (eq. 33).
    """
    visited = visits > 0
    total = visits.sum(axis=1)
    pi_visited = np.where(visited, prior, 0.0).sum(axis=1)
    weighted_q = np.where(visited, prior * q, 0.0).sum(axis=1)
    mean_q = weighted_q / np.where(pi_visited > 0, pi_visited, 1.0)
    mixed = (value + total * mean_q) / (1.0 + total)
    return np.where(visited, q, mixed[:, None])


def sigma(
    completed: np.ndarray, visits: np.ndarray, legal: np.ndarray, c_visit: float, c_scale: float
) -> np.ndarray:
    """sigma(q) = (c_visit + max N) * c_scale * q on Q min-max normalised over legal actions."""
    lo = np.where(legal, completed, np.inf).min(axis=1, keepdims=True)
    hi = np.where(legal, completed, -np.inf).max(axis=1, keepdims=True)
    normalised = (completed - lo) / np.maximum(hi - lo, 1e-8)
    return (c_visit + visits.max(axis=1, keepdims=True)) * c_scale * normalised


@dataclass
class _SequentialHalving:
    """The ``root_action_fn`` of a Gumbel search: which considered action each simulation visits."""

    base_score: np.ndarray
    """[B, A] g + logits (-inf on illegal actions)."""
    considered: np.ndarray
    """[B, A] bool the top-m legal actions by ``base_score``."""
    prior: np.ndarray
    """[B, A] softmax of the logits over legal actions (for v_mix)."""
    value: np.ndarray
    """[B] network value of the roots (for v_mix)."""
    legal: np.ndarray
    """[B, A] bool."""
    levels: np.ndarray
    """[B, n] visit count the action visited by each simulation must have."""
    discount: float
    c_visit: float
    c_scale: float

    def __post_init__(self) -> None:
        self.visits = np.zeros(self.base_score.shape, np.int32)
        self.q = np.zeros(self.base_score.shape, np.float32)

    def completed_sigma(self, tree: Tree) -> np.ndarray:
        """[B, A] sigma(completed Q) from the tree's current root statistics."""
        kernels.root_statistics(tree, self.discount, self.visits, self.q)
        completed = completed_q(self.visits, self.q.astype(np.float64), self.prior, self.value)
        return sigma(completed, self.visits, self.legal, self.c_visit, self.c_scale)

    def __call__(self, tree: Tree, sim: int) -> np.ndarray:
        scores = self.base_score + self.completed_sigma(tree)
        eligible = self.considered & (self.visits == self.levels[:, sim : sim + 1])
        # The schedule always leaves an action at the level; should it not, the least visited.
        fewest = np.where(self.considered, self.visits, np.iinfo(np.int32).max).min(axis=1)
        stuck = ~eligible.any(axis=1, keepdims=True)
        eligible |= stuck & self.considered & (self.visits == fewest[:, None])
        return np.where(eligible, scores, -np.inf).argmax(axis=1)

    def decide(self, tree: Tree, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chosen actions [B] and the improved policy [B, A] after the last simulation."""
        sigma_q = self.completed_sigma(tree)
        most = np.where(self.considered, self.visits, -1).max(axis=1)
        finalists = self.considered & (self.visits == most[:, None])
        actions = np.where(finalists, self.base_score + sigma_q, -np.inf).argmax(axis=1)
        return actions.astype(np.int64), masked_softmax(logits + sigma_q, self.legal)


def gumbel_search(
    model: SearchModel,
    root: RootOutput,
    *,
    num_simulations: int,
    discount: float,
    max_considered_actions: int = 16,
    c_visit: float = 50.0,
    c_scale: float = 0.1,
    pb_c_base: float = 19652.0,
    pb_c_init: float = 1.25,
    legal_actions: np.ndarray | None = None,
    rng: np.random.Generator,
    gumbel: np.ndarray | None = None,
    searcher: Searcher | None = None,
    rules: SearchRules = DEFAULT_RULES,
) -> GumbelOutput:
    """Search with Gumbel top-k and sequential halving at the root (pUCT below the root).

    ``gumbel`` [B, A] replaces the Gumbel draw (tests); otherwise it is drawn from ``rng``,
    followed by one tie-break seed per root. Root noise is the Gumbel draw: no Dirichlet noise.
    """
    logits, legal = host_root(root, legal_actions)
    if gumbel is None:
        gumbel = rng.gumbel(size=logits.shape)
    seeds = tie_break_seeds(rng, len(logits))
    base_score = np.where(legal, gumbel + logits, -np.inf)
    # Top-m legal actions by g + logits (ties broken by action index).
    num_considered = np.minimum(max_considered_actions, legal.sum(axis=1))
    rank = np.argsort(np.argsort(-base_score, axis=1, kind="stable"), axis=1, kind="stable")
    considered = legal & (rank < num_considered[:, None])
    prior = masked_softmax(logits, legal)
    schedules = {m: considered_visit_sequence(m, num_simulations) for m in set(num_considered)}
    halving = _SequentialHalving(
        base_score=base_score,
        considered=considered,
        prior=prior.astype(np.float64),
        value=root.value.detach().float().cpu().numpy().astype(np.float64),
        legal=legal,
        levels=np.stack([schedules[m] for m in num_considered]),
        discount=float(discount),
        c_visit=c_visit,
        c_scale=c_scale,
    )
    searcher = searcher or default_searcher()
    out = searcher.run(
        model,
        root,
        prior=prior,
        legal=legal,
        seeds=seeds,
        num_simulations=num_simulations,
        discount=discount,
        pb_c_base=pb_c_base,
        pb_c_init=pb_c_init,
        rules=rules,
        root_action_fn=halving,
    )
    assert searcher.tree is not None
    actions, improved = halving.decide(searcher.tree, logits)
    return GumbelOutput(search=out, actions=actions, improved_policy=improved)
