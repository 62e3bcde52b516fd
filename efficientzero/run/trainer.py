"""The training schedule, written once for every runtime.

The ``Trainer`` owns the learner and everything that decides *when*: counters, the update
budget (``updates_per_env_step`` per collected step), the weights due to self-play every
``selfplay_update_interval`` and to the target network every ``target_update_interval``
updates, evaluations every ``eval_interval`` env steps, checkpoints every
``checkpoint_interval`` updates, logs and the progress line. A runtime only supplies data
through a ``Source``: ``run/local.py`` steps environments and reanalyses in this process,
``run/ray.py`` does both in Ray actors. A new runtime needs only a new source.

One turn of the loop::

    collect (the source reports new steps; locally it steps the envs when the learner waits)
    -> evaluate, if due -> update, if the budget allows (batch -> learner -> priorities,
    weights due) -> checkpoint, if due -> progress line
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from efficientzero.actor import explore_probability
from efficientzero.checkpoint import load_checkpoint, save_checkpoint, to_numpy
from efficientzero.config import Config
from efficientzero.envs import EnvSpec, env_spec, make_env
from efficientzero.evaluation import evaluate_episodes
from efficientzero.learner import Learner, TargetNetwork
from efficientzero.nets import AgentModel, EfficientZeroNet, build_inference, build_network
from efficientzero.run.directory import RunDirectory
from efficientzero.run.metrics import MetricsLogger
from efficientzero.run.schedule import (
    PHASES,
    Counters,
    evaluation_due,
    first_evaluation,
    replay_beta,
    update_budget,
)
from efficientzero.types import Batch

Weights = dict[str, torch.Tensor]


@dataclass
class Collected:
    """What self-play did since the source was last asked."""

    env_steps: int = 0
    """New agent steps."""
    episode_returns: list[tuple[int, float]] = field(default_factory=list)
    """(env steps when it finished, return) of each finished training episode."""
    replay_size: int = 0
    """Positions replay holds now."""
    searched: int = 0
    """Of the new steps, the actions a search chose (``StepResult.searched``)."""
    held: int = 0
    """Of those, the ones an exploratory repeat replaced (``StepResult.held``)."""


class Source(Protocol):
    """What a runtime supplies to the ``Trainer``."""

    name: str
    """The runtime's name ("local", "ray"): its TensorBoard prefix."""

    def start(self, counters: Counters, selfplay: Weights, target: Weights) -> None:
        """Begin: self-play acts with ``selfplay``, reanalysis uses ``target``."""
        ...

    def collect(self, counters: Counters, learner_idle: bool) -> Collected:
        """New experience; ``learner_idle``: the learner waits for data (a sequential source
        collects then, a concurrent one may wait a moment)."""
        ...

    def next_batch(self, beta: float, updates: int) -> Batch:
        """A reanalysed batch sampled with importance exponent ``beta`` (any device)."""
        ...

    def write_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None: ...

    def publish(self, selfplay: Weights | None, target: Weights | None) -> None:
        """New self-play and/or target weights (None: unchanged)."""
        ...

    def finish(self, counters: Counters) -> Collected:
        """Collection is over: the last experience (the final checkpoint must hold it)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """``{"replay": ..., "rng": {"actor": [...], "reanalyzer": [...], "sample": ...}}``."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def diagnostics(self) -> dict[str, Any]:
        """The runtime's own figures for the evaluation rows (``{}`` when it has none)."""
        ...

    def scalars(self) -> dict[str, float]:
        """The runtime's own TensorBoard scalars at each log interval."""
        ...

    def tick(self) -> str:
        """Twice a second: check the runtime's health; returns text for the progress line."""
        ...

    def describe(self) -> str:
        """How the runtime is laid out, for the first line of output."""
        ...

    def close(self) -> None: ...


def describe(spec: EnvSpec, net: EfficientZeroNet, device: torch.device) -> str:
    params = sum(p.numel() for p in net.parameters())
    actions = (
        f"{spec.action_dim}-D continuous actions ({spec.num_actions} sampled per node)"
        if spec.action_dim
        else f"{spec.num_actions} actions"
    )
    return f"frames {spec.frame_shape} {spec.frame_dtype}, {actions}, {params / 1e6:.2f}M parameters on {device}"


