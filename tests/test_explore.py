"""Temporally-extended epsilon-greedy in self-play (config.explore_epsilon)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from efficientzero.actor import RepeatExplorer, SelfPlayActor, explore_probability
from efficientzero.cli import main
from efficientzero.config import ConfigError
from efficientzero.presets import make_preset
from tests.helpers import tiny_args, tiny_config
from tests.test_builder import _GameOverInReset


def _explorer(num_envs: int = 4, action_dim: int = 0, **changes: object) -> RepeatExplorer:
    config = make_preset("cartpole").replace(**changes)
    return RepeatExplorer(config, num_envs, 6, action_dim, np.random.default_rng(0))


def test_every_step_explores_at_epsilon_one_in_capped_repeats():
    explorer = _explorer(explore_epsilon=1.0, explore_zeta_mu=1.1, explore_max_repeat=5)
    search = np.full(4, 7)  # an action the random ones (0..5) never are
    lengths, held = [], []
    for _ in range(400):
        starting = explorer.left == 0
        before = explorer.action.copy()
        taken = explorer(search)
        assert (taken != 7).all()  # epsilon 1: no step is left to the search
        lengths += (explorer.left[starting] + 1).tolist()
        held += (taken[~starting] == before[~starting]).tolist()
    assert set(lengths) <= {1, 2, 3, 4, 5} and len(set(lengths)) == 5
    assert lengths.count(5) > len(lengths) / 4  # zeta(1.1) is heavy-tailed: the cap binds
    assert all(held)  # between starts, each environment repeats its action
    assert set(explorer.action.tolist()) <= set(range(6))


def test_repeats_are_as_long_as_zeta_draws_and_then_leave_the_search_in_charge():
    explorer = _explorer(num_envs=2000, explore_epsilon=0.01, explore_zeta_mu=2.0)
    search = np.full(2000, 7)
    taken = np.stack([explorer(search) for _ in range(300)])
    explored = (taken != 7).mean()
    # Stationary share of exploring steps: eps * E[n] / (1 + eps * E[n] - eps), with
    # E[n] of zeta(2) capped at 10,000 about 5.4 (sum of n^-1 / zeta(2)): about 0.05.
    assert 0.02 < explored < 0.09
    assert (taken == 7).any(axis=0).all()  # every environment follows the search at times


def test_continuous_actions_repeat_a_uniform_vector():
    explorer = _explorer(
        action_dim=2, explore_epsilon=1.0, explore_zeta_mu=1.5, explore_max_repeat=3
    )
    search = np.full((4, 2), 9.0, dtype=np.float32)
    taken = np.stack([explorer(search) for _ in range(50)])
    assert taken.shape == (50, 4, 2) and np.abs(taken).max() <= 1.0
    same_as_before = (taken[1:] == taken[:-1]).all(axis=2)
    assert same_as_before.any()  # a vector is held over a repeat, both coordinates at once


def test_an_episode_end_stops_the_repeat():
    config = make_preset("cartpole").replace(num_envs=2, explore_epsilon=0.5)
    envs = [_GameOverInReset(), _GameOverInReset()]
    actor = SelfPlayActor(config, None, envs, 2, seed=0)  # type: ignore[arg-type]
    actor.explorer.left[:] = 50
    actor.step(1.0, random_actions=True)  # every environment here ends at every step
    assert (actor.explorer.left == 0).all()


def test_zeta_exponent_must_exceed_one():
    with pytest.raises(ConfigError, match="explore_zeta_mu must be > 1"):
        tiny_config(explore_zeta_mu=1.0)


def test_a_run_explores_through_the_cli(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "train",
        *tiny_args(explore_epsilon=0.3, explore_zeta_mu=1.5),
        "--run-dir",
        str(run_dir),
    ]
    assert main(args) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["explore_epsilon"] == 0.3 and config["explore_zeta_mu"] == 1.5
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(row["explore_probability"] == 0.3 for row in rows)
    assert all(0.0 < row["explore_share"] < 1.0 for row in rows)  # held repeats, and searches


def test_the_evaluation_rows_show_the_probability_falling(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", *tiny_args(explore_epsilon=1.0, explore_decay=1.0), "--run-dir", str(run_dir)]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    probabilities = [row["explore_probability"] for row in rows]
    assert len(rows) >= 2 and probabilities == sorted(probabilities, reverse=True)
    assert probabilities[0] < 1.0 and probabilities[-1] == 0.0


def test_without_exploration_the_rows_have_no_explore_fields(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", *tiny_args(), "--run-dir", str(run_dir)]) == 0
    row = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert "explore_share" not in row and "explore_probability" not in row


def test_the_exploration_probability_falls_linearly_to_zero_over_the_decay():
    config = tiny_config(explore_epsilon=0.2, explore_decay=0.5)
    whole = config.temperature_updates
    assert explore_probability(config, 0) == pytest.approx(0.2)
    assert explore_probability(config, whole // 4) == pytest.approx(0.1, rel=0.02)
    assert explore_probability(config, whole // 2) == 0.0
    assert explore_probability(config, whole) == 0.0
    constant = tiny_config(explore_epsilon=0.2)
    assert explore_probability(constant, whole) == 0.2


def test_a_zero_probability_starts_no_repeat_and_lets_one_under_way_run_out():
    explorer = _explorer(num_envs=3, explore_epsilon=1.0, explore_zeta_mu=1.5)
    explorer.left[:] = [0, 2, 0]
    explorer.action[:] = [4, 4, 4]
    search = np.full(3, 1, dtype=np.int64)
    assert explorer(search, 0.0).tolist() == [1, 4, 1]
    assert explorer(search, 0.0).tolist() == [1, 4, 1]
    assert explorer(search, 0.0).tolist() == [1, 1, 1]
    assert explorer.held_steps == 2
    assert explorer(search).tolist() == explorer.action.tolist()  # epsilon 1: all start one
    assert explorer.held_steps == 5
