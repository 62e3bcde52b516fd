"""Environments: ``make_env`` for any gymnasium task with a Discrete action space, or a bounded
Box one (rescaled to [-1, 1] for the sampled search, or discretised by ``action_bins``; vector or
image observations), the MinAtar games, the
DeepMind Control Suite tasks (``dmc:<domain>-<task>``) and the Atari 100k games.

Every environment returns single frames: a ``[D]`` float32 vector, or a ``[C, H, W]`` image in
the smallest exact dtype (uint8 for uint8 and boolean images, boolean boards as 0/255; float32
for float images); frame stacking is done by the agent, which stores each frame once. On the step where an
episode (for Atari: a whole game) ends, ``info["episode"]`` holds ``{"r": unclipped return,
"l": length}``.
"""

from __future__ import annotations

import difflib
import functools
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from efficientzero.config import Config, ConfigError
from efficientzero.envs.atari_games import is_atari_id
from efficientzero.envs.dmc import RepeatRenderLast, is_dmc_id, make_dmc_env, parse_dmc_id
from efficientzero.envs.minatar import is_minatar_id, register_minatar, resolve_minatar_id


@dataclass(frozen=True)
class EnvSpec:
    frame_shape: tuple[int, ...]
    """Shape of one frame: (D,) or (C, H, W)."""
    frame_dtype: np.dtype
    num_actions: int
    """Children of each search node: the discrete actions, or for continuous actions the
    ``sampled_actions`` drawn per node."""
    action_dim: int = 0
    """Continuous actions: dimensions of the action vector (in [-1, 1]); 0 for discrete ones."""


def _check_id(env_id: str) -> None:
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown environment {env_id!r}{hint} (any gymnasium id with Discrete or Box actions)"
    )


MAX_ACTIONS = 256
"""Most actions a discretised Box action space may have (the search enumerates every one at
each node)."""


def _agent_actions(env: gym.Env, env_id: str, bins: int | None) -> gym.Env:
    """``env`` with the actions the agent takes: Discrete ones as they are; Box ones discretised
    into ``bins`` values per dimension, or (``bins`` None) rescaled to [-1, 1]^D for the sampled
    search (``nets/sampled.py``); a ConfigError for anything else."""
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        if bins is not None:
            raise ConfigError(
                f"{env_id} already has discrete actions ({space.n}); --action-bins is for Box "
                "(continuous) action spaces: drop it"
            )
        return env
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(
            f"{env_id} has a {type(space).__name__} action space; EfficientZero takes Discrete "
            "or Box actions (flatten other spaces with a wrapper)"
        )
    dims = int(np.prod(space.shape))
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise ConfigError(
            f"{env_id}'s Box actions are unbounded (low {space.low}, high {space.high}); the "
            "agent acts within finite bounds: wrap the environment in "
            "gymnasium.wrappers.RescaleAction (or ClipAction over a bounded Box) first"
        )
    if len(space.shape) != 1:
        raise ConfigError(
            f"{env_id}'s Box actions have shape {space.shape}; the agent takes a vector of "
            "actions: flatten them with a gymnasium.ActionWrapper of your own"
        )
    if bins is None:
        low = np.full(space.shape, -1.0, np.float32)
        return gym.wrappers.RescaleAction(env, low, -low)
    if bins**dims > MAX_ACTIONS:
        raise ConfigError(
            f"--action-bins {bins} on {env_id}'s {dims} action dimensions gives {bins**dims} "
            f"actions, more than the {MAX_ACTIONS} a search can enumerate; use fewer bins, or "
            "drop --action-bins for the sampled search"
        )
    return gym.wrappers.DiscretizeAction(env, bins)


def _check_spaces(env: gym.Env, env_id: str) -> None:
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (1, 2, 3):
        raise ConfigError(
            f"{env_id} has observations {space}; EfficientZero takes a Box of rank 1 (a vector), "
            "2 (H x W) or 3 (H x W x C or C x H x W): wrap stacks of frames or dict "
            "observations to one frame (the agent stacks frames itself, see --frame-stack)"
        )


def image_layout(shape: tuple[int, ...], setting: str = "auto") -> str:
    """Axis order of image observations of ``shape``: "hw", "hwc" or "chw".

    "auto" reads H x W x C (gymnasium's convention, MinAtar's 10x10xC) unless the last axis is
    longer than the first, which only a channels-first frame has (1x32x32, 3x96x96).
    """
    if len(shape) == 2:
        return "hw"
    if setting != "auto":
        return setting
    return "chw" if shape[-1] > shape[0] else "hwc"


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


class ImageObservation(gym.ObservationWrapper):
    """Image observations as ``[C, H, W]`` frames in the smallest exact dtype.

    uint8 stays uint8 (the networks read x / 255); booleans become uint8 0 / 255, so they cost
    one byte a cell in replay and read as 0 / 1; other dtypes become float32, read as they are.
    ``layout`` is the environment's axis order ("hw", "hwc" or "chw", see :func:`image_layout`).
    """

    def __init__(self, env: gym.Env, layout: str) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box)
        self.layout = layout
        self.boolean = space.dtype == np.bool_
        self.dtype = np.dtype(np.uint8 if self.boolean or space.dtype == np.uint8 else np.float32)
        shape = self._frame(np.zeros(space.shape, space.dtype)).shape
        if self.dtype == np.uint8:
            self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        else:
            low = self._frame(np.broadcast_to(space.low, space.shape).astype(np.float32))
            high = self._frame(np.broadcast_to(space.high, space.shape).astype(np.float32))
            self.observation_space = gym.spaces.Box(low, high, shape, np.float32)

    def _frame(self, observation: np.ndarray) -> np.ndarray:
        if self.layout == "hw":
            observation = observation[None]
        elif self.layout == "hwc":
            observation = observation.transpose(2, 0, 1)
        return np.ascontiguousarray(observation)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        frame = self._frame(np.asarray(observation))
        if self.boolean:
            return frame.view(np.uint8) * np.uint8(255)  # bools are bytes 0 / 1: no copy
        return frame.astype(self.dtype, copy=False)


