"""Batched MCTS driver: per simulation, select kernel -> one network call -> expand/backup kernel.

The tree statistics live in host numpy arrays (:class:`Tree`) that the compiled kernels walk.
Where the model runs on the CPU, the node embeddings live in one host byte array and each
simulation is one compiled call besides the network call: store the last output, back it up,
select, gather the next parents into the model's input tensors
(:mod:`efficientzero.search.host`). On other devices the model states stay on the device in
preallocated ``[N * B, ...]`` tensors addressed by row; per simulation only the selected
(parent, action) pairs go to the device ([3, B] int64) and only reward, value and prior come back
(one [B, 2 + A] float32 tensor, the softmax done on the device; see
:mod:`efficientzero.search.device`). Latent states never visit the host.

``search`` is the entry point (root masking, noise and tie-break seeds drawn from ``rng``);
:meth:`Searcher.run` is the layer below it, with the root prior and seeds given explicitly, for
tests and for variants that build their own root (see :mod:`efficientzero.search.gumbel`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import torch

from efficientzero.search import kernels
from efficientzero.search.device import EmbeddingStore, StepOutputs
from efficientzero.search.graph import StepGraph
from efficientzero.search.host import HostStore
from efficientzero.search.kernels import SearchRules
from efficientzero.search.root import dirichlet_noise, host_root, root_prior, tie_break_seeds
from efficientzero.search.tree import Tree
from efficientzero.types import Embedding, RootOutput, SearchModel, SearchOutput

DEFAULT_RULES = SearchRules()
"""MuZero's rules (every reference-code variant off)."""

RootActionFn = Callable[[Tree, int], np.ndarray | None]
"""``(tree, sim) -> [B] int64`` root actions for simulation ``sim`` (-1: pUCT), or None for pUCT."""


