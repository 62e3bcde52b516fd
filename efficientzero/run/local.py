"""The single-process training loop (the default runtime).

One loop, top to bottom: self-play steps ``num_envs`` environments with one batched search;
finished trajectory blocks go to replay; whenever the learner is behind the update budget
(``updates_per_env_step`` per collected step) it samples positions, reanalyses them with the
target network into a batch, takes a gradient step and writes the new priorities back; weights
flow to self-play every ``selfplay_update_interval`` and to the target network every
``target_update_interval`` updates. Evaluations and checkpoints happen on their intervals.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from efficientzero.actor import SelfPlayActor, visit_temperature
from efficientzero.checkpoint import load_checkpoint, save_checkpoint, to_numpy
from efficientzero.config import Config
from efficientzero.envs import env_spec, make_env
from efficientzero.learner import Learner, TargetNetwork
from efficientzero.nets import build_network
from efficientzero.reanalyze import Reanalyzer
from efficientzero.replay import ReplayBuffer
from efficientzero.run.common import (
    Counters,
    MetricsLogger,
    RunDirectory,
    checkpoint_state,
    describe,
    evaluation_record,
    inference_copy,
    resolve_device,
    rng_state,
    set_rng_state,
)


def update_budget(config: Config, env_steps: int) -> int:
    """Updates allowed after ``env_steps`` collected steps (all of them once collection is done)."""
    if env_steps >= config.total_env_steps:
        return config.total_updates
    learnable = max(env_steps - config.start_transitions, 0)
    return min(config.total_updates, int(learnable * config.updates_per_env_step))


def replay_beta(config: Config, updates: int) -> float:
    """Importance-sampling exponent annealed linearly from priority_beta to 1 over training
    (Schaul et al. 2016, §3.4; Ye et al. 2021, Appendix A)."""
    progress = min(updates / max(config.total_updates, 1), 1.0)
    return config.priority_beta + (1.0 - config.priority_beta) * progress


class LocalRun:
    def __init__(self, config: Config, run_dir: RunDirectory, *, progress: bool = True) -> None:
        self.config = c = config
        self.run_dir = run_dir
        self.progress = progress
        torch.manual_seed(c.seed)
        if c.num_threads > 0:
            torch.set_num_threads(c.num_threads)
        self.device = resolve_device(c.device)
        self.spec = env_spec(c)
        net = build_network(c, self.spec.frame_shape, self.spec.num_actions)
        self.learner = Learner(c, net, self.device)
        seeds = np.random.SeedSequence(c.seed).generate_state(3)
        self.actor = SelfPlayActor(
            c,
            inference_copy(net, c),
            [make_env(c) for _ in range(c.num_envs)],
            self.spec.num_actions,
            int(seeds[0]),
        )
        self.reanalyzer = Reanalyzer(c, inference_copy(net, c), int(seeds[1]))
        self.target_schedule = TargetNetwork(
            c.target_update_interval, c.target_network_lag, self.learner.weights()
        )
        self.eval_model = inference_copy(net, c)
        self.sample_rng = np.random.default_rng(int(seeds[2]))
        self.replay = ReplayBuffer(
            c.replay_capacity,
            frame_stack=c.frame_stack,
            unroll_steps=c.unroll_steps,
            td_steps=c.td_steps,
            alpha=c.priority_alpha,
            use_priority=c.use_priority,
            new_priority=c.new_data_priority,
        )
        self.counters = Counters(
            next_eval=c.eval_interval if c.eval_interval > 0 else c.total_env_steps
        )
        self.recent_returns: deque[float] = deque(maxlen=20)
        self.last_metrics: dict[str, float] = {}
        self.logger = MetricsLogger(run_dir)

    # ------------------------------------------------------------------ steps of the loop
    def collect(self) -> None:
        c, n = self.config, self.counters
        result = self.actor.step(
            visit_temperature(c, n.updates), random_actions=n.env_steps < c.start_transitions
        )
        for block in result.blocks:
            self.replay.add(block)
        n.env_steps += result.env_steps
        n.episodes += len(result.episode_returns)
        self.recent_returns.extend(result.episode_returns)
        for ret in result.episode_returns:
            self.logger.scalars("train", {"episode_return": ret}, n.env_steps)

    def update(self) -> None:
        c, n = self.config, self.counters
        age_unit = c.off_policy_age_unit if c.use_off_policy_correction else None
        sampled = self.replay.sample(
            c.batch_size, replay_beta(c, n.updates), self.sample_rng, age_unit
        )
        batch = self.reanalyzer.make_batch(sampled, self.device)
        metrics, priorities = self.learner.step(batch)
        self.replay.update_priorities(batch.indices, priorities)
        n.updates = self.learner.updates
        if n.updates % c.selfplay_update_interval == 0:
            self.actor.set_weights(self.learner.weights())
        target = self.target_schedule.refresh(n.updates, self.learner.weights)
        if target is not None:
            self.reanalyzer.set_weights(target)
        self.last_metrics = metrics
        if n.updates % c.log_interval == 0:
            self.logger.scalars("train", metrics, n.updates)

    def evaluate(self) -> dict[str, Any]:
        record = evaluation_record(
            self.config,
            self.eval_model,
            self.learner.weights(),
            self.counters,
            self.recent_returns,
            self.last_metrics,
        )
        self.logger.evaluation(record)
        return record

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return checkpoint_state(
            learner=self.learner.state_dict(),
            selfplay_net=self.actor.model.net.state_dict(),
            target_net=self.reanalyzer.model.net.state_dict(),
            replay=self.replay.state_dict(),
            counters=self.counters,
            target_saved=self.target_schedule.state_dict(),
            rng={
                "actor": rng_state(self.actor.rng),
                "reanalyzer": rng_state(self.reanalyzer.rng),
                "sample": rng_state(self.sample_rng),
                "torch": torch.get_rng_state(),
            },
        )

    def save(self, final: bool = False) -> None:
        save_checkpoint(self.run_dir.latest, self.state_dict(), self.config)
        if final:
            state = {"net": self.learner.net.state_dict(), "counters": asdict(self.counters)}
            save_checkpoint(self.run_dir.final, state, self.config)

    def restore(self) -> None:
        # On the CPU: replay arrays come back as numpy; load_state_dict moves weights to the device.
        state, _ = load_checkpoint(self.run_dir.latest, map_location="cpu")
        self.learner.load_state_dict(state["learner"])
        self.actor.model.net.load_state_dict(state["selfplay_net"])
        self.reanalyzer.model.net.load_state_dict(state["target_net"])
        self.target_schedule.load_state_dict(state.get("target_saved"))
        self.replay.load_state_dict(to_numpy({k: v for k, v in state["replay"].items()}))
        self.counters = Counters(**state["counters"])
        rng = state["rng"]
        set_rng_state(self.actor.rng, rng["actor"])
        set_rng_state(self.reanalyzer.rng, rng["reanalyzer"])
        set_rng_state(self.sample_rng, rng["sample"])
        torch.set_rng_state(rng["torch"].cpu())
        self.actor.reset_envs()  # environment states are not saved: episodes in flight restart

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict[str, Any]:
        c, n = self.config, self.counters
        bar = tqdm(
            total=c.total_env_steps + c.total_updates,
            initial=n.env_steps + n.updates,
            disable=not self.progress,
            bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}",
            dynamic_ncols=True,
        )
        if self.progress:
            tqdm.write(
                f"efficientzero: {c.env_id} [{c.preset}] -> {self.run_dir.path}  "
                f"({describe(self.spec, self.learner.net, self.device)})"
            )
        last_record: dict[str, Any] = {}
        start, offset, last_tick = time.perf_counter(), n.wall_seconds, time.perf_counter()
        try:
            while n.env_steps < c.total_env_steps or n.updates < c.total_updates:
                before = n.env_steps + n.updates
                if n.env_steps < c.total_env_steps and (
                    n.updates >= update_budget(c, n.env_steps) or self.replay.size == 0
                ):
                    self.collect()
                else:
                    self.update()
                    if n.updates % c.checkpoint_interval == 0:
                        n.wall_seconds = offset + time.perf_counter() - start
                        self.save()
                n.wall_seconds = offset + time.perf_counter() - start
                if n.env_steps >= n.next_eval and n.env_steps < c.total_env_steps:
                    n.next_eval += c.eval_interval
                    last_record = self.evaluate()
                bar.update(n.env_steps + n.updates - before)
                if time.perf_counter() - last_tick > 0.5:
                    last_tick = time.perf_counter()
                    bar.set_postfix_str(self._postfix(last_record), refresh=False)
            last_record = self.evaluate()
            self.save(final=True)
        except KeyboardInterrupt:
            self.save()
            bar.close()
            raise
        finally:
            self.logger.close()
        bar.close()
        return last_record

    def _postfix(self, record: dict[str, Any]) -> str:
        n = self.counters
        rate = n.env_steps / max(n.wall_seconds, 1e-9)
        recent = f"{np.mean(self.recent_returns):.1f}" if self.recent_returns else "-"
        evaluated = f" eval {record['eval_return_mean']:.1f}" if record else ""
        return f"steps {n.env_steps} upd {n.updates} return {recent}{evaluated} {rate:.0f} steps/s"


def train_local(
    config: Config, run_dir: RunDirectory, *, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or resume) ``config`` in this process; returns the last evaluation record."""
    run = LocalRun(config, run_dir, progress=progress)
    if resume:
        run.restore()
    return run.run()
