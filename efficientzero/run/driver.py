"""The Ray driver's own work, without Ray: learning, the weights to publish, evaluation,
checkpoints and logs.

``RayRun`` (``run/ray.py``) builds on ``DriverCore`` and adds the actors: it fetches batches
and replay snapshots from them and hands them here, and publishes the weights this marks due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from efficientzero.checkpoint import load_checkpoint, save_checkpoint, to_numpy
from efficientzero.config import Config
from efficientzero.envs import env_spec
from efficientzero.learner import Learner, TargetNetwork
from efficientzero.nets import build_network
from efficientzero.run.common import (
    Counters,
    MetricsLogger,
    RunDirectory,
    checkpoint_state,
    describe,
    evaluation_record,
    inference_copy,
    rng_state,
)
from efficientzero.run.distributed import WaitClock
from efficientzero.run.placement import batch_to, learner_device
from efficientzero.types import Batch


class DriverCore:
    """The learner with its counters, the weights self-play and reanalysis should have, logs."""

    def __init__(self, config: Config, run_dir: RunDirectory) -> None:
        self.config = c = config
        self.run_dir = run_dir
        torch.manual_seed(c.seed)
        if c.num_threads > 0:
            torch.set_num_threads(c.num_threads)
        self.device = learner_device(c)
        self.spec = env_spec(c)
        net = build_network(c, self.spec.frame_shape, self.spec.num_actions)
        self.learner = Learner(c, net, self.device)
        self.eval_model = inference_copy(net, c)
        self.selfplay_weights = self.target_weights = self.learner.weights()
        self.target_schedule = TargetNetwork(
            c.target_update_interval, c.target_network_lag, self.target_weights
        )
        self.counters = Counters(next_eval=c.eval_interval or c.total_env_steps)
        self.recent_returns: deque[float] = deque(maxlen=20)
        self.last_metrics: dict[str, float] = {}
        self.waits = WaitClock()
        self.logger = MetricsLogger(run_dir)

    def header(self) -> str:
        c = self.config
        return (
            f"efficientzero: {c.env_id} [{c.preset}] -> {self.run_dir.path}  "
            f"({describe(self.spec, self.learner.net, self.device)}) on Ray: "
            f"{c.num_actors} self-play x {c.num_envs} envs, {c.num_reanalyzers} reanalysis"
        )

    def restore_core(self) -> tuple[dict[str, Any], str]:
        """Load ``checkpoints/latest.pt`` (of either runtime) into the learner, weights,
        counters and torch's RNG; returns (replay state, sampling RNG state) for replay."""
        state, _ = load_checkpoint(self.run_dir.latest, map_location="cpu")
        self.learner.load_state_dict(state["learner"])
        self.selfplay_weights, self.target_weights = state["selfplay_net"], state["target_net"]
        self.target_schedule.load_state_dict(state.get("target_saved"))
        self.counters = Counters(**state["counters"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        return to_numpy(state["replay"]), state["rng"]["sample"]

    def learn(self, batch: Batch) -> tuple[np.ndarray, bool, bool]:
        """One update; returns (new priorities, self-play weights due, target weights due)."""
        c, n = self.config, self.counters
        metrics, priorities = self.learner.step(batch_to(batch, self.device))
        n.updates = self.learner.updates
        selfplay_due = n.updates % c.selfplay_update_interval == 0
        if selfplay_due:
            self.selfplay_weights = self.learner.weights()
        target = self.target_schedule.refresh(n.updates, self.learner.weights)
        target_due = target is not None
        if target is not None:
            self.target_weights = target
        self.last_metrics = metrics
        if n.updates % c.log_interval == 0:
            self.logger.scalars("train", metrics, n.updates)
            self.logger.scalars("ray", self.waits.fields(), n.updates)
        return priorities, selfplay_due, target_due

    def episodes_finished(self, returns: Iterable[tuple[int, float]]) -> None:
        """Log the returns of finished training episodes, each at the step it was reported."""
        for env_steps, episode_return in returns:
            self.recent_returns.append(episode_return)
            self.logger.scalars("train", {"episode_return": episode_return}, env_steps)

    def evaluate(self, restarts: int) -> dict[str, Any]:
        """The local runtime's evaluation record plus the waits, the bottleneck and restarts."""
        record = evaluation_record(
            self.config,
            self.eval_model,
            self.learner.weights(),
            self.counters,
            self.recent_returns,
            self.last_metrics,
        )
        record.update(self.waits.fields(), bottleneck=self.waits.bottleneck(), restarts=restarts)
        self.logger.evaluation(record)
        return record

    def write_checkpoint(self, replay: dict[str, Any], sample_rng: str, final: bool) -> None:
        """``latest.pt`` in the local runtime's layout (and ``final.pt`` at the end).

        The workers' generators stay in the workers: the self-play and reanalysis entries are
        fresh streams, which is what a resumed run (on either runtime) starts from.
        """
        c, n = self.config, self.counters
        fresh = rng_state(np.random.default_rng([c.seed, n.updates]))
        state = checkpoint_state(
            learner=self.learner.state_dict(),
            selfplay_net=self.selfplay_weights,
            target_net=self.target_weights,
            replay=replay,
            counters=n,
            target_saved=self.target_schedule.state_dict(),
            rng={
                "actor": fresh,
                "reanalyzer": fresh,
                "sample": sample_rng,
                "torch": torch.get_rng_state(),
            },
        )
        save_checkpoint(self.run_dir.latest, state, c)
        if final:
            final_state = {"net": self.learner.net.state_dict(), "counters": asdict(n)}
            save_checkpoint(self.run_dir.final, final_state, c)
