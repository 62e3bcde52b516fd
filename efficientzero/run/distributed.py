"""The Ray runtime's state and bookkeeping, without Ray: the shared store, replay server, waits.

``run/ray.py`` runs ``SharedState`` and ``ReplayServer`` as actors and drives the rest; keeping
them free of Ray keeps Ray in one module and lets them be read and tested on their own.

Back-pressure keeps the local loop's ratio of updates to environment steps
(``updates_per_env_step``): self-play may claim steps while the learner owes at most
``slack_updates`` updates; the learner may update while it is below its budget
(``update_budget``, as in the local runtime). Each side records how long it waited, and the
waits of the last seconds name the bottleneck.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from efficientzero.checkpoint import generator_state, set_generator_state
from efficientzero.config import Config
from efficientzero.run.schedule import age_unit, collection_budget, make_replay
from efficientzero.types import SampledPositions, TrajectoryBlock

SELFPLAY_SLACK_ROUNDS = 4
"""Self-play may run this many steps of every actor ahead of the learner's update budget."""


def slack_updates(config: Config) -> float:
    """Updates the learner may owe before self-play waits (a few steps of every actor)."""
    steps = SELFPLAY_SLACK_ROUNDS * config.num_actors * config.num_envs
    return max(steps * config.updates_per_env_step, 1.0)


def owed_updates(config: Config, env_steps: int, updates: int) -> float:
    """Updates the learner owes after ``env_steps`` steps while collecting.

    The collection budget (not ``update_budget``, which jumps to ``total_updates`` when
    collection ends), so the last steps of collection are never held back.
    """
    return collection_budget(config, env_steps) - updates


def weights_to_arrays(weights: dict[str, torch.Tensor]) -> dict[str, np.ndarray | torch.Tensor]:
    """Weights as numpy arrays for Ray's object store, which hands numpy arrays to every reader
    without a copy (tensors are pickled, and copied on every get). Tensors numpy cannot hold
    (bf16) stay tensors."""
    return {k: _as_array(v.detach().cpu()) for k, v in weights.items()}


def _as_array(t: torch.Tensor) -> np.ndarray | torch.Tensor:
    try:
        return t.numpy()
    except TypeError:
        return t


