"""Where work runs: the device a config names and, for the Ray runtime, object-store size,
CPU and GPU shares, devices and seeds.

Plain functions of the config and the cluster's resources (no Ray here; ``run/ray.py`` asks
Ray for the resources and passes them in).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from efficientzero.config import Config, ConfigError
from efficientzero.envs import EnvSpec

MIN_OBJECT_STORE = 256 * 2**20


def resolve_device(name: str) -> torch.device:
    """The torch device of ``config.device``: "auto" is CUDA when there is a GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return torch.device(name)


def bytes_per_step(spec: EnvSpec) -> int:
    """Replay bytes of one stored step: its frame, policy, action, reward and root value."""
    frame = int(np.prod(spec.frame_shape)) * spec.frame_dtype.itemsize
    policy = spec.num_actions * (1 + spec.action_dim)  # continuous: weights and samples
    return frame + 4 * policy + 4 * spec.action_dim + 16


def default_object_store_memory(config: Config, spec: EnvSpec, system_memory: int) -> int:
    """Object-store bytes for a local cluster, from the run's replay size and batches in flight.

    The store carries trajectory blocks on their way to replay, sampled positions and batches
    (a few per reanalysis worker) and, at each checkpoint, one snapshot of the whole replay:
    1.5 x the replay's final size plus the batches, between 256 MiB and half the memory.
    Atari 100k: about 5.6 GiB (the reference kept a fixed 150 GB).
    """
    step = bytes_per_step(spec)
    replay = min(config.total_env_steps, config.replay_capacity) * step
    k, s = config.unroll_steps, config.frame_stack
    frames_per_position = (s + k) + (k + 1) * s  # observations + bootstrap observations
    batch = config.batch_size * frames_per_position * step
    in_flight = 4 * (config.num_reanalyzers + 1) * batch
    wanted = int(1.5 * replay + in_flight)
    return int(min(max(wanted, MIN_OBJECT_STORE), system_memory // 2))


def system_memory() -> int:
    """Physical memory in bytes (8 GiB where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 8 * 2**30


def cpu_share(config: Config, cluster_cpus: float) -> float:
    """CPUs each self-play and reanalysis actor asks for: one, or an equal part of a small machine.

    Ray places an actor only where its CPUs are free; asking for less than one on a machine
    with fewer cores than workers lets them all run (the OS shares the cores).
    """
    workers = config.num_actors + config.num_reanalyzers
    return max(math.floor(100 * min(1.0, cluster_cpus / workers)) / 100, 0.01)


def gpu_shares(config: Config, cluster_gpus: float) -> tuple[float, float]:
    """(per self-play actor, per reanalysis worker) GPU shares that fit the cluster.

    Without GPUs (or with ``device="cpu"``) both are 0. The learner runs in the driver, which
    Ray does not schedule, so its share (when it is on a GPU) is kept out; worker requests that
    do not fit the rest are scaled down together, so defaults meant for one GPU still work with
    more workers.
    """
    if cluster_gpus <= 0 or config.device == "cpu":
        return 0.0, 0.0
    actor, reanalyzer = config.actor_gpus, config.reanalyzer_gpus
    for name, share in (("actor_gpus", actor), ("reanalyzer_gpus", reanalyzer)):
        if share > 1 and share != int(share):
            raise ConfigError(f"{name} above 1 must be a whole number of GPUs, got {share}")
    learner = config.learner_gpus if learner_device(config).type == "cuda" else 0.0
    free = max(cluster_gpus - learner, 0.0)
    total = config.num_actors * actor + config.num_reanalyzers * reanalyzer
    if total > free:
        actor, reanalyzer = (_fraction(x * free / total) for x in (actor, reanalyzer))
    return actor, reanalyzer


def _fraction(share: float) -> float:
    """A share Ray accepts: whole GPUs above one, 4 decimals below."""
    return float(math.floor(share)) if share > 1 else math.floor(1e4 * share) / 1e4


def learner_device(config: Config) -> torch.device:
    """The driver's learner: ``config.device``; with "auto", a GPU only when ``learner_gpus`` > 0."""
    if config.device != "auto":
        return resolve_device(config.device)
    use_gpu = config.learner_gpus > 0 and torch.cuda.is_available()
    return torch.device("cuda" if use_gpu else "cpu")


def worker_device(config: Config, gpu_share: float) -> torch.device:
    """A worker searches on the GPU Ray gave it, if it was given a share of one."""
    use_gpu = gpu_share > 0 and config.device != "cpu" and torch.cuda.is_available()
    return torch.device("cuda" if use_gpu else "cpu")


def worker_seed(seed: int, role: int, index: int, incarnation: int) -> int:
    """A seed of its own for each worker and each of its restarts."""
    return int(np.random.SeedSequence([seed, role, index, incarnation]).generate_state(1)[0])
