"""Vector environments: the generic path's wrappers (action repeat, episode statistics, caps)."""

from __future__ import annotations

import numpy as np
import pytest

from efficientzero.config import ConfigError
from efficientzero.envs import env_spec, make_env
from efficientzero.presets import cartpole


def play(env, action: int = 0, seed: int = 0) -> tuple[int, float, dict]:
    """Steps ``action`` until the episode ends: (agent steps, summed reward, last info)."""
    env.reset(seed=seed)
    steps, total = 0, 0.0
    while True:
        _, reward, terminated, truncated, info = env.step(action)
        steps += 1
        total += float(reward)
        if terminated or truncated:
            return steps, total, info


def test_action_repeat_sums_rewards_and_counts_environment_steps_in_episode_stats():
    once = make_env(cartpole().replace(max_episode_steps=None))
    steps, total, info = play(once)  # pushing left always: the pole falls in a few steps
    assert info["episode"]["l"] == steps and info["episode"]["r"] == total

    repeated = make_env(cartpole().replace(action_repeat=4, max_episode_steps=None))
    agent_steps, repeated_total, info = play(repeated)
    # The same seed and actions: the same environment steps, now four to an agent step.
    assert info["episode"]["l"] == steps and info["episode"]["r"] == total == repeated_total
    assert agent_steps == -(-steps // 4)
    assert env_spec(cartpole().replace(action_repeat=4)) == env_spec(cartpole())


def test_episode_caps_count_agent_steps_under_action_repeat():
    env = make_env(cartpole("Acrobot-v1").replace(action_repeat=3, max_episode_steps=10))
    agent_steps, total, info = play(env)
    assert agent_steps == 10 and info["episode"]["l"] == 30 and total == -30.0
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.float32


def test_action_repeat_is_refused_for_atari():
    with pytest.raises(ConfigError, match="frame_skip"):
        make_env(cartpole("ALE/Pong-v5").replace(action_repeat=2))
