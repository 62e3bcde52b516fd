"""Batched Monte-Carlo tree search: a tree of arrays, compiled kernels, one network call per
simulation for all roots.

``search(model, root, ...)`` runs MCTS (pUCT, min-max normalised Q, Dirichlet root noise, legal
masks at the root) for B roots; ``select_actions`` and ``visit_policy`` turn its visit counts
into actions and policy targets. The exact rules are in :mod:`efficientzero.search.tree`.
``gumbel_search`` swaps the root for Gumbel top-k with sequential halving (EfficientZero V2).
"""

from efficientzero.search.acting import select_actions, visit_policy
from efficientzero.search.gumbel import GumbelOutput, gumbel_search
from efficientzero.search.kernels import SearchRules
from efficientzero.search.mcts import Searcher, default_searcher, search
from efficientzero.search.root import dirichlet_noise, masked_softmax, root_prior
from efficientzero.search.tree import Tree

__all__ = [
    "GumbelOutput",
    "SearchRules",
    "Searcher",
    "Tree",
    "default_searcher",
    "dirichlet_noise",
    "gumbel_search",
    "masked_softmax",
    "root_prior",
    "search",
    "select_actions",
    "visit_policy",
]
