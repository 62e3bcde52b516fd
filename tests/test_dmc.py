"""DeepMind Control Suite tasks: ids, the gymnasium wrapper, the preset, refusals and a run through
the command line (proprioceptive observations)."""

from __future__ import annotations

import json
import sys

import gymnasium as gym
import numpy as np
import pytest
from helpers import tiny_args

from efficientzero.cli import main
from efficientzero.config import ConfigError
from efficientzero.envs import make_env, observation_rank
from efficientzero.envs.dmc import DMCEnv, parse_dmc_id
from efficientzero.presets import DMC_BINS, dmc, dmc_pixels, make_preset, preset_for

pytest.importorskip("dm_control")


def test_ids_as_the_suite_spells_them_and_the_cup_alias():
    assert parse_dmc_id("dmc:cartpole-swingup") == ("cartpole", "swingup")
    assert parse_dmc_id("dmc:ball_in_cup-catch") == ("ball_in_cup", "catch")
    assert parse_dmc_id("dmc:cup-catch") == ("ball_in_cup", "catch")
    assert parse_dmc_id("dmc:humanoid-run_pure_state") == ("humanoid", "run_pure_state")


@pytest.mark.parametrize(
    "env_id, message",
    [
        ("dmc:cartpole-swingpu", "did you mean dmc:cartpole-swingup? (cartpole has tasks balance,"),
        ("dmc:walkr-walk", "did you mean dmc:walker-walk? (domains: acrobot,"),
        ("dmc:nothing", "unknown DeepMind Control task 'dmc:nothing'"),
    ],
)
def test_unknown_domain_or_task_is_refused_with_what_exists(env_id, message):
    with pytest.raises(ConfigError, match=None) as error:
        parse_dmc_id(env_id)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_without_the_extra_the_error_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dm_control", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[dmc\]"'):
        parse_dmc_id("dmc:cartpole-swingup")


def test_wrapper_spaces_seeding_and_the_time_limit_as_truncation():
    env = DMCEnv("cartpole", "swingup")
    assert env.observation_space.shape == (5,)  # position 3 + velocity 2, flattened
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    first, _ = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    other, _ = env.reset(seed=4)
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and not np.array_equal(first, other)
    steps, total, done = 0, 0.0, (False, False)
    while not any(done):
        _, reward, *done, _ = env.step(np.zeros(1, np.float32))
        steps, total = steps + 1, total + reward
    assert steps == 1000 and done == [False, True]  # the suite's limit: truncated, not terminal
    assert 0.0 <= total <= 1000.0
    env.close()


def test_make_env_discretises_repeats_and_counts_environment_steps():
    config = dmc("dmc:cartpole-swingup")
    env = make_env(config)
    assert env.action_space == gym.spaces.Discrete(9)
    env.reset(seed=0)
    agent_steps, info = 0, {}
    while "episode" not in info:
        *_, info = env.step(4)  # the middle bin: zero force
        agent_steps += 1
    assert agent_steps == 250 and int(info["episode"]["l"]) == 1000  # repeat 4
    env.close()


def test_preset_bins_one_action_dimension_and_samples_more():
    assert preset_for("dmc:walker-walk") == "dmc" and observation_rank("dmc:walker-walk") == 1
    walker = make_preset(None, "dmc:walker-walk")
    assert walker.action_bins is None and walker.search_algorithm == "gumbel"
    assert walker.action_repeat == 4
    cartpole = make_preset(None, "dmc:cartpole-swingup")
    assert cartpole.action_bins == DMC_BINS and cartpole.search_algorithm == "puct"
    assert walker.total_env_steps * walker.action_repeat == 100_000
    with pytest.raises(ConfigError, match="dmc:<domain>-<task>"):
        dmc("CartPole-v1")


def test_cartpole_swingup_trains_and_evaluates_through_the_cli(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--env", "dmc:cartpole-swingup", "--run-dir", str(run_dir)]
    assert main([*args, *tiny_args(td_steps=10)]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["preset"] == "dmc" and config["action_bins"] == 9
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 600 and np.isfinite(rows[-1]["eval_return_mean"])
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert len(result["returns"]) == 2 and all(0.0 <= r <= 1000.0 for r in result["returns"])


# ------------------------------------------------------------------------- pixels


def test_pixels_render_only_the_frame_each_repeat_ends_on(monkeypatch):
    renders = []
    original = DMCEnv._render

    def counting(self):
        renders.append(1)
        return original(self)

    monkeypatch.setattr(DMCEnv, "_render", counting)
    env = make_env(dmc_pixels("dmc:cartpole-swingup").replace(obs_size=32))
    assert env.observation_space == gym.spaces.Box(0, 255, (3, 32, 32), np.uint8)
    observation, _ = env.reset(seed=0)
    renders.clear()
    for _ in range(5):
        observation, *_ = env.step(4)
    assert len(renders) == 5  # not 10: repeat 2 renders the second frame of each step only
    assert observation.dtype == np.uint8 and observation.max() > 0  # a real frame, not a blank
    env.close()


def test_pixels_without_a_renderer_is_one_line_naming_the_packages(monkeypatch, tmp_path, capsys):
    def broken(self):
        raise RuntimeError("No OpenGL rendering backend is available.")

    monkeypatch.setattr(DMCEnv, "_render", broken)
    with pytest.raises(ConfigError, match="apt-get install libegl1"):
        DMCEnv("cartpole", "swingup", pixels=True)
    run_dir = tmp_path / "run"
    args = ["train", "--preset", "dmc-pixels", "--env", "dmc:cartpole-swingup"]
    assert main([*args, "--run-dir", str(run_dir), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert "libosmesa6" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_pixels_only_for_deepmind_control():
    with pytest.raises(ConfigError, match="--pixels is for DeepMind Control tasks"):
        make_env(dmc("dmc:cartpole-swingup").replace(env_id="CartPole-v1", pixels=True))


@pytest.mark.parametrize("actions", ["bins", "sampled"])
def test_pixels_train_and_evaluate_through_the_cli(tmp_path, capsys, actions):
    run_dir = tmp_path / "run"
    args = ["train", "--preset", "dmc-pixels", "--env", "dmc:cartpole-swingup"]
    if actions == "sampled":  # image observations with continuous actions: the ResNet's planes
        args += ["--action-bins", "None", "--search-algorithm", "gumbel"]
    small = ["--obs-size", "32", "--frame-stack", "2", "--num-channels", "8"]
    small += ["--reduced-channels", "4", "--lstm-hidden-size", "16", "--projection-dim", "32"]
    assert main([*args, "--run-dir", str(run_dir), *small, *tiny_args(td_steps=10)]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["pixels"] is True and config["preset"] == "dmc-pixels"
    assert (config["action_bins"] is None) == (actions == "sampled")
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "1"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert len(result["returns"]) == 1 and 0.0 <= result["returns"][0] <= 1000.0
