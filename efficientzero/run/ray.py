"""The Ray runtime: the local loop's parts as Ray actors. The only module that imports Ray.

One process each (arrows are the data)::

    SelfPlayWorker x num_actors  -- finished blocks -->  ReplayServer  -- sampled positions -->
        |  claim steps, episode returns                     ^ priorities       ReanalysisWorker
        v                                                   |                   x num_reanalyzers
    SharedState (counters, the self-play gate, weights) <-+- driver = learner <-- batches ---'

The driver runs the ``Trainer`` (``run/trainer.py``, the schedule every runtime shares) over a
``RaySource``: the learner (on ``config.device``; with ``learner_gpus`` > 0 on a GPU when
there is one) takes reanalysed batches as they finish, writes priorities back, and publishes
weights -- to self-play through the shared store, to reanalysis with its next calls. The gate
and the waits that name the bottleneck are in ``run/distributed.py``.

Fault tolerance: self-play and reanalysis actors are restarted when their process dies and
their running and queued calls are retried (a self-play actor loses its unfinished episodes,
never what replay already holds). Replay and the shared store are not restartable; the
driver's checkpoint (``--resume``) covers them and the driver itself.

With ``ray_address`` the run joins a running cluster as it is; every node must be able to
import this package (the same version as the driver).
"""

from __future__ import annotations

import contextlib
import logging
import os

# Ray on Linux turns a node address of 127.0.0.1 into the machine's outward address, and then
# binds its servers to every interface, unless this (its single-machine switch for macOS and
# Windows) is off. It is read when ray is imported, so it is set first. It only affects a
# cluster started here: a driver joining a running cluster takes that cluster's node address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import ray
import torch

from efficientzero.actor import SelfPlayActor, explore_probability, visit_temperature
from efficientzero.checkpoint import generator_state, set_generator_state
from efficientzero.config import Config
from efficientzero.envs import EnvSpec, env_spec, make_env
from efficientzero.nets import AgentModel, build_inference
from efficientzero.reanalyze import Reanalyzer
from efficientzero.run.directory import RunDirectory
from efficientzero.run.distributed import (
    ReplayServer,
    SharedState,
    Snapshot,
    Ticket,
    WaitClock,
    WeightsRef,
    arrays_to_weights,
    weights_to_arrays,
)
from efficientzero.run.placement import (
    cpu_share,
    default_object_store_memory,
    gpu_shares,
    learner_device,
    system_memory,
    worker_device,
    worker_seed,
)
from efficientzero.run.schedule import Counters, component_seeds
from efficientzero.run.trainer import Collected, Trainer, Weights
from efficientzero.types import Batch, SampledPositions

LOOPBACK = "127.0.0.1"
POLL_S = 0.005
"""How long a waiting side sleeps before asking again."""
MAX_RESTARTS = 8
"""Restarts of each self-play and reanalysis actor before the run gives up."""
PREFETCH = 2
"""Batches queued at each reanalysis worker, so the learner rarely finds none ready."""
SELFPLAY, REANALYSIS = 1, 2  # roles in worker seeds


# ---------------------------------------------------------------------------------- cluster


def init_ray(config: Config, *, num_cpus: int | None = None) -> bool:
    """Connect to ``config.ray_address`` or start a local cluster on 127.0.0.1 only.

    Returns False when a Ray session already exists in this process (it is reused and left
    running), True when this call opened one (the caller shuts it down).
    """
    if ray.is_initialized():
        return False
    if config.ray_address is not None:  # a running cluster: join it, change nothing
        ray.init(address=config.ray_address, logging_level=logging.WARNING)
        return True
    gpus = torch.cuda.device_count() if config.device != "cpu" else 0
    memory = config.object_store_memory or default_object_store_memory(
        config, env_spec(config), system_memory()
    )
    ray.init(
        address="local",  # a new cluster, never one found through RAY_ADDRESS or `ray start`
        num_cpus=num_cpus,
        num_gpus=gpus,
        object_store_memory=memory,
        include_dashboard=config.ray_dashboard,
        dashboard_host=LOOPBACK,
        _node_ip_address=LOOPBACK,
        logging_level=logging.WARNING,
    )
    if ray.util.get_node_ip_address() != LOOPBACK:
        ray.shutdown()
        raise RuntimeError(
            "the local Ray cluster would listen beyond 127.0.0.1: ray was imported before "
            "efficientzero.run.ray; import efficientzero.run.ray first"
        )
    return True


@dataclass(frozen=True)
class ActorNames:
    """Names of one run's shared actors (unique, so runs can share a Ray session)."""

    storage: str
    replay: str

    @classmethod
    def unique(cls) -> ActorNames:
        run = uuid.uuid4().hex[:12]
        return cls(f"efficientzero-{run}-storage", f"efficientzero-{run}-replay")


