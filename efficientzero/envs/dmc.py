"""DeepMind Control Suite tasks (Tassa et al. 2018) as gymnasium environments.

Ids are ``dmc:<domain>-<task>`` as the suite spells them (``dmc:cartpole-swingup``,
``dmc:walker-walk``, ``dmc:ball_in_cup-catch``; ``cup`` is accepted for ``ball_in_cup``, as
EfficientZero V2 writes it). Observations are the task's proprioceptive features flattened, in
the suite's order, to one float32 vector, or (``pixels``) RGB frames rendered offscreen by
MuJoCo (EGL where the library exists, else OSMesa; ``MUJOCO_GL`` overrides); actions are the task's bounded Box (the library
discretises them with ``action_bins``). An episode ends by the suite's time limit (1,000 physics
control steps for every benchmark task: a truncation) or, for the few tasks that have one, by a
terminal state (discount 0). The suite comes from the ``dmc`` extra (``pip install -e ".[dmc]"``).
"""

from __future__ import annotations

import csv
import ctypes.util
import difflib
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import gymnasium as gym
import numpy as np

from efficientzero.config import ConfigError

PREFIX = "dmc:"
ALIASES = {"cup": "ball_in_cup"}
"""Domain names other papers use -> the suite's."""


def is_dmc_id(env_id: str) -> bool:
    """True for ``dmc:...`` ids."""
    return env_id.startswith(PREFIX)


RENDER_HELP = (
    "rendering needs an offscreen OpenGL library: EGL (apt-get install libegl1) or OSMesa "
    "(apt-get install libosmesa6, then MUJOCO_GL=osmesa)"
)


def _offscreen_backend() -> str:
    """MuJoCo's rendering backend when MUJOCO_GL is unset: EGL, else OSMesa, where the library
    exists (never GLFW, which needs a display), else none (proprioceptive tasks need none)."""
    if ctypes.util.find_library("EGL"):
        return "egl"
    if ctypes.util.find_library("OSMesa"):
        return "osmesa"
    return "disable"


def canonical_dmc_id(env_id: str) -> str:
    """``dmc:<domain>-<task>`` with the suite's domain name (``cup`` -> ``ball_in_cup``), by the
    name alone (no dm_control needed: reports read runs without it)."""
    name = env_id[len(PREFIX) :] if is_dmc_id(env_id) else env_id
    domain, _, task = name.partition("-")
    return f"{PREFIX}{ALIASES.get(domain, domain)}-{task}"


@dataclass(frozen=True)
class DMCTask:
    """A task's published reference return (``efficientzero/data/dmc.csv``).

    ``ezv2_100k``: EfficientZero V2's return at 100k environment steps from proprioceptive
    features (Wang et al. 2024, the DMControl proprio learning curves), read off the plots:
    approximate, to the nearest 10.
    """

    name: str
    env_id: str
    ezv2_100k: float


@lru_cache(maxsize=1)
def dmc_tasks() -> dict[str, DMCTask]:
    """Env id (canonical) -> task, for the tasks with a reference."""
    text = resources.files("efficientzero.data").joinpath("dmc.csv").read_text()
    return {
        row["env_id"]: DMCTask(row["task"], row["env_id"], float(row["ezv2_100k"]))
        for row in csv.DictReader(text.splitlines())
    }


def _suite() -> Any:
    if "MUJOCO_GL" not in os.environ:  # a user's own choice is kept
        backend = _offscreen_backend()
        os.environ["MUJOCO_GL"] = backend
        if backend in ("egl", "osmesa"):
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    try:
        from dm_control import suite
    except ImportError as error:
        raise ConfigError(
            f'DeepMind Control tasks need the dmc extra ({error}): pip install -e ".[dmc]"'
        ) from None
    return suite


