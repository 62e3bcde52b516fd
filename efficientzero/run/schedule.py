"""The training schedule's arithmetic, shared by the trainer and the Ray bookkeeping: counters,
the update budget, the replay exponent, and the seeds and replay every runtime builds alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from efficientzero.config import Config
from efficientzero.replay import ReplayBuffer

PHASES = ("collect", "batch", "learn", "evaluate", "checkpoint")
"""The trainer loop's phases: taking self-play's new steps (locally: playing them), the next
batch (locally: sampling, targets, reanalysis; with Ray: waiting for it), the learner's step
(with the weights handed on), periodic evaluations, checkpoints."""


@dataclass
class Counters:
    """Progress of a run (saved in checkpoints; the same for every runtime)."""

    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    wall_seconds: float = 0.0
    next_eval: int = 0
    evaluations: int = 0
    """Rows written to metrics.jsonl (a resumed run drops the rows written after its checkpoint)."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Of ``wall_seconds``, the trainer's time in each phase of its loop (``PHASES``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counters:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def collection_budget(config: Config, env_steps: int) -> float:
    """Updates the replay ratio allows after ``env_steps`` collected steps while collecting
    (``updates_per_env_step`` per step after ``start_transitions``; Ye et al. 2021, Appendix A)."""
    learnable = max(env_steps - config.start_transitions, 0)
    return min(config.total_updates, learnable * config.updates_per_env_step)


def update_budget(config: Config, env_steps: int) -> int:
    """Updates the learner may have taken after ``env_steps`` steps: the collection budget, and
    all of ``total_updates`` once collection is done."""
    if env_steps >= config.total_env_steps:
        return config.total_updates
    return int(collection_budget(config, env_steps))


def replay_beta(config: Config, updates: int) -> float:
    """Importance-sampling exponent annealed linearly from priority_beta to 1 over training
    (Schaul et al. 2016, §3.4; Ye et al. 2021, Appendix A)."""
    progress = min(updates / max(config.total_updates, 1), 1.0)
    return config.priority_beta + (1.0 - config.priority_beta) * progress


def first_evaluation(config: Config) -> int:
    """Env steps of the first periodic evaluation (none during training with eval_interval 0)."""
    return config.eval_interval if config.eval_interval > 0 else config.total_env_steps


def evaluation_due(config: Config, counters: Counters) -> bool:
    """A periodic evaluation is due; advances ``next_eval`` past the steps reached (evaluations
    skipped by a large step are not made up)."""
    n = counters
    if config.eval_interval == 0:  # none during training, a resumed longer run included
        return False
    if n.env_steps < n.next_eval or n.env_steps >= config.total_env_steps:
        return False
    while n.next_eval <= n.env_steps:
        n.next_eval += config.eval_interval
    return True


def component_seeds(config: Config) -> tuple[int, int, int]:
    """(self-play, reanalysis, replay sampling) seeds of the in-process components."""
    actor, reanalyzer, sample = np.random.SeedSequence(config.seed).generate_state(3)
    return int(actor), int(reanalyzer), int(sample)


def make_replay(config: Config) -> ReplayBuffer:
    """The replay buffer ``config`` asks for."""
    c = config
    return ReplayBuffer(
        c.replay_capacity,
        frame_stack=c.frame_stack,
        unroll_steps=c.unroll_steps,
        td_steps=c.td_steps,
        alpha=c.priority_alpha,
        use_priority=c.use_priority,
        new_priority=c.new_data_priority,
    )


def age_unit(config: Config) -> float | None:
    """Data age per step of value horizon (None when the off-policy correction is off)."""
    return config.off_policy_age_unit if config.use_off_policy_correction else None
