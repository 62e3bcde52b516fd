"""Self-play: several environments stepped together, one batched search per step.

Each environment's episode is cut into ``TrajectoryBlock``s of ``block_length`` positions, each
padded with the first ``unroll_steps + td_steps`` steps of the next block (the reference code's
game-history blocks; docs/architecture.md). Frames are
kept once per step; the stacked observation is rebuilt from the last ``frame_stack`` frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from efficientzero.config import Config
from efficientzero.nets import AgentModel
from efficientzero.nets.sampled import pack_policy
from efficientzero.planning import choose_actions, env_actions, plan, policy_records
from efficientzero.search import Searcher
from efficientzero.types import TrajectoryBlock


class TrajectoryBuilder:
    """One environment's current episode since the last cut."""

    def __init__(
        self, frame_stack: int, block_length: int, pad_steps: int, clip_rewards: bool
    ) -> None:
        self.frame_stack = frame_stack
        self.block_length = block_length
        self.pad_steps = pad_steps
        self.clip_rewards = clip_rewards
        self.frames: list[np.ndarray] = []
        self.actions: list[int | np.ndarray] = []
        self.rewards: list[float] = []
        self.policies: list[np.ndarray] = []

    def start(self, frame: np.ndarray) -> None:
        """Begin an episode: ``frame_stack - 1`` copies of the first frame pad the first stack."""
        self.frames = [frame] * self.frame_stack
        self.actions, self.rewards, self.policies = [], [], []

    def stacked(self) -> np.ndarray:
        """The current stacked observation ``[S, *F]``."""
        return np.stack(self.frames[-self.frame_stack :])

    def add(
        self,
        action: int | np.ndarray,
        reward: float,
        policy: np.ndarray,
        next_frame: np.ndarray,
    ) -> TrajectoryBlock | None:
        """Record a step; returns a block once ``block_length + pad_steps`` steps are held."""
        self.actions.append(action)
        self.rewards.append(float(np.sign(reward)) if self.clip_rewards else float(reward))
        self.policies.append(policy)
        self.frames.append(next_frame)
        if len(self.actions) < self.block_length + self.pad_steps:
            return None
        block = self._block(self.block_length, episode_end=False, terminated=False)
        cut = self.block_length
        # The next block starts at step ``cut``: keep its stack padding and the shared pad steps.
        self.frames = self.frames[cut:]
        self.actions, self.rewards = self.actions[cut:], self.rewards[cut:]
        self.policies = self.policies[cut:]
        return block

    def finish(self, terminated: bool) -> TrajectoryBlock | None:
        """The episode ended after the last step: every held step becomes a position."""
        if not self.actions:
            return None
        return self._block(len(self.actions), episode_end=True, terminated=terminated)

    def _block(self, num_positions: int, episode_end: bool, terminated: bool) -> TrajectoryBlock:
        actions = np.array(self.actions)  # [n] discrete actions or [n, D] action vectors
        return TrajectoryBlock(
            frames=np.stack(self.frames),
            actions=actions.astype(np.int64 if actions.ndim == 1 else np.float32),
            rewards=np.asarray(self.rewards, dtype=np.float32),
            policies=np.stack(self.policies).astype(np.float32),
            num_positions=num_positions,
            episode_end=episode_end,
            terminated=terminated,
        )


@dataclass
class StepResult:
    blocks: list[TrajectoryBlock] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    env_steps: int = 0
    searched: int = 0
    """Actions chosen by a search (not the random actions before ``start_transitions``)."""
    held: int = 0
    """Of those, the ones an exploratory repeat replaced (``RepeatExplorer``)."""

    def record(self, info: dict) -> None:
        """Keep the statistics of a game that ended (``info["episode"]``), if one did."""
        if "episode" in info:
            self.episode_returns.append(float(np.asarray(info["episode"]["r"])))


def collection_progress(config: Config, updates: int) -> float:
    """``updates`` as a fraction of the collection phase's (``config.temperature_updates``):
    what the acting temperature's milestones and the exploration decay are measured in."""
    return updates / config.temperature_updates