class Trainer:
    """The learner and the schedule around it; ``run()`` trains until both budgets are spent."""

    def __init__(
        self,
        config: Config,
        run_dir: RunDirectory,
        source: Source,
        device: torch.device,
        *,
        progress: bool = True,
    ) -> None:
        self.config = c = config
        self.run_dir = run_dir
        self.source = source
        self.device = device
        self.progress = progress
        torch.manual_seed(c.seed)
        if c.num_threads > 0:
            torch.set_num_threads(c.num_threads)
        self.spec = env_spec(c)
        net = build_network(c, self.spec.frame_shape, self.spec.num_actions, self.spec.action_dim)
        self.learner = Learner(c, net, device)
        self.eval_model = build_inference(
            c,
            self.spec.frame_shape,
            self.spec.num_actions,
            device=device,
            action_dim=self.spec.action_dim,
        )
        self.selfplay_weights = self.target_weights = self.learner.weights()
        self.target_schedule = TargetNetwork(
            c.target_update_interval, c.target_network_lag, self.target_weights
        )
        self.counters = Counters(next_eval=first_evaluation(c))
        self.recent_returns: deque[float] = deque(maxlen=20)
        self.explored = [0, 0]
        """[actions a repeat replaced, searched actions] since the last evaluation."""
        self.last_metrics: dict[str, float] = {}
        self.resumed_from: Counters | None = None
        self._logger: MetricsLogger | None = None
        self.started = False

    @property
    def logger(self) -> MetricsLogger:
        if self._logger is None:  # opened late: a resumed run first cuts the logs back
            self._logger = MetricsLogger(self.run_dir, resumed_from=self.resumed_from)
        return self._logger

    def start(self) -> None:
        """Hand the weights to the source and let it begin (``run`` does this itself)."""
        if not self.started:
            self.source.start(self.counters, self.selfplay_weights, self.target_weights)
            self.started = True

    # ------------------------------------------------------------------ steps of the loop
    def may_update(self, replay_size: int) -> bool:
        n = self.counters
        return n.updates < update_budget(self.config, n.env_steps) and replay_size > 0

    def absorb(self, collected: Collected) -> None:
        """Count new steps and log the returns of finished episodes."""
        n = self.counters
        n.env_steps += collected.env_steps
        n.episodes += len(collected.episode_returns)
        self.explored[0] += collected.held
        self.explored[1] += collected.searched
        for env_steps, episode_return in collected.episode_returns:
            self.recent_returns.append(episode_return)
            self.logger.scalars("train", {"episode_return": episode_return}, env_steps=env_steps)

    def update(self) -> None:
        """One update from the source's next batch."""
        n = self.counters
        with self.timed("batch"):
            batch = self.source.next_batch(replay_beta(self.config, n.updates), n.updates)
        with self.timed("learn"):
            self.learn(batch)

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the time spent inside to ``counters.phase_seconds[phase]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = self.counters.phase_seconds
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - start

    def learn(self, batch: Batch) -> None:
        """Step the learner on ``batch``; priorities back to the source, due weights out."""
        c, n = self.config, self.counters
        metrics, priorities = self.learner.step(batch.to(self.device))
        self.source.write_priorities(batch.indices, priorities)
        n.updates = self.learner.updates
        weights = functools.cache(self.learner.weights)  # one copy when both are due
        selfplay = weights() if n.updates % c.selfplay_update_interval == 0 else None
        target = self.target_schedule.refresh(n.updates, weights)
        if selfplay is not None:
            self.selfplay_weights = selfplay
        if target is not None:
            self.target_weights = target
        if selfplay is not None or target is not None:
            self.source.publish(selfplay, target)
        self.last_metrics = metrics
        if n.updates % c.log_interval == 0:
            self.logger.scalars("train", metrics, updates=n.updates)
            runtime = self.source.scalars()
            if runtime:
                self.logger.scalars(self.source.name, runtime, updates=n.updates)

    def evaluate(self) -> dict[str, Any]:
        """Evaluate the learner's weights now; the row goes to metrics.jsonl. The time it takes
        counts as the "evaluate" phase (the row's ``phase_seconds`` are those before it) and is
        the row's ``eval_seconds``: weights copied and loaded, episodes played."""
        before = self.counters.phase_seconds.get("evaluate", 0.0)
        with self.timed("evaluate"):
            record = evaluation_record(
                self.config,
                self.eval_model,
                self.learner.weights(),
                self.counters,
                self.recent_returns,
                self.last_metrics,
            )
        record["eval_seconds"] = round(self.counters.phase_seconds["evaluate"] - before, 2)
        if self.config.explore_epsilon > 0:
            held, searched = self.explored
            record["explore_probability"] = explore_probability(self.config, self.counters.updates)
            record["explore_share"] = held / searched if searched else None
            self.explored = [0, 0]
        record["runtime"] = self.source.diagnostics()
        self.logger.evaluation(record)
        self.counters.evaluations += 1
        return record

    # ------------------------------------------------------------------ checkpoints
    def save(self, final: bool = False) -> None:
        """``checkpoints/latest.pt`` (and ``final.pt`` at the end), the same for every runtime."""
        c, n = self.config, self.counters
        source = self.source.state_dict()
        # Replay first, counters after: the checkpoint never holds steps it does not count.
        self.absorb(self.source.collect(n, learner_idle=False))
        state = {
            "learner": self.learner.state_dict(),
            "selfplay_net": self.selfplay_weights,
            "target_net": self.target_weights,
            "target_saved": self.target_schedule.state_dict(),
            "replay": source["replay"],
            "counters": n.to_dict(),
            "rng": {**source["rng"], "torch": torch.get_rng_state()},
        }
        save_checkpoint(self.run_dir.latest, state, c)
        if final:
            final_state = {"net": self.learner.net.state_dict(), "counters": n.to_dict()}
            save_checkpoint(self.run_dir.final, final_state, c)

    def restore(self) -> None:
        """Continue from ``checkpoints/latest.pt`` (written by either runtime)."""
        # On the CPU: replay arrays come back as numpy; load_state_dict moves weights to the device.
        state, _ = load_checkpoint(self.run_dir.latest, map_location="cpu")
        self.learner.load_state_dict(state["learner"])
        self.selfplay_weights, self.target_weights = state["selfplay_net"], state["target_net"]
        self.target_schedule.load_state_dict(state.get("target_saved"))
        self.counters = Counters.from_dict(state["counters"])
        if "evaluations" not in state["counters"]:  # checkpoints before the row count
            self.counters.evaluations = _rows_up_to(self.run_dir, self.counters.env_steps)
        rng = state["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        self.source.load_state_dict(
            {"replay": to_numpy(state["replay"]), "rng": {k: rng[k] for k in rng if k != "torch"}}
        )
        self.resumed_from = dataclasses.replace(self.counters)

    # ------------------------------------------------------------------ the loop
    def run(self, on_tick: Callable[[Trainer], None] | None = None) -> dict[str, Any]:
        """Train until ``total_env_steps`` and ``total_updates`` are reached; returns the last
        evaluation record. ``on_tick(trainer)`` runs every turn (tests use it)."""
        c, n = self.config, self.counters
        bar = ProgressLine(c, self.progress, n.env_steps + n.updates)
        bar.write(
            f"efficientzero: {c.env_id} [{c.preset}] -> {self.run_dir.path}  "
            f"({describe(self.spec, self.learner.net, self.device)}){self.source.describe()}"
        )
        record: dict[str, Any] = {}
        start, offset = time.perf_counter(), n.wall_seconds
        try:
            self.start()
            replay_size = 0
            while n.env_steps < c.total_env_steps or n.updates < c.total_updates:
                with self.timed("collect"):
                    collected = self.source.collect(
                        n, learner_idle=not self.may_update(replay_size)
                    )
                    replay_size = collected.replay_size
                    self.absorb(collected)
                n.wall_seconds = offset + time.perf_counter() - start
                if evaluation_due(c, n):
                    record = self.evaluate()
                if self.may_update(replay_size):
                    self.update()
                    if n.updates % c.checkpoint_interval == 0:
                        n.wall_seconds = offset + time.perf_counter() - start
                        with self.timed("checkpoint"):
                            self.save()
                bar.tick(n, self.recent_returns, record, self.source)
                if on_tick is not None:
                    on_tick(self)
            with self.timed("collect"):
                self.absorb(self.source.finish(n))
            n.wall_seconds = offset + time.perf_counter() - start
            record = self.evaluate()
            self.save(final=True)
        except KeyboardInterrupt:
            if self.started:
                self.save()
            raise
        finally:
            self.source.close()
            if self._logger is not None:
                self._logger.close()
            bar.close()
        return record