def arrays_to_weights(arrays: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of ``weights_to_arrays``: tensors sharing the arrays' memory (read-only when the
    arrays come from the object store; ``load_state_dict`` only reads them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return {
            k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in arrays.items()
        }


@dataclass
class WeightsRef:
    """Weights in Ray's object store, by version; the ref sits in a list so that Ray does not
    fetch the weights with every call that carries them, only when a worker needs them."""

    version: int
    ref: list[Any]


@dataclass
class Ticket:
    """The answer to a self-play actor asking to take ``steps`` environment steps."""

    go: bool = False
    """Take the steps (they are already counted)."""
    done: bool = False
    """Collection is finished: the actor should return."""
    random_actions: bool = False
    """Before ``start_transitions``: uniform random actions, no search."""
    updates: int = 0
    """Learner updates so far (for the acting temperature)."""
    weights_version: int = -1
    """Version of the self-play weights in the shared store."""


@dataclass
class Snapshot:
    """What the driver reads from the shared state once per turn of its loop."""

    env_steps: int = 0
    episodes: int = 0
    replay_size: int = 0
    replay_added: int = 0
    selfplay_wait_s: float = 0.0
    """Summed over self-play actors."""
    episode_returns: list[tuple[int, float]] = field(default_factory=list)
    """(env_steps when reported, return) of episodes finished since the last snapshot."""
    restarts: dict[str, int] = field(default_factory=dict)
    """Worker name -> restarts so far."""
    searched: int = 0
    """Actions a search chose since the last snapshot (``StepResult.searched``)."""
    held: int = 0
    """Of those, the ones an exploratory repeat replaced (``StepResult.held``)."""


class SharedState:
    """Counters, the self-play gate and the self-play weights (one actor owns it)."""

    def __init__(self, config: Config, env_steps: int, updates: int, episodes: int) -> None:
        self.config = config
        self.env_steps, self.updates, self.episodes = env_steps, updates, episodes
        self.replay_size = self.replay_added = 0
        self.selfplay_wait_s = 0.0
        self.pending_returns: list[tuple[int, float]] = []
        self.pending_searched = self.pending_held = 0
        self.selfplay_weights = WeightsRef(-1, [])
        self.starts: dict[str, int] = {}
        self.worker_pids: dict[str, int] = {}
        self.generator_states: dict[str, str] = {}

    def register(self, name: str, pid: int) -> int:
        """Record a (re)started worker; returns how often ``name`` started before (0 at first)."""
        count = self.starts.get(name, 0)
        self.starts[name] = count + 1
        self.worker_pids[name] = pid
        return count

    def claim(
        self,
        steps: int,
        episode_returns: list[float],
        waited: float,
        name: str = "",
        generator: str | None = None,
        searched: int = 0,
        held: int = 0,
    ) -> Ticket:
        """Grant (and count) ``steps`` environment steps unless self-play is ahead of the learner.

        The claim also reports the episodes the actor ``name`` finished, the seconds it waited,
        its generator's state (what a checkpoint saves of it) and, of its last steps, the
        actions a search chose and those an exploratory repeat replaced.
        """
        c = self.config
        if generator is not None:
            self.generator_states[name] = generator
        self.selfplay_wait_s += waited
        self.episodes += len(episode_returns)
        self.pending_returns.extend((self.env_steps, r) for r in episode_returns)
        self.pending_searched += searched
        self.pending_held += held
        if self.env_steps >= c.total_env_steps:
            return Ticket(done=True)
        ahead = owed_updates(c, self.env_steps + steps, self.updates) > slack_updates(c)
        # An empty replay gives the learner nothing to do: collect until a block is finished.
        if ahead and self.replay_size > 0:
            return Ticket(updates=self.updates, weights_version=self.selfplay_weights.version)
        ticket = Ticket(
            go=True,
            random_actions=self.env_steps < c.start_transitions,
            updates=self.updates,
            weights_version=self.selfplay_weights.version,
        )
        self.env_steps += steps
        return ticket

    def replay_stats(self, size: int, added: int) -> None:
        """Replay's size after an add (reports from several actors may arrive out of order)."""
        self.replay_size = max(self.replay_size, size)
        self.replay_added = max(self.replay_added, added)

    def sync(self, updates: int) -> Snapshot:
        """The driver reports its update count and takes the counters and new episode returns."""
        self.updates = updates
        returns, self.pending_returns = self.pending_returns, []
        searched, held = self.pending_searched, self.pending_held
        self.pending_searched = self.pending_held = 0
        restarts = {name: count - 1 for name, count in self.starts.items() if count > 1}
        return Snapshot(
            self.env_steps,
            self.episodes,
            self.replay_size,
            self.replay_added,
            self.selfplay_wait_s,
            returns,
            restarts,
            searched,
            held,
        )

    def set_weights(self, weights: WeightsRef) -> None:
        self.selfplay_weights = weights

    def weights(self) -> WeightsRef:
        return self.selfplay_weights

    def pids(self) -> dict[str, int]:
        return dict(self.worker_pids)

    def generators(self) -> dict[str, str]:
        """Worker name -> the generator state it reported last."""
        return dict(self.generator_states)


def _own(block: TrajectoryBlock) -> TrajectoryBlock:
    """A copy in this process's memory: arguments arrive as read-only views of the object
    store, and keeping them would pin the whole replay there."""
    return dataclasses.replace(
        block,
        frames=np.array(block.frames),
        actions=np.array(block.actions),
        rewards=np.array(block.rewards),
        policies=np.array(block.policies),
    )


class ReplayServer:
    """The replay buffer in a process of its own; it samples for the reanalysis workers."""

    def __init__(self, config: Config, seed: int) -> None:
        self.buffer = make_replay(config)
        self.rng = np.random.default_rng(seed)
        self.age_unit = age_unit(config)

    def add(self, blocks: list[TrajectoryBlock]) -> tuple[int, int]:
        """Store ``blocks``; returns (positions stored, positions ever added)."""
        for block in blocks:
            self.buffer.add(_own(block))
        return self.stats()

    def sample(self, batch_size: int, beta: float) -> SampledPositions:
        return self.buffer.sample(batch_size, beta, self.rng, self.age_unit)

    def update_priorities(self, ids: np.ndarray, priorities: np.ndarray) -> None:
        self.buffer.update_priorities(ids, priorities)

    def stats(self) -> tuple[int, int]:
        return self.buffer.size, self.buffer.num_added

    def state_dict(self) -> tuple[dict[str, Any], str]:
        """(the buffer's state, the sampling generator's state)."""
        return self.buffer.state_dict(), generator_state(self.rng)

    def load_state_dict(self, state: dict[str, Any], rng: str) -> tuple[int, int]:
        self.buffer.load_state_dict(state)
        set_generator_state(self.rng, rng)
        return self.stats()


@dataclass
class WaitClock:
    """Cumulative seconds each side waited; ``bottleneck`` judges the last seconds of them."""

    selfplay_wait_s: float = 0.0
    """Self-play waiting for the learner (per actor: summed over actors / their number)."""
    learner_wait_s: float = 0.0
    """Learner waiting for reanalysed batches."""
    learner_idle_s: float = 0.0
    """Learner waiting for self-play data (its update budget used up)."""
    history: deque[tuple[float, float, float, float]] = field(
        default_factory=lambda: deque(maxlen=64)
    )

    def mark(self, now: float) -> None:
        self.history.append((now, self.selfplay_wait_s, self.learner_wait_s, self.learner_idle_s))

    def bottleneck(self, window_s: float = 10.0) -> str:
        """The stage the others waited for over the last ``window_s`` seconds of marks."""
        if len(self.history) < 2:
            return "-"
        end = self.history[-1]
        start = next((h for h in self.history if end[0] - h[0] <= window_s), self.history[0])
        span = max(end[0] - start[0], 1e-9)
        selfplay, batches, data = ((e - s) / span for e, s in zip(end[1:], start[1:]))
        return judge_bottleneck(selfplay, batches, data)

    def fields(self) -> dict[str, float]:
        return {
            "selfplay_wait_s": round(self.selfplay_wait_s, 2),
            "learner_wait_s": round(self.learner_wait_s, 2),
            "learner_idle_s": round(self.learner_idle_s, 2),
        }


def judge_bottleneck(selfplay_wait: float, batch_wait: float, data_wait: float) -> str:
    """Name the slow stage from the shares of time each side waited.

    The learner waiting for batches means reanalysis is slow (whatever self-play does); the
    learner waiting for data means self-play is slow; self-play waiting alone means the
    learner is the slow stage.
    """
    busy = 0.2  # below this share of the time a wait is noise (polling, start-up)
    if batch_wait >= busy and batch_wait >= data_wait:
        return "reanalysis"
    if data_wait >= busy:
        return "self-play"
    if selfplay_wait >= busy:
        return "learner"
    return "balanced"