@contextlib.contextmanager
def _reading_object_store() -> Iterator[None]:
    """Arrays from the object store are read-only views; torch warns when it wraps them, though
    they are only read here (into a batch that is sent on, or into a checkpoint file)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        yield


def _limit_threads(config: Config) -> None:
    """Workers share the machine: ``num_threads`` torch threads each, one unless set."""
    torch.set_num_threads(config.num_threads or 1)


def _shared(cls: type, name: str) -> Any:
    """A run's replay or shared store: named (workers look it up), light on CPU, not restartable."""
    return ray.remote(num_cpus=0)(cls).options(name=name)


def _restartable(cpus: float, gpus: float) -> dict[str, Any]:
    """Actor options of self-play and reanalysis workers."""
    return {
        "num_cpus": cpus,
        "num_gpus": gpus,
        "max_restarts": MAX_RESTARTS,
        "max_task_retries": -1,  # calls cut short by a restart are retried (while restarts last)
    }


# ---------------------------------------------------------------------------------- workers


class _Worker:
    """What self-play and reanalysis workers share: registration, device, a network copy."""

    def __init__(self, config: Config, name: str, names: ActorNames, gpu_share: float) -> None:
        _limit_threads(config)
        self.config = config
        # Looked up by name: handles passed to a restartable actor's constructor would be
        # lineage Ray cannot rebuild (it warns about them at every start).
        self.storage: Any = ray.get_actor(names.storage)
        self.replay: Any = ray.get_actor(names.replay)
        # Counting starts tells a restarted worker apart: it takes fresh random streams.
        self.incarnation = cast(int, ray.get(self.storage.register.remote(name, os.getpid())))
        self.spec: EnvSpec = env_spec(config)
        device = worker_device(config, gpu_share)
        self.model: AgentModel = build_inference(
            config,
            self.spec.frame_shape,
            self.spec.num_actions,
            device=device,
            action_dim=self.spec.action_dim,
        )
        self.version: int = -1

    def _resume(self, rng: np.random.Generator, generator: str | None) -> bool:
        """A first start continues the checkpoint's stream; a restart keeps its fresh one."""
        if generator is None or self.incarnation > 0:
            return False
        set_generator_state(rng, generator)
        return True

    def _load(self, weights: WeightsRef) -> None:
        if weights.version != self.version:
            self.model.net.load_state_dict(arrays_to_weights(ray.get(weights.ref[0])))
            self.version = weights.version


class SelfPlayWorker(_Worker):
    """``num_envs`` environments and one ``SelfPlayActor``, stepping until collection is done."""

    def __init__(
        self,
        config: Config,
        index: int,
        names: ActorNames,
        gpu_share: float,
        generator: str | None = None,
    ) -> None:
        self.name = f"selfplay-{index}"
        super().__init__(config, self.name, names, gpu_share)
        envs = [make_env(config) for _ in range(config.num_envs)]
        seed = worker_seed(config.seed, SELFPLAY, index, self.incarnation)
        self.actor = SelfPlayActor(config, self.model, envs, self.spec.num_actions, seed)
        if self._resume(self.actor.rng, generator):
            self.actor.reset_envs()  # the episodes in flight at the checkpoint restart

    def run(self) -> None:
        """Claim steps from the shared store, act, hand finished blocks to replay; repeat."""
        c, returns, waited, searched, held = self.config, list[float](), 0.0, 0, 0
        while True:
            asked = time.perf_counter()
            state = generator_state(self.actor.rng)
            ticket: Ticket = ray.get(
                self.storage.claim.remote(
                    c.num_envs, returns, waited, self.name, state, searched, held
                )
            )
            returns, waited, searched, held = [], 0.0, 0, 0
            if ticket.done:
                return
            if not ticket.go:  # ahead of the learner: wait for it (reported with the next claim)
                time.sleep(POLL_S)
                waited = time.perf_counter() - asked
                continue
            if ticket.weights_version != self.version:
                self._load(ray.get(self.storage.weights.remote()))
            result = self.actor.step(
                visit_temperature(c, ticket.updates),
                random_actions=ticket.random_actions,
                explore=explore_probability(c, ticket.updates),
            )
            if result.blocks:
                size, added = ray.get(self.replay.add.remote(result.blocks))
                self.storage.replay_stats.remote(size, added)
            returns, searched, held = result.episode_returns, result.searched, result.held


