"""The configured search, as self-play, reanalysis and evaluation run it.

``plan`` runs pUCT search (the paper) or Gumbel search (EfficientZero V2's option) with the
config's constants and returns the policy target and root values; ``choose_actions`` turns a
plan into actions: visit counts ^ (1 / T) for pUCT (argmax at T = 0), the sequential-halving
winner for Gumbel. For continuous actions (the sampled search, ``nets/sampled.py``) the children
are the root's sampled action vectors: ``env_actions`` maps the chosen children to them and
``policy_records`` packs each policy target with the samples it weighs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from efficientzero.config import Config
from efficientzero.nets.sampled import pack_policy
from efficientzero.search import Searcher, SearchRules, search, select_actions, visit_policy
from efficientzero.search.gumbel import gumbel_search
from efficientzero.types import RootOutput, SearchModel


@dataclass
class Plan:
    policy: np.ndarray
    """[B, A] float32 policy target: the visit distribution (pUCT) or the improved policy (Gumbel)."""
    root_values: np.ndarray
    """[B] float32 search root values."""
    visit_counts: np.ndarray
    """[B, A] int32 root visit counts."""
    actions: np.ndarray | None = None
    """[B] int64 Gumbel's chosen actions (None for pUCT: sample from the visit counts)."""
    samples: np.ndarray | None = None
    """Continuous actions: [B, A, D] float32 the root children's action vectors."""


def search_rules(config: Config) -> SearchRules:
    """The config's choice between MuZero's and the reference code's search rules."""
    return SearchRules(
        children_visits=config.puct_visit_count == "children",
        parent_mean_q=config.unvisited_q == "parent_mean",
        rebuild_min_max=config.min_max_stats == "rebuild",
    )


def plan(
    config: Config,
    model: SearchModel,
    root: RootOutput,
    rng: np.random.Generator,
    searcher: Searcher,
    *,
    explore: bool,
) -> Plan:
    """One batched search from ``root``; ``explore`` adds root noise (Dirichlet or Gumbel)."""
    c = config
    if c.search_algorithm == "gumbel":
        batch, num_actions = root.prior_logits.shape
        out = gumbel_search(
            model,
            root,
            num_simulations=c.num_simulations,
            discount=c.discount,
            max_considered_actions=c.gumbel_max_considered_actions,
            pb_c_base=c.pb_c_base,
            pb_c_init=c.pb_c_init,
            rng=rng,
            searcher=searcher,
            gumbel=None if explore else np.zeros((batch, num_actions)),
            rules=search_rules(c),
        )
        return Plan(
            out.improved_policy.astype(np.float32),
            out.search.root_values,
            out.search.visit_counts,
            out.actions,
            _samples(root),
        )
    result = search(
        model,
        root,
        num_simulations=c.num_simulations,
        discount=c.discount,
        pb_c_base=c.pb_c_base,
        pb_c_init=c.pb_c_init,
        dirichlet_alpha=c.dirichlet_alpha,
        exploration_fraction=c.root_exploration_fraction if explore else 0.0,
        rng=rng,
        searcher=searcher,
        rules=search_rules(c),
    )
    return Plan(
        visit_policy(result.visit_counts).astype(np.float32),
        result.root_values,
        result.visit_counts,
        samples=_samples(root),
    )


def _samples(root: RootOutput) -> np.ndarray | None:
    return None if root.actions is None else root.actions.float().cpu().numpy()


def choose_actions(plan_: Plan, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """[B] actions: Gumbel's decision, else visit counts sampled at ``temperature`` (0: argmax)."""
    if plan_.actions is not None:
        return plan_.actions
    return select_actions(plan_.visit_counts, temperature, rng)


def env_actions(plan_: Plan, children: np.ndarray) -> np.ndarray:
    """What the environments receive for the chosen root ``children`` [B]: the children
    themselves (discrete), or their action vectors [B, D] float32 (continuous)."""
    if plan_.samples is None:
        return children
    return plan_.samples[np.arange(len(children)), children]


def policy_records(plan_: Plan) -> np.ndarray:
    """What replay stores as each root's policy: ``plan_.policy`` [B, A] (discrete), or the
    record of its weights and the sampled actions [B, A * (1 + D)] (continuous)."""
    if plan_.samples is None:
        return plan_.policy
    return pack_policy(plan_.policy, plan_.samples)