def parse_dmc_id(env_id: str) -> tuple[str, str]:
    """``"dmc:cartpole-swingup"`` -> ``("cartpole", "swingup")``, checked against the suite.

    Raises ConfigError naming the closest task (and every task of a known domain) when the
    domain or task does not exist.
    """
    name = env_id[len(PREFIX) :] if is_dmc_id(env_id) else env_id
    domain, _, task = name.partition("-")
    domain = ALIASES.get(domain, domain)
    tasks: list[tuple[str, str]] = list(_suite().ALL_TASKS)
    if (domain, task) in tasks:
        return domain, task
    names = [f"{d}-{t}" for d, t in tasks]
    close = difflib.get_close_matches(f"{domain}-{task}", names, n=1, cutoff=0.5)
    hint = f"; did you mean dmc:{close[0]}?" if close else ""
    in_domain = [t for d, t in tasks if d == domain]
    known = (
        f"{domain} has tasks {', '.join(in_domain)}"
        if in_domain
        else f"domains: {', '.join(sorted({d for d, _ in tasks}))}"
    )
    raise ConfigError(f"unknown DeepMind Control task {env_id!r}{hint} ({known})")


class DMCEnv(gym.Env):
    """One suite task behind the gymnasium API: proprioceptive features, or with ``pixels`` an
    ``size x size x 3`` uint8 frame rendered offscreen from the task's camera (camera 0;
    quadruped's 2, as the benchmark papers use).

    ``reset(seed=s)`` rebuilds the task with ``s`` as its random state (the suite draws initial
    states and any task randomness from it); ``reset()`` continues the current stream.
    """

    def __init__(self, domain: str, task: str, pixels: bool = False, size: int = 96) -> None:
        self.domain, self.task, self.pixels, self.size = domain, task, pixels, size
        self.camera = 2 if domain == "quadruped" else 0
        self._env = _suite().load(domain, task)
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        if pixels:
            self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
            self._env.reset()
            try:
                self._render()
            except Exception as error:  # any backend's failure to make a context
                self._env.close()
                raise ConfigError(
                    f"--pixels could not render {domain}-{task} "
                    f"({type(error).__name__}: {error}); {RENDER_HELP}"
                ) from None
        else:
            size = sum(int(np.prod(s.shape)) for s in self._env.observation_spec().values())
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)

        self.render_frames = True
        """With pixels: whether ``step`` renders its observation (``RepeatRenderLast`` skips the
        frames an action repeat throws away; they come back black)."""

    def _render(self) -> np.ndarray:
        return self._env.physics.render(height=self.size, width=self.size, camera_id=self.camera)

    def frame(self) -> np.ndarray:
        """The current state, rendered."""
        return self._render()

    def _observe(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        if self.pixels:
            return (
                self._render()
                if self.render_frames
                else np.zeros((self.size, self.size, 3), np.uint8)
            )
        return np.concatenate([np.ravel(v) for v in observation.values()]).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._env = _suite().load(self.domain, self.task, task_kwargs={"random": seed})
        return self._observe(self._env.reset().observation), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        step = self._env.step(np.asarray(action, dtype=np.float64))
        terminated = bool(step.last() and step.discount == 0.0)
        truncated = bool(step.last() and not terminated)
        return self._observe(step.observation), float(step.reward or 0.0), terminated, truncated, {}

    def close(self) -> None:
        self._env.close()


def make_dmc_env(
    env_id: str, max_episode_steps: int | None = None, pixels: bool = False, size: int = 96
) -> gym.Env:
    """The task ``env_id`` names (``dmc:<domain>-<task>``), optionally capped at
    ``max_episode_steps`` control steps (the suite's own limit applies too); ``pixels``: rendered
    ``size x size`` RGB frames instead of features."""
    env: gym.Env = DMCEnv(*parse_dmc_id(env_id), pixels=pixels, size=size)
    if max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
    return env


class RepeatRenderLast(gym.Wrapper):
    """Action repeat (as gymnasium's ``RepeatAction``: rewards summed, stops at an episode's end)
    that renders only the last frame of each repeat, the one the agent sees: with pixels,
    rendering costs more than the physics."""

    def __init__(self, env: gym.Env, repeat: int) -> None:
        super().__init__(env)
        self.repeat = repeat
        task = env.unwrapped
        assert isinstance(task, DMCEnv)
        self.task: DMCEnv = task

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for i in range(self.repeat):
            self.task.render_frames = i == self.repeat - 1
            observation, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                if i < self.repeat - 1:
                    observation = self.task.frame()
                break
        self.task.render_frames = True
        return observation, total, terminated, truncated, info