def make_env(
    config: Config, *, evaluation: bool = False, render_mode: str | None = None
) -> gym.Env:
    """A new environment for ``config.env_id`` (unseeded: call ``reset(seed=...)``)."""
    if is_atari_id(config.env_id):
        from efficientzero.envs.atari import make_atari_env

        if config.action_repeat != 1:
            raise ConfigError(
                "action_repeat is for non-Atari environments; Atari repeats each action "
                f"frame_skip times (--frame-skip, now {config.frame_skip})"
            )
        if config.action_bins is not None:
            raise ConfigError("Atari games have discrete actions; --action-bins is for Box ones")

        return make_atari_env(config, evaluation=evaluation, render_mode=render_mode)
    env_id = config.env_id
    cap = config.eval_max_episode_steps if evaluation else config.max_episode_steps
    if cap is not None:
        cap *= config.action_repeat  # the caps count agent steps
    if is_dmc_id(env_id):
        env = make_dmc_env(env_id, cap, config.pixels, config.obs_size)
    elif config.pixels:
        raise ConfigError(
            f"--pixels is for DeepMind Control tasks (dmc:<domain>-<task>), not {env_id}; "
            "image environments give images without it"
        )
    else:
        env = _make_gymnasium(config, env_id, cap, render_mode)
    env = _agent_actions(env, env_id, config.action_bins)
    _check_spaces(env, env_id)
    shape = env.observation_space.shape
    assert shape is not None
    # Statistics under the repeat: an episode's return and length in environment steps.
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if config.action_repeat > 1 and is_dmc_id(env_id) and config.pixels:
        env = RepeatRenderLast(env, config.action_repeat)
    elif config.action_repeat > 1:
        env = gym.wrappers.RepeatAction(env, config.action_repeat)
    if len(shape) == 1:
        return _FloatObservation(env)
    return ImageObservation(env, image_layout(shape, config.image_layout))


def _make_gymnasium(
    config: Config, env_id: str, cap: int | None, render_mode: str | None
) -> gym.Env:
    """A registered gymnasium environment (MinAtar's registered first)."""
    options: dict[str, Any] = {}
    if is_minatar_id(env_id):
        register_minatar()
        env_id = resolve_minatar_id(env_id)
        options["sticky_action_prob"] = config.repeat_action_probability
    _check_id(env_id)
    try:
        with warnings.catch_warnings():
            # MinAtar's v0 (all 6 actions) is not outdated by v1 (minimal set), as gymnasium says.
            warnings.filterwarnings(
                "ignore", message=".*is out of date", category=DeprecationWarning
            )
            return gym.make(env_id, render_mode=render_mode, max_episode_steps=cap, **options)
    except gym.error.DependencyNotInstalled as error:
        raise ConfigError(f"{env_id} needs an extra dependency: {error}") from error


def observation_rank(env_id: str) -> int:
    """Rank of a gymnasium environment's observations (not Atari or MinAtar, which the presets
    name themselves): 1 for vectors, 2 or 3 for images; what picks a preset before any config
    exists (the action space is not checked here)."""
    if is_dmc_id(env_id):
        parse_dmc_id(env_id)  # checks the id and the extra
        return 1  # the features; --pixels is a preset choice (dmc-pixels)
    _check_id(env_id)
    env = gym.make(env_id)
    try:
        return len(env.observation_space.shape or ())
    finally:
        env.close()


def has_box_actions(env_id: str) -> bool:
    """Whether a registered gymnasium environment (not Atari, MinAtar or DeepMind Control) has
    Box (continuous) actions; what picks the ``continuous`` preset."""
    _check_id(env_id)
    env = gym.make(env_id)
    try:
        return isinstance(env.action_space, gym.spaces.Box)
    finally:
        env.close()


@functools.lru_cache(maxsize=16)
def env_spec(config: Config) -> EnvSpec:
    """Frame shape, dtype and actions of ``config.env_id`` (validated; made once per config,
    though the command line, the trainer and its source each ask)."""
    env = make_env(config)
    try:
        space, actions = env.observation_space, env.action_space
        assert isinstance(space, gym.spaces.Box)
        shape, dtype = tuple(space.shape), np.dtype(space.dtype)
        if isinstance(actions, gym.spaces.Box):
            return EnvSpec(shape, dtype, config.sampled_actions, int(actions.shape[0]))
        assert isinstance(actions, gym.spaces.Discrete)
        return EnvSpec(shape, dtype, int(actions.n))
    finally:
        env.close()


__all__ = [
    "EnvSpec",
    "ImageObservation",
    "env_spec",
    "has_box_actions",
    "image_layout",
    "make_env",
    "observation_rank",
]
