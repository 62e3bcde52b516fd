"""The Ray runtime: the local loop's parts as Ray actors. The only module that imports Ray.

One process each (arrows are the data)::

    SelfPlayWorker x num_actors  -- finished blocks -->  ReplayServer  -- sampled positions -->
        |  claim steps, episode returns                     ^ priorities       ReanalysisWorker
        v                                                   |                   x num_reanalyzers
    SharedState (counters, the self-play gate, weights) <-+- driver = learner <-- batches ---'

The driver is the learner (``DriverCore``, on ``config.device``; with ``learner_gpus`` > 0 on
a GPU when there is one): it takes reanalysed batches as they finish, steps, writes priorities
back, and publishes weights -- to self-play through the shared store every
``selfplay_update_interval`` updates, to reanalysis with its next calls every
``target_update_interval``. It also evaluates, checkpoints (the local runtime's layout) and
logs. The gate and the waits that name the bottleneck are in ``run/distributed.py``.

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

from efficientzero.actor import SelfPlayActor, visit_temperature
from efficientzero.config import Config
from efficientzero.envs import EnvSpec, env_spec, make_env
from efficientzero.nets import InferenceModel, build_network
from efficientzero.reanalyze import Reanalyzer
from efficientzero.run.common import RunDirectory, inference_copy
from efficientzero.run.distributed import (
    ProgressLine,
    ReplayServer,
    SharedState,
    Snapshot,
    Ticket,
    WeightsRef,
)
from efficientzero.run.driver import DriverCore
from efficientzero.run.local import replay_beta, update_budget
from efficientzero.run.placement import (
    cpu_share,
    default_object_store_memory,
    gpu_shares,
    system_memory,
    worker_device,
    worker_seed,
)
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
        net = build_network(config, self.spec.frame_shape, self.spec.num_actions)
        device = worker_device(config, gpu_share)
        self.model: InferenceModel = inference_copy(net.to(device), config)
        self.version: int = -1

    def _load(self, weights: WeightsRef) -> None:
        if weights.version != self.version:
            self.model.net.load_state_dict(ray.get(weights.ref[0]))
            self.version = weights.version


class SelfPlayWorker(_Worker):
    """``num_envs`` environments and one ``SelfPlayActor``, stepping until collection is done."""

    def __init__(self, config: Config, index: int, names: ActorNames, gpu_share: float) -> None:
        super().__init__(config, f"selfplay-{index}", names, gpu_share)
        envs = [make_env(config) for _ in range(config.num_envs)]
        seed = worker_seed(config.seed, SELFPLAY, index, self.incarnation)
        self.actor = SelfPlayActor(config, self.model, envs, self.spec.num_actions, seed)

    def run(self) -> None:
        """Claim steps from the shared store, act, hand finished blocks to replay; repeat."""
        c, returns, waited = self.config, list[float](), 0.0
        while True:
            asked = time.perf_counter()
            ticket: Ticket = ray.get(self.storage.claim.remote(c.num_envs, returns, waited))
            returns, waited = [], 0.0
            if ticket.done:
                return
            if not ticket.go:  # ahead of the learner: wait for it (reported with the next claim)
                time.sleep(POLL_S)
                waited = time.perf_counter() - asked
                continue
            if ticket.weights_version != self.version:
                self._load(ray.get(self.storage.weights.remote()))
            result = self.actor.step(
                visit_temperature(c, ticket.updates), random_actions=ticket.random_actions
            )
            if result.blocks:
                size, added = ray.get(self.replay.add.remote(result.blocks))
                self.storage.replay_stats.remote(size, added)
            returns = result.episode_returns


class ReanalysisWorker(_Worker):
    """Samples positions from replay and reanalyses them into a batch with the target network."""

    def __init__(self, config: Config, index: int, names: ActorNames, gpu_share: float) -> None:
        super().__init__(config, f"reanalysis-{index}", names, gpu_share)
        seed = worker_seed(config.seed, REANALYSIS, index, self.incarnation)
        self.reanalyzer = Reanalyzer(config, self.model, seed)

    def make_batch(self, beta: float, target: WeightsRef) -> Batch:
        """One batch on the CPU (the learner moves it to its device)."""
        self._load(target)
        sampled: SampledPositions = ray.get(self.replay.sample.remote(self.config.batch_size, beta))
        with _reading_object_store():
            return self.reanalyzer.make_batch(sampled, torch.device("cpu"))


class RayRun(DriverCore):
    """The driver: ``DriverCore`` (learner, evaluation, checkpoints) plus the actors around it."""

    def __init__(self, config: Config, run_dir: RunDirectory, *, progress: bool = True) -> None:
        super().__init__(config, run_dir)
        c = config
        self.progress = progress
        sample_seed = int(np.random.SeedSequence(c.seed).generate_state(3)[2])  # as the local one
        self.names = ActorNames.unique()
        self.replay: Any = _shared(ReplayServer, self.names.replay).remote(c, sample_seed)
        self.storage: Any = None
        self.selfplay: list[Any] = []
        self.reanalysis: list[Any] = []
        self.runs: list[Any] = []  # the self-play actors' run() calls
        self.pending: dict[Any, int] = {}  # batch being made -> reanalysis worker index
        self.version = 0
        self.target = WeightsRef(0, [])
        self.snapshot = Snapshot()

    # ------------------------------------------------------------------ set-up
    def restore(self) -> None:
        """Continue from ``checkpoints/latest.pt`` (written by either runtime)."""
        replay, sample_rng = self.restore_core()
        ray.get(self.replay.load_state_dict.remote(replay, sample_rng))

    def _put(self, weights: dict[str, torch.Tensor]) -> WeightsRef:
        self.version += 1
        return WeightsRef(self.version, [ray.put(weights)])

    def _start_workers(self) -> None:
        c, n = self.config, self.counters
        self.storage = _shared(SharedState, self.names.storage).remote(
            c, n.env_steps, n.updates, n.episodes
        )
        self.storage.replay_stats.remote(*ray.get(self.replay.stats.remote()))
        self.storage.set_weights.remote(self._put(self.selfplay_weights))
        self.target = self._put(self.target_weights)
        resources = ray.cluster_resources()
        cpu = cpu_share(c, resources.get("CPU", 1.0))
        actor_gpu, reanalyzer_gpu = gpu_shares(c, resources.get("GPU", 0.0))
        selfplay = ray.remote(**_restartable(cpu, actor_gpu))(SelfPlayWorker)
        reanalysis = ray.remote(**_restartable(cpu, reanalyzer_gpu))(ReanalysisWorker)
        self.selfplay = [selfplay.remote(c, i, self.names, actor_gpu) for i in range(c.num_actors)]
        self.reanalysis = [
            reanalysis.remote(c, i, self.names, reanalyzer_gpu) for i in range(c.num_reanalyzers)
        ]
        self.runs = [worker.run.remote() for worker in self.selfplay]

    def _stop_workers(self) -> None:
        for handle in [*self.selfplay, *self.reanalysis, self.storage, self.replay]:
            if handle is not None:
                ray.kill(handle, no_restart=True)

    # ------------------------------------------------------------------ steps of the loop
    def _sync(self) -> None:
        """Report the update count to the shared store; take its counters and episode returns."""
        c, n = self.config, self.counters
        snap = self.snapshot = ray.get(self.storage.sync.remote(n.updates))
        n.env_steps, n.episodes = snap.env_steps, snap.episodes
        self.waits.selfplay_wait_s = snap.selfplay_wait_s / c.num_actors
        self.episodes_finished(snap.episode_returns)

    def _fill_pipeline(self, in_hand: int = 0) -> None:
        """Keep PREFETCH batches queued at every reanalysis worker (none beyond the last update:
        ``in_hand`` batches have been taken but not learned from yet)."""
        c, n = self.config, self.counters
        queued = [0] * len(self.reanalysis)
        for index in self.pending.values():
            queued[index] += 1
        for index, worker in enumerate(self.reanalysis):
            while queued[index] < PREFETCH and (
                n.updates + in_hand + len(self.pending) < c.total_updates
            ):
                ref = worker.make_batch.remote(replay_beta(c, n.updates), self.target)
                self.pending[ref] = index
                queued[index] += 1

    def _next_batch(self) -> Batch:
        """The first reanalysed batch to be ready (the learner's wait is timed)."""
        self._fill_pipeline()
        start = time.perf_counter()
        ready, _ = ray.wait(list(self.pending), num_returns=1)
        batch = ray.get(ready[0])
        self.waits.learner_wait_s += time.perf_counter() - start
        del self.pending[ready[0]]
        self._fill_pipeline(in_hand=1)  # reanalysis works on while the learner steps
        return batch

    def update(self) -> None:
        """One update; new priorities go to replay, due weights to the workers."""
        batch = self._next_batch()
        priorities, selfplay_due, target_due = self.learn(batch)
        self.replay.update_priorities.remote(batch.indices, priorities)
        if selfplay_due:  # self-play actors pull them from the shared store
            self.storage.set_weights.remote(self._put(self.selfplay_weights))
        if target_due:  # reanalysis gets them with its next calls
            self.target = self._put(self.target_weights)

    def save(self, final: bool = False) -> None:
        # Replay first, counters after: the checkpoint never holds steps it does not count.
        replay, sample_rng = ray.get(self.replay.state_dict.remote())
        self._sync()
        with _reading_object_store():
            self.write_checkpoint(replay, sample_rng, final)

    # ------------------------------------------------------------------ the loop
    def run(self, on_tick: Callable[[RayRun], None] | None = None) -> dict[str, Any]:
        c, n = self.config, self.counters
        self.bar = ProgressLine(c, self.progress, n.env_steps + n.updates)
        self.bar.write(self.header())
        try:
            self._start_workers()
            self._loop(on_tick)
            ray.get(self.runs)  # the last blocks are in replay before the final checkpoint
            self._sync()
            record = self.evaluate(sum(self.snapshot.restarts.values()))
            self.save(final=True)
        except KeyboardInterrupt:
            if self.storage is not None:
                self.save()
            raise
        finally:
            self._stop_workers()
            self.logger.close()
            self.bar.close()
        return record

    def _loop(self, on_tick: Callable[[RayRun], None] | None) -> None:
        c, n = self.config, self.counters
        record: dict[str, Any] = {}
        start, offset = time.perf_counter(), n.wall_seconds
        while n.env_steps < c.total_env_steps or n.updates < c.total_updates:
            self._sync()
            if n.updates < update_budget(c, n.env_steps) and self.snapshot.replay_size > 0:
                self.update()
                if n.updates % c.checkpoint_interval == 0:
                    n.wall_seconds = offset + time.perf_counter() - start
                    self.save()
            else:  # no update budget: self-play has to collect more first
                idle = time.perf_counter()
                time.sleep(POLL_S)
                self.waits.learner_idle_s += time.perf_counter() - idle
            n.wall_seconds = offset + time.perf_counter() - start
            if n.env_steps >= n.next_eval and n.env_steps < c.total_env_steps:
                while n.next_eval <= n.env_steps:
                    n.next_eval += max(c.eval_interval, 1)
                record = self.evaluate(sum(self.snapshot.restarts.values()))
            if self.bar.tick(n, self.waits, self.recent_returns, record):
                self._check_workers()
            if on_tick is not None:
                on_tick(self)

    def _check_workers(self) -> None:
        """Raise the error of a self-play actor that stopped for good (its restarts used up)."""
        ready, _ = ray.wait(self.runs, num_returns=len(self.runs), timeout=0)
        ray.get(ready)

    def replay_stats(self) -> tuple[int, int]:
        """(positions stored, positions ever added), asked of replay itself."""
        return ray.get(self.replay.stats.remote())

    def worker_pids(self) -> dict[str, int]:
        """Process ids of the workers by name ("selfplay-0", "reanalysis-0", ...)."""
        return ray.get(self.storage.pids.remote())


def train_ray(
    config: Config,
    run_dir: RunDirectory,
    *,
    resume: bool = False,
    progress: bool = True,
    on_tick: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) ``config`` on Ray; returns the last evaluation record.

    Starts a local cluster (or joins ``config.ray_address``) unless this process already has
    a Ray session, which is then reused and left running. ``on_tick(run)`` is called on every
    turn of the driver's loop (tests use it to kill workers mid-run).
    """
    opened = init_ray(config)
    try:
        run = RayRun(config, run_dir, progress=progress)
        if resume:
            run.restore()
        return run.run(on_tick=on_tick)
    finally:
        if opened:
            ray.shutdown()
