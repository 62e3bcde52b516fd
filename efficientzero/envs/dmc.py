"""DeepMind Control Suite tasks (Tassa et al. 2018) as gymnasium environments.

Ids are ``dmc:<domain>-<task>`` as the suite spells them (``dmc:cartpole-swingup``,
``dmc:walker-walk``, ``dmc:ball_in_cup-catch``; ``cup`` is accepted for ``ball_in_cup``, as
EfficientZero V2 writes it). Observations are the task's proprioceptive features flattened, in
the suite's order, to one float32 vector; actions are the task's bounded Box (the library
discretises them with ``action_bins``). An episode ends by the suite's time limit (1,000 physics
control steps for every benchmark task: a truncation) or, for the few tasks that have one, by a
terminal state (discount 0). The suite comes from the ``dmc`` extra (``pip install -e ".[dmc]"``).
"""

from __future__ import annotations

import difflib
import os
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


def _suite() -> Any:
    # Proprioceptive tasks render nothing: without a display, picking an OpenGL backend only
    # warns. A user's own MUJOCO_GL choice is kept.
    os.environ.setdefault("MUJOCO_GL", "disable")
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
    """One suite task behind the gymnasium API (proprioceptive observations).

    ``reset(seed=s)`` rebuilds the task with ``s`` as its random state (the suite draws initial
    states and any task randomness from it); ``reset()`` continues the current stream.
    """

    def __init__(self, domain: str, task: str) -> None:
        self.domain, self.task = domain, task
        self._env = _suite().load(domain, task)
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        size = sum(int(np.prod(s.shape)) for s in self._env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)

    @staticmethod
    def _flat(observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(v) for v in observation.values()]).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._env = _suite().load(self.domain, self.task, task_kwargs={"random": seed})
        return self._flat(self._env.reset().observation), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        step = self._env.step(np.asarray(action, dtype=np.float64))
        terminated = bool(step.last() and step.discount == 0.0)
        truncated = bool(step.last() and not terminated)
        return self._flat(step.observation), float(step.reward or 0.0), terminated, truncated, {}

    def close(self) -> None:
        self._env.close()


def make_dmc_env(env_id: str, max_episode_steps: int | None = None) -> gym.Env:
    """The task ``env_id`` names (``dmc:<domain>-<task>``), optionally capped at
    ``max_episode_steps`` control steps (the suite's own limit applies too)."""
    env: gym.Env = DMCEnv(*parse_dmc_id(env_id))
    if max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
    return env