def visit_temperature(config: Config, updates: int) -> float:
    """Acting temperature for the progress ``updates / config.temperature_updates``.

    MuZero (Schrittwieser et al. 2020, Appendix F) and EfficientZero sample actions from visit
    counts ^ (1/T), T = 1, 0.5, 0.25 after 50% and 75% of training; the reference code measures
    the milestones against its 100k training steps (the collection phase), not all 120k updates.
    """
    progress = collection_progress(config, updates)
    for milestone, temperature in zip(config.temperature_milestones, config.temperatures):
        if progress < milestone:
            return temperature
    return config.temperatures[-1]


def explore_probability(config: Config, updates: int) -> float:
    """Probability of starting an exploratory repeat at ``updates``: ``explore_epsilon``, falling
    linearly to 0 over the first ``explore_decay`` of the collection phase's updates when that is
    above 0 (measured as ``visit_temperature``'s milestones)."""
    if config.explore_decay <= 0:
        return config.explore_epsilon
    progress = collection_progress(config, updates)
    return config.explore_epsilon * max(0.0, 1.0 - progress / config.explore_decay)


class RepeatExplorer:
    """Temporally-extended epsilon-greedy over a batch of environments (Dabney et al. 2021,
    "Temporally-Extended epsilon-Greedy Exploration", Algorithm 1; ``config.explore_epsilon``).

    Called with the actions a policy chose, one per environment: an environment without a
    repeat under way starts one with probability ``explore_epsilon``, a uniform random action
    (for Box actions a uniform vector in [-1, 1]^D) held for n ~ zeta(``explore_zeta_mu``)
    steps, at most ``explore_max_repeat``; the others keep the policy's action. On sparse
    rewards a held action reaches states that one-step dithering almost never does (MinAtar's
    Freeway: docs/minatar.md).
    """

    def __init__(
        self,
        config: Config,
        num_envs: int,
        num_actions: int,
        action_dim: int,
        rng: np.random.Generator,
    ) -> None:
        self.epsilon = config.explore_epsilon
        self.zeta_mu = config.explore_zeta_mu
        self.max_repeat = config.explore_max_repeat
        self.num_actions = num_actions
        self.action_dim = action_dim
        self.rng = rng
        self.left = np.zeros(num_envs, dtype=np.int64)
        """Steps left of each environment's repeat (0: none under way)."""
        shape = (num_envs, action_dim) if action_dim else (num_envs,)
        self.action = np.zeros(shape, dtype=np.float32 if action_dim else np.int64)
        """The action each environment's repeat holds."""
        self.held_steps = 0
        """Actions so far that a repeat replaced (the share of exploratory steps: docs/minatar.md)."""

    def __call__(self, actions: np.ndarray, epsilon: float | None = None) -> np.ndarray:
        """``actions`` [E] (or [E, D]) with the repeats under way, or starting, put in; with
        ``explore_epsilon`` 0 the actions themselves (no random draw: runs stay as before).
        ``epsilon``: the probability of starting a repeat now (``explore_probability``; default
        ``explore_epsilon``). Once it has fallen to 0, repeats under way run out."""
        if self.epsilon <= 0:
            return actions
        epsilon = self.epsilon if epsilon is None else epsilon
        starting = (self.left == 0) & (self.rng.random(len(self.left)) < epsilon)
        count = int(starting.sum())
        if count:
            lengths = self.rng.zipf(self.zeta_mu, count)
            self.left[starting] = np.minimum(lengths, self.max_repeat)
            if self.action_dim:
                self.action[starting] = self.rng.uniform(-1.0, 1.0, (count, self.action_dim))
            else:
                self.action[starting] = self.rng.integers(self.num_actions, size=count)
        repeating = self.left > 0
        if not repeating.any():
            return actions
        actions = actions.copy()
        actions[repeating] = self.action[repeating]
        self.held_steps += int(repeating.sum())
        self.left[repeating] -= 1
        return actions

    def stop(self, env: int) -> None:
        """End environment ``env``'s repeat (its episode ended)."""
        self.left[env] = 0