class Searcher:
    """Runs batched searches, reusing the tree arrays and embedding buffers between calls.

    Buffers are reallocated only when (B, A, N) or the embedding's shapes, dtypes or device
    change. One Searcher must not run two searches at once (use one per thread).
    ``host_kernels=False`` makes CPU searches use the torch code path of other devices (for
    tests). ``threads`` > 1 shares the roots of the tree kernels among that many numba threads
    (the results are the same: roots are independent). ``graphs`` runs each simulation's device
    work as one :class:`~efficientzero.search.graph.StepGraph` (captured as a CUDA graph on
    CUDA, eager elsewhere; CPU searches with the host kernels do not use it).
    """

    def __init__(self, host_kernels: bool = True, threads: int = 1, graphs: bool = False) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.host_kernels = host_kernels
        self.threads = threads
        self.graphs = graphs
        self._graph: StepGraph | None = None
        self._direct: dict[tuple, Callable[..., None]] = {}
        self._tree: Tree | None = None
        self._host: HostStore | None = None
        self._store: EmbeddingStore | None = None
        self._outputs: StepOutputs | None = None
        self._selected = np.zeros((3, 0), np.int64)
        self._no_forced = np.zeros(0, np.int64)

    @property
    def tree(self) -> Tree | None:
        """The last search's tree (valid until the next search; None before the first)."""
        return self._tree

    def _prepare_tree(self, batch: int, num_actions: int, num_nodes: int) -> Tree:
        if self._tree is None or self._tree.shape != (batch, num_nodes, num_actions):
            self._tree = Tree.allocate(batch, num_actions, num_nodes)
            self._selected = np.zeros((3, batch), np.int64)
            self._no_forced = np.full(batch, -1, np.int64)
            self._host = None  # its action tensor views the old ``_selected``
        return self._tree

    def _prepare_host(self, num_nodes: int, embedding: Embedding) -> HostStore:
        key = HostStore.key_of(embedding, num_nodes)
        if self._host is None or self._host.key != key:
            self._host = None  # free the old buffers before allocating the new ones
            self._host = HostStore(embedding, num_nodes, self._selected)
        return self._host

    def _prepare_device(
        self, batch: int, num_actions: int, num_nodes: int, embedding: Embedding
    ) -> tuple[EmbeddingStore, StepOutputs]:
        key = EmbeddingStore.key_of(embedding, num_nodes)
        if self._store is None or self._store.key != key:
            self._store = None
            self._store = EmbeddingStore(embedding, num_nodes)
        outputs_key = (batch, num_actions, self._store.device)
        if self._outputs is None or self._outputs.key != outputs_key:
            self._outputs = StepOutputs(*outputs_key)
        return self._store, self._outputs

    @torch.no_grad()
    def run(
        self,
        model: SearchModel,
        root: RootOutput,
        *,
        prior: np.ndarray,
        legal: np.ndarray,
        seeds: np.ndarray,
        num_simulations: int,
        discount: float,
        pb_c_base: float = 19652.0,
        pb_c_init: float = 1.25,
        rules: SearchRules = DEFAULT_RULES,
        root_action_fn: RootActionFn | None = None,
    ) -> SearchOutput:
        """Search from roots whose final prior ``prior`` [B, A] (masked, noised) is given.

        ``legal`` [B, A] bool root legal actions; ``seeds`` [B] uint64 tie-break seeds;
        ``rules`` the reference-code variants (:class:`SearchRules`); ``root_action_fn``
        optionally chooses the root action of each simulation (it must choose legal actions).
        """
        batch, num_actions = prior.shape
        if root.prior_logits.shape != (batch, num_actions) or legal.shape != prior.shape:
            raise ValueError("prior, legal and root.prior_logits must all be [B, A]")
        tree = self._prepare_tree(batch, num_actions, num_simulations + 1)
        tree.legal[:] = legal
        tree.seeds[:] = seeds
        kernels.init_roots(tree, np.ascontiguousarray(prior, dtype=np.float32))
        constants = (float(discount), float(pb_c_base), float(pb_c_init))
        parallel = self.threads > 1 and batch > 1
        if parallel:
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        if self.host_kernels and HostStore.accepts(root.embedding):
            host = self._prepare_host(num_simulations + 1, root.embedding)
            self._run_host(
                model, root, host, num_simulations, constants, rules, root_action_fn, parallel
            )
        else:
            store, outputs = self._prepare_device(
                batch, num_actions, num_simulations + 1, root.embedding
            )
            self._run_device(
                model, root, store, outputs, num_simulations, constants, rules, root_action_fn,
                parallel,
            )  # fmt: skip
        return self._output(tree, root, constants[0])

    def _forced(self, root_action_fn: RootActionFn | None, tree: Tree, sim: int) -> np.ndarray:
        forced = None if root_action_fn is None else root_action_fn(tree, sim)
        if forced is None:
            return self._no_forced
        forced = np.ascontiguousarray(forced, dtype=np.int64)  # the kernels' exact type
        if forced.shape != self._no_forced.shape:
            raise ValueError(
                f"root actions have shape {forced.shape}; expected {self._no_forced.shape}"
            )
        return forced

    def _kernel(self, kernel: Any, rules: SearchRules, *args: Any) -> Callable[..., None]:
        """``kernel`` called directly (:func:`kernels.direct`) for this searcher's arrays, whose
        types never change; the rules are the one argument a caller chooses."""
        key = (kernel, tuple(type(v) for v in rules))
        entry = self._direct.get(key)
        if entry is None:
            entry = self._direct[key] = kernels.direct(kernel, *args)
        return entry

    def _run_host(
        self,
        model: SearchModel,
        root: RootOutput,
        host: HostStore,
        num_simulations: int,
        constants: tuple[float, float, float],
        rules: SearchRules,
        root_action_fn: RootActionFn | None,
        parallel: bool,
    ) -> None:
        """Simulations with the host kernels: one compiled call per simulation (two when a
        ``root_action_fn`` must see the backed-up tree before the next selection)."""
        tree, selected = self._tree, self._selected
        assert tree is not None
        kernel = kernels.host_step_parallel if parallel else kernels.host_step
        run = self._kernel(
            kernel, rules, tree, 0, 0, constants, rules, self._no_forced, selected, host.step
        )
        host.write_root(root.embedding)
        try:
            self._simulate_host(model, host, num_simulations, constants, rules, root_action_fn, run)
        finally:
            host.release()

    def _simulate_host(
        self,
        model: SearchModel,
        host: HostStore,
        num_simulations: int,
        constants: tuple[float, float, float],
        rules: SearchRules,
        root_action_fn: RootActionFn | None,
        run: Callable,
    ) -> None:
        """The simulations of ``_run_host`` (node 0 already written)."""
        tree, selected, step = self._tree, self._selected, host.step
        assert tree is not None
        if num_simulations == 0:
            return
        run(tree, 0, 0, constants, rules, self._forced(root_action_fn, tree, 0), selected, step)
        num_actions = tree.shape[2]
        for sim in range(num_simulations):
            out = model.recurrent(host.gathered, host.actions)
            keep = host.point_at(out, num_actions)
            next_sim = sim + 1 if sim + 1 < num_simulations else -1
            if root_action_fn is None or next_sim < 0:
                run(tree, sim + 1, next_sim, constants, rules, self._no_forced, selected, step)
            else:
                run(tree, sim + 1, -1, constants, rules, self._no_forced, selected, step)
                forced = self._forced(root_action_fn, tree, next_sim)
                run(tree, 0, next_sim, constants, rules, forced, selected, step)
            del keep

    def _run_device(
        self,
        model: SearchModel,
        root: RootOutput,
        store: EmbeddingStore,
        outputs: StepOutputs,
        num_simulations: int,
        constants: tuple[float, float, float],
        rules: SearchRules,
        root_action_fn: RootActionFn | None,
        parallel: bool,
    ) -> None:
        """Simulations with the embeddings on the model's device (any device)."""
        tree, selected = self._tree, self._selected
        assert tree is not None
        store.write(0, root.embedding)
        select_kernel, expand_kernel = kernels.select, kernels.expand_and_backup
        if parallel:
            select_kernel = kernels.select_parallel
            expand_kernel = kernels.expand_and_backup_parallel
        select = self._kernel(
            select_kernel, rules, tree, 0, constants, rules, self._no_forced, selected
        )
        step_type = np.zeros((1, 1), np.float32)  # the packed outputs' type
        expand = self._kernel(
            expand_kernel, rules, tree, 0, selected, step_type, constants[0], rules.rebuild_min_max
        )
        expand_on_device: Callable[[int], np.ndarray]
        if self.graphs:
            if self._graph is None or not self._graph.serves(model, store, outputs):
                self._graph = None  # free the old capture first
                self._graph = StepGraph(model, store, outputs)
            graph = self._graph

            def expand_on_device(node: int) -> np.ndarray:
                return graph.run(selected, node)
        else:

            def expand_on_device(node: int) -> np.ndarray:
                out = model.recurrent(*store.parents(selected))
                store.write(node, out.embedding)
                return outputs.to_host(out.reward, out.value, out.prior_logits)

        for sim in range(num_simulations):
            forced = self._forced(root_action_fn, tree, sim)
            # Select on the host, one network call on the device, expand and back up on the host.
            select(tree, sim, constants, rules, forced, selected)
            step = expand_on_device(sim + 1)
            expand(tree, sim + 1, selected, step, constants[0], rules.rebuild_min_max)

    def _output(self, tree: Tree, root: RootOutput, discount: float) -> SearchOutput:
        batch, _, num_actions = tree.shape
        visit_counts = np.empty((batch, num_actions), np.int32)
        q_values = np.empty((batch, num_actions), np.float32)
        kernels.root_statistics(tree, discount, visit_counts, q_values)
        root_visits = tree.visits[:, 0]
        # With no simulation the root's own value estimate is the best there is.
        model_value = root.value.detach().float().cpu().numpy()
        root_values = np.where(
            root_visits > 0, tree.value_sum[:, 0] / np.maximum(root_visits, 1), model_value
        ).astype(np.float32)
        return SearchOutput(
            visit_counts=visit_counts,
            root_values=root_values,
            root_prior=tree.prior[:, 0].copy(),
            q_values=q_values,
        )


