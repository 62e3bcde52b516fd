"""Batched Monte-Carlo tree search: a tree of arrays, compiled kernels, one network call per
simulation for all roots.

``search(model, root, ...)`` runs MCTS (pUCT, min-max normalised Q, Dirichlet root noise, legal
masks at the root) for B roots; ``select_actions`` and ``visit_policy`` turn its visit counts
into actions and policy targets. The exact rules are in :mod:`efficientzero.search.tree`.
"""

from efficientzero.search.acting import select_actions, visit_policy
from efficientzero.search.mcts import Searcher, default_searcher, search
from efficientzero.search.root import dirichlet_noise, masked_softmax, root_prior
from efficientzero.search.tree import Tree

__all__ = [
    "Searcher",
    "Tree",
    "default_searcher",
    "dirichlet_noise",
    "masked_softmax",
    "root_prior",
    "search",
    "select_actions",
    "visit_policy",
]
