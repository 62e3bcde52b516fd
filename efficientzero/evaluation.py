"""Evaluation episodes: all run in parallel, argmax of visit counts, no root noise.

Environment ``i`` is seeded with ``seed + i`` (the Atari 100k protocol uses seeds 0..31);
returns are the environment's unclipped scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from efficientzero.config import Config
from efficientzero.nets import AgentModel
from efficientzero.planning import choose_actions, env_actions, plan
from efficientzero.search import Searcher


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    seeds: list[int]
    video_path: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))


def _render(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray):
        raise ValueError("video recording needs environments made with render_mode='rgb_array'")
    return frame


def evaluate_episodes(
    config: Config,
    model: AgentModel,
    make_env: Callable[[], gym.Env],
    *,
    episodes: int,
    seed: int = 0,
    video_path: Path | None = None,
) -> EvalResult:
    """Play ``episodes`` episodes with seeds ``seed .. seed + episodes - 1``, greedily, each
    search with ``config.eval_num_simulations`` simulations (``num_simulations`` where None).

    With ``video_path`` the first episode's rendered frames are written there (the factory must
    then create environments with ``render_mode="rgb_array"``).
    """
    config = config.for_evaluation()
    envs = [make_env() for _ in range(episodes)]
    rng = np.random.default_rng(seed)
    searcher = Searcher(threads=config.search_threads, graphs=config.cuda_graphs)
    stacks: list[list[np.ndarray]] = []
    for i, env in enumerate(envs):
        frame, _ = env.reset(seed=seed + i)
        stacks.append([frame] * config.frame_stack)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    active = list(range(episodes))
    video: list[np.ndarray] = []
    if video_path is not None:
        video.append(_render(envs[0]))
    while active:
        frames = torch.from_numpy(
            np.stack([np.stack(stacks[i][-config.frame_stack :]) for i in active])
        )
        root = model.root(frames)
        result = plan(config, model, root, rng, searcher, explore=False)
        actions = env_actions(result, choose_actions(result, 0.0, rng))
        still = []
        for j, i in enumerate(active):
            action = actions[j] if actions.ndim > 1 else int(actions[j])
            frame, reward, terminated, truncated, _ = envs[i].step(action)
            returns[i] += reward
            lengths[i] += 1
            stacks[i] = (
                [*stacks[i][-(config.frame_stack - 1) :], frame]
                if config.frame_stack > 1
                else [frame]
            )
            if video_path is not None and i == 0:
                video.append(_render(envs[0]))
            if not (terminated or truncated):
                still.append(i)
        active = still
    for env in envs:
        env.close()
    written = None
    if video_path is not None:
        from efficientzero.envs.video import write_video

        write_video(video, video_path)
        written = str(video_path)
    return EvalResult(
        returns=returns.tolist(),
        lengths=lengths.tolist(),
        seeds=list(range(seed, seed + episodes)),
        video_path=written,
    )
