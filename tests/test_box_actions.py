"""Box (continuous) action spaces discretised by ``action_bins``: the mapping, the refusals,
and a run through the command line (the sampled search without bins: tests/test_sampled.py)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from helpers import tiny_args

from efficientzero.cli import main
from efficientzero.config import ConfigError
from efficientzero.envs import env_spec, make_env
from efficientzero.presets import cartpole


class _BoxActionEnv(gym.Env):
    """One observation, actions from ``action_space``; ends after 5 steps."""

    def __init__(self, action_space: gym.Space, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = action_space
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        return np.zeros(2, np.float32), 0.0, self.steps >= 5, False, {}


SPACES = {
    "Unbounded": gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
    "ThreeDims": gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
    "MatrixActions": gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),
    "DictActions": gym.spaces.Dict({"a": gym.spaces.Discrete(2)}),
}
for _name, _space in SPACES.items():
    gym.register(
        f"test/{_name}-v0", entry_point=lambda space=_space, **kw: _BoxActionEnv(space, **kw)
    )


def test_bins_act_at_the_bin_centres_of_each_dimension():
    env = make_env(cartpole("Pendulum-v1").replace(action_bins=5))
    assert env.action_space == gym.spaces.Discrete(5)
    env.reset(seed=0)
    torques = []
    for action in range(5):
        env.step(action)
        torques.append(float(env.unwrapped.last_u))
    # [-2, 2] in 5 equal bins: centres -1.6, -0.8, 0, 0.8, 1.6
    assert torques == pytest.approx([-1.6, -0.8, 0.0, 0.8, 1.6], abs=1e-6)
    assert env_spec(cartpole("Pendulum-v1").replace(action_bins=5)).num_actions == 5
    assert env_spec(cartpole("test/ThreeDims-v0").replace(action_bins=6)).num_actions == 216


@pytest.mark.parametrize(
    ("env_id", "bins", "message"),
    [
        ("test/MatrixActions-v0", None, "have shape (2, 2); the agent takes a vector"),
        ("test/Unbounded-v0", 5, "unbounded"),
        ("test/Unbounded-v0", None, "wrap the environment in gymnasium.wrappers.RescaleAction"),
        ("test/ThreeDims-v0", 7, "343 actions, more than the 256"),
        ("test/DictActions-v0", None, "Dict action space"),
        ("CartPole-v1", 5, "already has discrete actions (2)"),
        ("ALE/Pong-v5", 5, "Atari games have discrete actions"),
    ],
)  # fmt: skip
def test_action_spaces_that_cannot_be_used_are_refused_in_one_line(env_id, bins, message):
    with pytest.raises(ConfigError) as error:
        make_env(cartpole(env_id).replace(action_bins=bins))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_cli_refuses_unusable_box_actions_before_writing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--env", "test/Unbounded-v0", "--run-dir", str(run_dir), "--no-progress"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert "unbounded" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_pendulum_trains_and_evaluates_through_the_cli(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--env", "Pendulum-v1", "--action-bins", "5", "--run-dir", str(run_dir)]
    # Pendulum's episodes last 200 steps: blocks of 50 + 5 + 10 steps fill before 600 steps.
    assert main([*args, *tiny_args(td_steps=10)]) == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 600 and np.isfinite(rows[-1]["eval_return_mean"])
    assert json.loads((run_dir / "config.json").read_text())["action_bins"] == 5
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert len(result["returns"]) == 2 and all(r < 0 for r in result["returns"])


def test_a_run_too_short_to_fill_a_replay_block_stops_with_an_error(tmp_path, capsys):
    """600 steps of 4 Pendulum episodes (200 steps each) with the preset's 100-step returns fill
    no block of 50 + 5 + 100 steps: a one-line error, not a learner waiting for ever."""
    run_dir = tmp_path / "run"
    args = ["train", "--preset", "cartpole", "--env", "Pendulum-v1", "--action-bins", "5"]
    args += ["--run-dir", str(run_dir)]
    assert main([*args, *tiny_args()]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "filled no replay block" in err[0] and "155 steps" in err[0]


def test_discretisation_round_trips_every_action_through_its_bin_centre():
    """Discrete action i -> the centres of its bins (one per dimension) -> the bins that hold
    those values -> i again, for all 4 ** 3 actions of a 3-dimensional Box."""
    bins = 4
    env = gym.wrappers.DiscretizeAction(_BoxActionEnv(SPACES["ThreeDims"]), bins)
    low, high = SPACES["ThreeDims"].low, SPACES["ThreeDims"].high
    width = (high - low) / bins
    for i in range(bins**3):
        vector = np.asarray(env.action(i))
        cells = np.floor((vector - low) / width).astype(int)
        np.testing.assert_allclose(vector, low + (cells + 0.5) * width, atol=1e-6)
        assert np.ravel_multi_index(tuple(cells), (bins,) * 3) == i
