"""Environments: ``make_env`` for gymnasium vector-observation tasks and the Atari 100k games.

Every environment returns single frames (a ``[D]`` float vector or a ``[C, H, W]`` uint8 image);
frame stacking is done by the agent, which stores each frame once. On the step where an
episode (for Atari: a whole game) ends, ``info["episode"]`` holds ``{"r": unclipped return,
"l": length}``.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from efficientzero.config import Config, ConfigError
from efficientzero.envs.atari_games import is_atari_id


@dataclass(frozen=True)
class EnvSpec:
    frame_shape: tuple[int, ...]
    """Shape of one frame: (D,) or (C, H, W)."""
    frame_dtype: np.dtype
    num_actions: int


def _check_id(env_id: str) -> None:
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown environment {env_id!r}{hint} (any gymnasium id with a Discrete action space)"
    )


def _check_spaces(env: gym.Env, env_id: str) -> None:
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ConfigError(
            f"{env_id} has a {type(env.action_space).__name__} action space; EfficientZero needs a "
            "Discrete one (discretise continuous actions with a wrapper first)"
        )
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ConfigError(
            f"{env_id} has observations {space}; the vector preset needs a 1-D Box observation "
            "(images: use --preset atari100k for Atari games)"
        )


class _FloatObservation(gym.ObservationWrapper):
    """Vector observations as float32 (what replay stores and the MLP reads)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box)
        self.observation_space = gym.spaces.Box(
            space.low.astype(np.float32), space.high.astype(np.float32), dtype=np.float32
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation, dtype=np.float32)


def make_env(
    config: Config, *, evaluation: bool = False, render_mode: str | None = None
) -> gym.Env:
    """A new environment for ``config.env_id`` (unseeded: call ``reset(seed=...)``)."""
    if is_atari_id(config.env_id):
        from efficientzero.envs.atari import make_atari_env

        return make_atari_env(config, evaluation=evaluation, render_mode=render_mode)
    _check_id(config.env_id)
    cap = config.eval_max_episode_steps if evaluation else config.max_episode_steps
    try:
        env = gym.make(config.env_id, render_mode=render_mode, max_episode_steps=cap)
    except gym.error.DependencyNotInstalled as error:
        raise ConfigError(f"{config.env_id} needs an extra dependency: {error}") from error
    _check_spaces(env, config.env_id)
    return gym.wrappers.RecordEpisodeStatistics(_FloatObservation(env))


@functools.lru_cache(maxsize=16)
def env_spec(config: Config) -> EnvSpec:
    """Frame shape, dtype and action count of ``config.env_id`` (validated; made once per config,
    though the command line, the trainer and its source each ask)."""
    env = make_env(config)
    try:
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box) and isinstance(
            env.action_space, gym.spaces.Discrete
        )
        return EnvSpec(tuple(space.shape), np.dtype(space.dtype), int(env.action_space.n))
    finally:
        env.close()


__all__ = ["EnvSpec", "env_spec", "make_env"]
