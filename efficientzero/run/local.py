"""The single-process runtime (the default): the trainer's data source in this process.

Self-play steps ``num_envs`` environments with one batched search whenever the learner waits
for data; finished trajectory blocks go to replay; each batch is sampled from replay and
reanalysed with the target network here. The schedule around it is ``run/trainer.py``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from efficientzero.actor import SelfPlayActor, explore_probability, visit_temperature
from efficientzero.checkpoint import generator_state, set_generator_state
from efficientzero.config import Config, ConfigError
from efficientzero.envs import env_spec, make_env
from efficientzero.nets import build_inference
from efficientzero.reanalyze import Reanalyzer
from efficientzero.run.directory import RunDirectory
from efficientzero.run.placement import resolve_device
from efficientzero.run.schedule import Counters, age_unit, component_seeds, make_replay
from efficientzero.run.trainer import Collected, Trainer, Weights
from efficientzero.types import Batch, SampledPositions


class LocalSource:
    """Self-play, replay and reanalysis in this process, stepped by the trainer."""

    name = "local"

    def __init__(self, config: Config, device: torch.device) -> None:
        self.config = c = config
        self.device = device
        spec = env_spec(c)
        actor_seed, reanalyzer_seed, sample_seed = component_seeds(c)

        def model() -> Any:
            return build_inference(
                c, spec.frame_shape, spec.num_actions, device=device, action_dim=spec.action_dim
            )

        envs = [make_env(c) for _ in range(c.num_envs)]
        self.actor = SelfPlayActor(c, model(), envs, spec.num_actions, actor_seed)
        self.reanalyzer = Reanalyzer(c, model(), reanalyzer_seed)
        self.replay = make_replay(c)
        self.sample_rng = np.random.default_rng(sample_seed)
        self.age_unit = age_unit(c)

    def start(self, counters: Counters, selfplay: Weights, target: Weights) -> None:
        self.publish(selfplay, target)

    def collect(self, counters: Counters, learner_idle: bool) -> Collected:
        """One step of every environment when the learner waits for data, else nothing."""
        c, n = self.config, counters
        if n.env_steps >= c.total_env_steps and self.replay.size == 0 and c.total_updates > 0:
            raise ConfigError(
                f"{n.env_steps} env steps filled no replay block (a block needs "
                f"block_length + unroll_steps + td_steps = {c.block_length + c.pad_steps} steps "
                "of one episode, or the episode's end): raise total_env_steps or lower "
                "block_length or td_steps"
            )
        if not learner_idle or n.env_steps >= c.total_env_steps:
            return Collected(replay_size=self.replay.size)
        result = self.actor.step(
            visit_temperature(c, n.updates),
            random_actions=n.env_steps < c.start_transitions,
            explore=explore_probability(c, n.updates),
        )
        for block in result.blocks:
            self.replay.add(block)
        reached = n.env_steps + result.env_steps
        returns = [(reached, r) for r in result.episode_returns]
        return Collected(result.env_steps, returns, self.replay.size, result.searched, result.held)

    def sample(self, beta: float) -> SampledPositions:
        return self.replay.sample(self.config.batch_size, beta, self.sample_rng, self.age_unit)

    def next_batch(self, beta: float, updates: int) -> Batch:
        return self.reanalyzer.make_batch(self.sample(beta), self.device)

    def write_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        self.replay.update_priorities(indices, priorities)

    def publish(self, selfplay: Weights | None, target: Weights | None) -> None:
        if selfplay is not None:
            self.actor.set_weights(selfplay)
        if target is not None:
            self.reanalyzer.set_weights(target)

    def finish(self, counters: Counters) -> Collected:
        return Collected(replay_size=self.replay.size)

    def state_dict(self) -> dict[str, Any]:
        return {
            "replay": self.replay.state_dict(),
            "rng": {
                "actor": [generator_state(self.actor.rng)],
                "reanalyzer": [generator_state(self.reanalyzer.rng)],
                "sample": generator_state(self.sample_rng),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.replay.load_state_dict(state["replay"])
        rng = state["rng"]
        set_generator_state(self.actor.rng, first_state(rng["actor"]))
        set_generator_state(self.reanalyzer.rng, first_state(rng["reanalyzer"]))
        set_generator_state(self.sample_rng, rng["sample"])
        self.actor.reset_envs()  # environment states are not saved: episodes in flight restart

    def diagnostics(self) -> dict[str, Any]:
        return {}

    def scalars(self) -> dict[str, float]:
        return {}

    def tick(self) -> str:
        return ""

    def describe(self) -> str:
        return ""

    def close(self) -> None:
        for env in self.actor.envs:
            env.close()


def first_state(states: str | list[str]) -> str:
    """The first of a checkpoint's generator states (one per worker; older ones hold one)."""
    return states if isinstance(states, str) else states[0]


def local_trainer(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> Trainer:
    """A trainer over an in-process source."""
    device = resolve_device(config.device)
    return Trainer(config, run_dir, LocalSource(config, device), device, progress=progress)


def train_local(
    config: Config, run_dir: RunDirectory, *, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or resume) ``config`` in this process; returns the last evaluation record."""
    trainer = local_trainer(config, run_dir, progress=progress)
    if resume:
        trainer.restore()
    return trainer.run()