_local = threading.local()


def default_searcher() -> Searcher:
    """This thread's shared :class:`Searcher` (its buffers are reused by every ``search`` call)."""
    searcher = getattr(_local, "searcher", None)
    if searcher is None:
        searcher = _local.searcher = Searcher()
    return searcher


def search(
    model: SearchModel,
    root: RootOutput,
    *,
    num_simulations: int,
    discount: float,
    pb_c_base: float = 19652.0,
    pb_c_init: float = 1.25,
    dirichlet_alpha: float = 0.3,
    exploration_fraction: float = 0.0,
    legal_actions: np.ndarray | None = None,
    rng: np.random.Generator,
    searcher: Searcher | None = None,
    rules: SearchRules = DEFAULT_RULES,
) -> SearchOutput:
    """Batched MCTS from B roots (see :mod:`efficientzero.search.tree` for the exact rules).

    ``root`` holds the prediction for B root observations (prior logits [B, A]); ``legal_actions``
    [B, A] bool masks the root (None: all legal). Root noise (``exploration_fraction`` > 0) is
    drawn from ``rng`` first, then one tie-break seed per root. ``searcher`` defaults to this
    thread's shared one.
    """
    if num_simulations < 0:
        raise ValueError(f"num_simulations must be >= 0, got {num_simulations}")
    logits, legal = host_root(root, legal_actions)
    noise = None
    if exploration_fraction > 0.0:
        noise = dirichlet_noise(rng, legal, dirichlet_alpha)
    prior = root_prior(logits, legal, noise, exploration_fraction)
    seeds = tie_break_seeds(rng, len(logits))
    return (searcher or default_searcher()).run(
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
    )