def _rows_up_to(run_dir: RunDirectory, env_steps: int) -> int:
    """Rows of metrics.jsonl at or before ``env_steps`` (for checkpoints without a row count)."""
    if not run_dir.metrics_path.is_file():
        return 0
    rows = 0
    for line in run_dir.metrics_path.read_text().splitlines():
        try:
            if int(json.loads(line)["env_steps"]) > env_steps:
                break
        except (ValueError, KeyError, TypeError):
            break
        rows += 1
    return rows


CLOCK_FIELDS = ("wall_seconds", "eval_seconds", "phase_seconds")
"""The clock readings in a metrics.jsonl row: all that differs between two runs of one seed."""


def evaluation_record(
    config: Config,
    model: AgentModel,
    weights: Weights,
    counters: Counters,
    recent_returns: Iterable[float],
    last_metrics: dict[str, float],
) -> dict[str, Any]:
    """Evaluate ``weights`` during training and build the metrics.jsonl row.

    ``periodic_eval_episodes`` episodes (default ``eval_episodes``), seeds from ``env_steps``.
    ``wall_seconds`` is the clock when the evaluation began (``Trainer.evaluate`` adds
    ``eval_seconds``, what its "evaluate" phase took; a later row's ``wall_seconds`` includes
    it); ``phase_seconds`` the trainer's time in each phase
    of its loop up to the evaluation (``schedule.PHASES``; the rest of ``wall_seconds`` is its
    bookkeeping and the progress line).
    """
    model.net.load_state_dict(weights)
    result = evaluate_episodes(
        config,
        model,
        lambda: make_env(config, evaluation=True),
        episodes=config.periodic_eval_episodes or config.eval_episodes,
        seed=10_000 + counters.env_steps,
    )
    recent = list(recent_returns)
    return {
        "env_steps": counters.env_steps,
        "updates": counters.updates,
        "wall_seconds": round(counters.wall_seconds, 2),
        "eval_return_mean": result.mean,
        "eval_return_std": result.std,
        "eval_episodes": len(result.returns),
        "phase_seconds": {
            phase: round(counters.phase_seconds.get(phase, 0.0), 2) for phase in PHASES
        },
        "train_return_mean": float(np.mean(recent)) if recent else None,
        "episodes": counters.episodes,
        **last_metrics,
    }


