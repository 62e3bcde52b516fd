"""Benchmarks of the library's hot paths (never run as tests).

``efficientzero bench search`` prints the search benchmark as JSON. The search is driven by a
fake model whose cost does not depend on the tree, so the figures measure the search itself:
kernels, root preparation and the glue around the network call (embedding gathers and stores,
host/device transfers).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from efficientzero.search import Searcher, search
from efficientzero.types import Embedding, RecurrentOutput, RootOutput

STATES: dict[str, tuple[tuple[int, ...], int]] = {
    "none": ((0,), 0),
    "small": ((64,), 64),
    "atari": ((64, 6, 6), 512),
}
"""Embedding sizes: name -> (latent shape, LSTM state size). "atari" is the EfficientZero
network's (a 64x6x6 latent, two 512-float LSTM states per node), as the reference code carries;
"none" moves no latent or LSTM state (only the value prefix and depth): the tree's own cost."""


class FakeModel:
    """A :class:`~efficientzero.types.SearchModel` that hands out pre-generated outputs, with an
    EfficientZero-shaped embedding (latent [B, *latent_shape], LSTM h and c [B, lstm_dim],
    value prefix [B], depth [B]).

    Its cost per call does not depend on the tree or on B: it returns the next of ``pool_size``
    outputs made in advance (random reward, value, logits and latent and LSTM states), so a
    search still gathers every parent's embedding as with a real network. With ``pool_size`` at
    least the simulations of a search every node's embedding lives in its own tensor, as a real
    network's new outputs do (the CPU search keeps them where they are, so a smaller pool would
    make its memory traffic cache-friendlier than a network's).
    """

    def __init__(
        self,
        num_actions: int,
        latent_shape: tuple[int, ...] = (64,),
        lstm_dim: int = 64,
        device: str | torch.device = "cpu",
        seed: int = 0,
        pool_size: int = 64,
    ) -> None:
        self.num_actions, self.latent_shape, self.lstm_dim = num_actions, latent_shape, lstm_dim
        self.pool_size = pool_size
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.pool: dict[int, list[RecurrentOutput]] = {}
        self.calls = 0

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _embedding(self, batch: int) -> Embedding:
        return (
            self._rand(batch, *self.latent_shape),
            self._rand(batch, self.lstm_dim),
            self._rand(batch, self.lstm_dim),
            self._rand(batch),
            torch.randint(0, 5, (batch,), generator=self.generator, device=self.device),
        )

    def root(self, batch: int) -> RootOutput:
        return RootOutput(
            self._rand(batch, self.num_actions), self._rand(batch), self._embedding(batch)
        )

    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        batch = action.shape[0]
        pool = self.pool.get(batch)
        if pool is None:
            pool = self.pool[batch] = [
                RecurrentOutput(
                    self._rand(batch),
                    self._rand(batch),
                    self._rand(batch, self.num_actions),
                    self._embedding(batch),
                )
                for _ in range(self.pool_size)
            ]
        self.calls += 1
        return pool[self.calls % self.pool_size]


def _time_search(
    batch: int,
    num_actions: int,
    simulations: int,
    repeats: int,
    device: str,
    state: str,
    threads: int,
    graphs: bool = False,
) -> dict[str, Any]:
    latent_shape, lstm_dim = STATES[state]
    model = FakeModel(num_actions, latent_shape, lstm_dim, device=device, pool_size=simulations + 1)
    root = model.root(batch)
    searcher = Searcher(threads=threads, graphs=graphs)
    rng = np.random.default_rng(0)

    def once() -> float:
        start = time.perf_counter()
        search(
            model, root, num_simulations=simulations, discount=0.997**4,
            exploration_fraction=0.25, rng=rng, searcher=searcher,
        )  # fmt: skip
        return time.perf_counter() - start

    once()  # numba compilation (or cache load) and buffer allocation
    seconds = statistics.median(once() for _ in range(repeats))
    return {
        "state": state,
        "search_threads": threads,
        "cuda_graphs": graphs,
        "batch": batch,
        "actions": num_actions,
        "simulations": simulations,
        "seconds_per_search": seconds,
        "sims_per_s": batch * simulations / seconds,
    }


def bench_search(
    batches: tuple[int, ...] = (1, 8, 64, 256, 1536),
    actions: tuple[int, ...] = (4, 18),
    simulations: int = 50,
    repeats: int = 5,
    device: str = "cpu",
    states: tuple[str, ...] = tuple(STATES),
    threads: int = 1,
    graphs: bool = False,
) -> dict[str, Any]:
    """Median seconds per batched search (root noise on, as in self-play) for each state size,
    A and B.

    Returns ``{"results": [{"state", "batch", "actions", "simulations", "seconds_per_search",
    "sims_per_s"}, ...]}`` with ``sims_per_s = batch * simulations / seconds_per_search``.
    """
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        raise ValueError(f"unknown state size {unknown[0]!r}; choose from {', '.join(STATES)}")
    results = [
        _time_search(b, a, simulations, repeats, device, state, threads, graphs)
        for state in states
        for a in actions
        for b in batches
    ]
    return {"device": device, "torch_threads": torch.get_num_threads(), "results": results}