class ReanalysisWorker(_Worker):
    """Samples positions from replay and reanalyses them into a batch with the target network."""

    def __init__(
        self,
        config: Config,
        index: int,
        names: ActorNames,
        gpu_share: float,
        generator: str | None = None,
    ) -> None:
        super().__init__(config, f"reanalysis-{index}", names, gpu_share)
        seed = worker_seed(config.seed, REANALYSIS, index, self.incarnation)
        self.reanalyzer = Reanalyzer(config, self.model, seed)
        self._resume(self.reanalyzer.rng, generator)

    def generator(self) -> str:
        """This worker's generator state (after the batches asked of it before)."""
        return generator_state(self.reanalyzer.rng)

    def make_batch(self, beta: float, target: WeightsRef) -> dict[str, np.ndarray]:
        """One batch as numpy arrays (``Reanalyzer.make_arrays``): the object store keeps them
        without pickling and the learner reads them in place (``Batch.from_arrays``)."""
        self._load(target)
        sampled: SampledPositions = ray.get(self.replay.sample.remote(self.config.batch_size, beta))
        with _reading_object_store():
            return self.reanalyzer.make_arrays(sampled)


class RaySource:
    """The trainer's data: self-play and reanalysis actors around a replay actor.

    Self-play runs on its own, gated by the shared store so it stays within a few steps of the
    learner's budget; ``collect`` reports what it did. Reanalysis keeps ``PREFETCH`` batches
    queued per worker, made with the target weights last published.
    """

    name = "ray"

    def __init__(self, config: Config) -> None:
        self.config = c = config
        self.names = ActorNames.unique()
        sample_seed = component_seeds(c)[2]  # as the local runtime's
        self.replay: Any = _shared(ReplayServer, self.names.replay).remote(c, sample_seed)
        self.storage: Any = None
        self.selfplay: list[Any] = []
        self.reanalysis: list[Any] = []
        self.runs: list[Any] = []  # the self-play actors' run() calls
        self.pending: dict[Any, int] = {}  # batch being made -> reanalysis worker index
        self.version = 0
        self.target = WeightsRef(0, [])
        self.snapshot = Snapshot()
        self.waits = WaitClock()
        self.generators: dict[str, list[str]] = {"actor": [], "reanalyzer": []}

    # ------------------------------------------------------------------ set-up
    def _put(self, weights: Weights) -> WeightsRef:
        self.version += 1
        return WeightsRef(self.version, [ray.put(weights_to_arrays(weights))])

    def start(self, counters: Counters, selfplay: Weights, target: Weights) -> None:
        c, n = self.config, counters
        self.storage = _shared(SharedState, self.names.storage).remote(
            c, n.env_steps, n.updates, n.episodes
        )
        self.storage.replay_stats.remote(*ray.get(self.replay.stats.remote()))
        self.storage.set_weights.remote(self._put(selfplay))
        self.target = self._put(target)
        resources = ray.cluster_resources()
        cpu = cpu_share(c, resources.get("CPU", 1.0))
        actor_gpu, reanalyzer_gpu = gpu_shares(c, resources.get("GPU", 0.0))
        selfplay_cls = ray.remote(**_restartable(cpu, actor_gpu))(SelfPlayWorker)
        reanalysis_cls = ray.remote(**_restartable(cpu, reanalyzer_gpu))(ReanalysisWorker)
        saved = self.generators
        self.selfplay = [
            selfplay_cls.remote(c, i, self.names, actor_gpu, _nth(saved["actor"], i))
            for i in range(c.num_actors)
        ]
        self.reanalysis = [
            reanalysis_cls.remote(c, i, self.names, reanalyzer_gpu, _nth(saved["reanalyzer"], i))
            for i in range(c.num_reanalyzers)
        ]
        self.runs = [worker.run.remote() for worker in self.selfplay]

    def close(self) -> None:
        for handle in [*self.selfplay, *self.reanalysis, self.storage, self.replay]:
            if handle is not None:
                ray.kill(handle, no_restart=True)

    # ------------------------------------------------------------------ data
    def collect(self, counters: Counters, learner_idle: bool) -> Collected:
        """What self-play did since the last call; with ``learner_idle`` wait a moment first."""
        if learner_idle:
            idle = time.perf_counter()
            time.sleep(POLL_S)
            self.waits.learner_idle_s += time.perf_counter() - idle
        snap = self.snapshot = ray.get(self.storage.sync.remote(counters.updates))
        self.waits.selfplay_wait_s = snap.selfplay_wait_s / self.config.num_actors
        new_steps = snap.env_steps - counters.env_steps
        return Collected(
            new_steps, list(snap.episode_returns), snap.replay_size, snap.searched, snap.held
        )

    def _fill_pipeline(self, beta: float, updates: int) -> None:
        """Keep PREFETCH batches queued at every reanalysis worker (none beyond the last update:
        ``updates`` counts the batches already taken)."""
        queued = [0] * len(self.reanalysis)
        for index in self.pending.values():
            queued[index] += 1
        for index, worker in enumerate(self.reanalysis):
            while queued[index] < PREFETCH and (
                updates + len(self.pending) < self.config.total_updates
            ):
                ref = worker.make_batch.remote(beta, self.target)
                self.pending[ref] = index
                queued[index] += 1

    def next_batch(self, beta: float, updates: int) -> Batch:
        """The first reanalysed batch to be ready (the learner's wait is timed)."""
        self._fill_pipeline(beta, updates)
        start = time.perf_counter()
        ready, _ = ray.wait(list(self.pending), num_returns=1)
        with _reading_object_store():
            batch = Batch.from_arrays(ray.get(ready[0]), torch.device("cpu"))
        self.waits.learner_wait_s += time.perf_counter() - start
        del self.pending[ready[0]]
        self._fill_pipeline(beta, updates + 1)  # reanalysis works on while the learner steps
        return batch

    def write_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        self.replay.update_priorities.remote(indices, priorities)

    def publish(self, selfplay: Weights | None, target: Weights | None) -> None:
        if selfplay is not None:  # self-play actors pull them from the shared store
            self.storage.set_weights.remote(self._put(selfplay))
        if target is not None:  # reanalysis gets them with its next calls
            self.target = self._put(target)

    def finish(self, counters: Counters) -> Collected:
        ray.get(self.runs)  # the last blocks are in replay before the final checkpoint
        return self.collect(counters, learner_idle=False)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        replay, sample_rng = ray.get(self.replay.state_dict.remote())
        reported = ray.get(self.storage.generators.remote())
        actors = [reported.get(f"selfplay-{i}") for i in range(self.config.num_actors)]
        reanalyzers = ray.get([worker.generator.remote() for worker in self.reanalysis])
        return {
            "replay": replay,
            "rng": {
                "actor": [s for s in actors if s is not None],
                "reanalyzer": list(reanalyzers),
                "sample": sample_rng,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rng = state["rng"]
        ray.get(self.replay.load_state_dict.remote(state["replay"], rng["sample"]))
        self.generators = {k: _as_list(rng.get(k)) for k in ("actor", "reanalyzer")}

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict[str, Any]:
        return {
            **self.waits.fields(),
            "bottleneck": self.waits.bottleneck(),
            "restarts": sum(self.snapshot.restarts.values()),
        }

    def scalars(self) -> dict[str, float]:
        return self.waits.fields()

    def tick(self) -> str:
        """Mark the waits; raise the error of a self-play actor that stopped for good."""
        self.waits.mark(time.perf_counter())
        ready, _ = ray.wait(self.runs, num_returns=len(self.runs), timeout=0)
        ray.get(ready)
        return f"bottleneck {self.waits.bottleneck()}"

    def describe(self) -> str:
        c = self.config
        return (
            f" on Ray: {c.num_actors} self-play x {c.num_envs} envs, {c.num_reanalyzers} reanalysis"
        )

    def replay_stats(self) -> tuple[int, int]:
        """(positions stored, positions ever added), asked of replay itself."""
        return ray.get(self.replay.stats.remote())

    def worker_pids(self) -> dict[str, int]:
        """Process ids of the workers by name ("selfplay-0", "reanalysis-0", ...)."""
        return ray.get(self.storage.pids.remote())


def _nth(states: list[str], index: int) -> str | None:
    return states[index] if index < len(states) else None


def _as_list(states: str | list[str] | None) -> list[str]:
    """Generator states of a checkpoint: a list per role (older checkpoints hold one string)."""
    if states is None:
        return []
    return [states] if isinstance(states, str) else list(states)


def ray_trainer(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> Trainer:
    """A trainer over actors (Ray must be initialised: ``init_ray``)."""
    return Trainer(config, run_dir, RaySource(config), learner_device(config), progress=progress)


def train_ray(
    config: Config,
    run_dir: RunDirectory,
    *,
    resume: bool = False,
    progress: bool = True,
    on_tick: Callable[[Trainer], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) ``config`` on Ray; returns the last evaluation record.

    Starts a local cluster (or joins ``config.ray_address``) unless this process already has
    a Ray session, which is then reused and left running. ``on_tick(trainer)`` is called on
    every turn of the driver's loop (tests use it to kill workers mid-run).
    """
    opened = init_ray(config)
    try:
        trainer = ray_trainer(config, run_dir, progress=progress)
        if resume:
            trainer.restore()
        return trainer.run(on_tick=on_tick)
    finally:
        if opened:
            ray.shutdown()