class ProgressLine:
    """The tqdm line: steps, updates, recent and evaluated returns, rates, the runtime's say."""

    def __init__(self, config: Config, enabled: bool, initial: int) -> None:
        self.enabled = enabled
        self.bar = tqdm(
            total=config.total_env_steps + config.total_updates,
            initial=initial,
            disable=not enabled,
            bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}",
            dynamic_ncols=True,
        )
        self.last = time.perf_counter()

    def write(self, line: str) -> None:
        if self.enabled:
            tqdm.write(line)

    def tick(
        self,
        n: Counters,
        recent_returns: Iterable[float],
        record: dict[str, Any],
        source: Source,
    ) -> None:
        """Advance the bar; every half second also ask the source and refresh the postfix."""
        self.bar.update(n.env_steps + n.updates - self.bar.n)
        now = time.perf_counter()
        if now - self.last < 0.5:
            return
        self.last = now
        status = source.tick()
        recent = list(recent_returns)
        shown = f"{np.mean(recent):.1f}" if recent else "-"
        evaluated = f" eval {record['eval_return_mean']:.1f}" if record else ""
        seconds = max(n.wall_seconds, 1e-9)
        self.bar.set_postfix_str(
            f"steps {n.env_steps} upd {n.updates} return {shown}{evaluated} "
            f"{n.env_steps / seconds:.0f} steps/s {n.updates / seconds:.1f} upd/s"
            + (f" {status}" if status else ""),
            refresh=False,
        )

    def close(self) -> None:
        self.bar.close()