class SelfPlayActor:
    """Steps ``len(envs)`` environments together with one batched search per step."""

    def __init__(
        self,
        config: Config,
        model: AgentModel,
        envs: list[gym.Env],
        num_actions: int,
        seed: int,
    ) -> None:
        self.config = config
        self.model = model
        self.envs = envs
        self.num_actions = num_actions
        self.action_dim = getattr(model, "action_dim", 0)
        self.rng = np.random.default_rng(seed)
        # Buffers reused across this component's searches.
        self.searcher = Searcher(threads=config.search_threads, graphs=config.cuda_graphs)
        self.builders = [
            TrajectoryBuilder(
                config.frame_stack, config.block_length, config.pad_steps, config.clip_rewards
            )
            for _ in envs
        ]
        self.explorer = RepeatExplorer(config, len(envs), num_actions, self.action_dim, self.rng)
        self.reset_envs()

    def reset_envs(self) -> None:
        """Start a new episode in every environment, seeded from this actor's generator."""
        env_seeds = self.rng.integers(2**31 - 1, size=len(self.envs))
        for env, builder, env_seed in zip(self.envs, self.builders, env_seeds):
            frame, _ = env.reset(seed=int(env_seed))
            builder.start(frame)

    def set_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.model.net.load_state_dict(weights)

    def _plan(self, temperature: float) -> tuple[np.ndarray, np.ndarray]:
        """(actions [E] or [E, D], policies [E, A] or records) from one batched search."""
        frames = torch.from_numpy(np.stack([b.stacked() for b in self.builders]))
        result = plan(
            self.config, self.model, self.model.root(frames), self.rng, self.searcher, explore=True
        )
        children = choose_actions(result, temperature, self.rng)
        return env_actions(result, children), policy_records(result)

    def _random(self, num_envs: int) -> tuple[np.ndarray, np.ndarray]:
        """Uniform actions and the uniform policy (continuous: over uniform samples, the first
        of which is taken)."""
        uniform = np.full((num_envs, self.num_actions), 1.0 / self.num_actions, dtype=np.float32)
        if not self.action_dim:
            return self.rng.integers(self.num_actions, size=num_envs), uniform
        samples = self.rng.uniform(-1.0, 1.0, (num_envs, self.num_actions, self.action_dim))
        samples = samples.astype(np.float32)
        return samples[:, 0], pack_policy(uniform, samples)

    def step(
        self, temperature: float, random_actions: bool = False, explore: float | None = None
    ) -> StepResult:
        """One action in every environment; returns finished blocks and episode statistics.
        ``explore``: the probability of starting an exploratory repeat
        (``explore_probability``; default ``config.explore_epsilon``)."""
        num_envs = len(self.envs)
        searched = held = 0
        if random_actions:  # before learning starts (Ye et al. 2021, Appendix A): no search
            actions, policies = self._random(num_envs)
        else:
            actions, policies = self._plan(temperature)
            before = self.explorer.held_steps
            actions = self.explorer(actions, explore)
            searched, held = num_envs, self.explorer.held_steps - before
        result = StepResult(env_steps=num_envs, searched=searched, held=held)
        for i, (env, builder) in enumerate(zip(self.envs, self.builders)):
            action = actions[i] if self.action_dim else int(actions[i])
            frame, reward, terminated, truncated, info = env.step(action)
            block = builder.add(action, float(reward), policies[i], frame)
            if block is not None:
                result.blocks.append(block)
            result.record(info)
            if terminated or truncated:
                block = builder.finish(terminated=bool(terminated))
                if block is not None:
                    result.blocks.append(block)
                self.explorer.stop(i)  # a repeat does not carry into the next episode
                frame, reset_info = env.reset()
                result.record(reset_info)  # a game can end in the reset (Atari's continue-NOOP)
                builder.start(frame)
        return result
