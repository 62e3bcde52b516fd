"""Atari 100k environment (docs/fidelity.md, item 14), checked against a raw ALE env driven in lockstep."""

from __future__ import annotations

import sys

import cv2
import gymnasium as gym
import numpy as np
import pytest

ale_py = pytest.importorskip("ale_py")

from efficientzero.config import Config, ConfigError  # noqa: E402
from efficientzero.envs.atari import Atari100kEnv, make_atari_env  # noqa: E402
from efficientzero.envs.atari_games import atari100k_games  # noqa: E402
from efficientzero.envs.video import record_episode, write_video  # noqa: E402
from efficientzero.presets import atari100k  # noqa: E402

gym.register_envs(ale_py)
FIRE = 1  # Breakout's minimal action set: NOOP, FIRE, RIGHT, LEFT. FIRE-only loses a life fast.


def config(game: str = "Breakout", **changes: object) -> Config:
    return atari100k(game).replace(**changes)


def raw_env(game: str) -> gym.Env:
    """The bare emulator under the protocol's settings: one frame per step, no sticky actions."""
    return gym.make(
        f"ALE/{game}-v5",
        frameskip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        max_num_frames_per_episode=None,
    )


def expected_obs(frames: list[np.ndarray], size: int = 96, gray: bool = False) -> np.ndarray:
    """The protocol's observation from one step's raw frames, computed independently."""
    frame = np.maximum(frames[-2], frames[-1]) if len(frames) >= 2 else frames[-1]
    if gray:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    image = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return image[None] if gray else image.transpose(2, 0, 1)


def raw_reset(raw: gym.Env, seed: int, noop_max: int = 30) -> tuple[np.ndarray, int]:
    """Reset the raw env like the wrapper: seed, draw the no-op count from the env RNG, play them."""
    obs, _ = raw.reset(seed=seed)
    noops = int(raw.unwrapped.np_random.integers(0, noop_max + 1))
    for _ in range(noops):
        obs, *_ = raw.step(0)
    return obs, noops


def frame_number(env: gym.Env) -> int:
    return env.unwrapped.ale.getEpisodeFrameNumber()  # type: ignore[attr-defined]


def run_until_done(env: gym.Env, action: int = FIRE) -> tuple[int, bool, bool, dict]:
    """Step ``action`` until the episode ends: (steps, terminated, truncated, last info)."""
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            return steps, terminated, truncated, info


@pytest.mark.parametrize(
    ("game", "changes"),
    [
        ("MsPacman", {}),
        ("Breakout", {"gray_scale": True, "obs_size": 84}),
        ("Pong", {"frame_skip": 1}),
    ],
)
def test_lockstep_with_raw_ale(game: str, changes: dict) -> None:
    cfg = config(game, eval_max_episode_steps=120, **changes)
    env = make_atari_env(cfg, evaluation=True)
    raw = raw_env(game)
    gray, size, skip = cfg.gray_scale, cfg.obs_size, cfg.frame_skip
    obs, info = env.reset(seed=3)
    raw_obs, noops = raw_reset(raw, seed=3)
    assert info["noops"] == noops
    assert obs.shape == (1 if gray else 3, size, size) and obs.dtype == np.uint8
    np.testing.assert_array_equal(obs, expected_obs([raw_obs], size, gray))
    assert isinstance(env.action_space, gym.spaces.Discrete)
    rng = np.random.default_rng(0)
    rewards = []
    for step in range(1, 121):
        action = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(action)
        frames, raw_reward = [], 0.0
        for _ in range(skip):
            frame, r, *_ = raw.step(action)
            frames.append(frame)
            raw_reward += float(r)
        assert reward == raw_reward
        np.testing.assert_array_equal(obs, expected_obs(frames, size, gray))
        assert info["lives"] == raw.unwrapped.ale.lives()  # type: ignore[attr-defined]
        assert frame_number(env) == noops + step * skip
        rewards.append(reward)
        assert not terminated
        assert truncated == (step == 120)
    # The game score is the unclipped sum (MsPacman pellets are worth 10).
    assert info["episode"] == {"r": sum(rewards), "l": 120}
    if game == "MsPacman":
        assert max(rewards) >= 10


def test_noops_come_from_the_seeded_env_rng() -> None:
    env = make_atari_env(config())
    raw = raw_env("Breakout")
    counts = []
    for seed in range(12):  # each seeded reset reloads the ROM (slow-ish)
        _, info = env.reset(seed=seed)
        raw.reset(seed=seed)
        assert info["noops"] == int(raw.unwrapped.np_random.integers(0, 31))
        assert 0 <= info["noops"] <= 30
        assert frame_number(env) == info["noops"]  # the no-ops really ran in ALE
        counts.append(info["noops"])
    assert len(set(counts)) > 3
    env = make_atari_env(config(noop_max=0))
    _, info = env.reset(seed=0)
    assert info["noops"] == 0 and frame_number(env) == 0


def test_life_loss_ends_training_episode_and_reset_continues_the_game() -> None:
    env = make_atari_env(config(), seed=0)
    _, info = env.reset()
    lives, total_steps = info["lives"], 0
    assert lives == 5
    while True:
        steps, terminated, truncated, info = run_until_done(env)
        total_steps += steps
        assert terminated and not truncated
        if info["lives"] == 0:
            break
        assert info["lives"] == lives - 1 and "episode" not in info
        lives = info["lives"]
        before = frame_number(env)
        _, reset_info = env.reset()
        # Same game: no ALE reset, one no-op step of frame_skip frames, lives unchanged.
        assert frame_number(env) == before + 4
        assert reset_info["lives"] == lives and "noops" not in reset_info
    assert info["episode"] == {"r": 0.0, "l": total_steps}
    _, info = env.reset()
    assert info["lives"] == 5 and frame_number(env) == info["noops"]  # a real reset


@pytest.mark.parametrize(("evaluation", "episode_life"), [(True, True), (False, False)])
def test_no_life_loss_termination_in_evaluation(evaluation: bool, episode_life: bool) -> None:
    cfg = config(episode_life=episode_life, max_episode_steps=None, eval_max_episode_steps=None)
    env = make_atari_env(cfg, evaluation=evaluation, seed=1)
    env.reset()
    lives_seen, steps = set(), 0
    while True:
        _, _, terminated, truncated, info = env.step(FIRE)
        steps += 1
        lives_seen.add(info["lives"])
        assert not truncated
        if terminated:
            break
        assert "episode" not in info
    assert lives_seen == {0, 1, 2, 3, 4, 5} and env.unwrapped.ale.game_over()  # type: ignore[attr-defined]
    assert info["episode"] == {"r": 0.0, "l": steps}


def test_reset_mid_game_or_twice_starts_a_new_game() -> None:
    env = make_atari_env(config(), seed=4)
    env.reset()
    for _ in range(10):
        env.step(FIRE)
    _, info = env.reset()  # no life was lost: a new game, not a continuation
    assert "noops" in info and frame_number(env) == info["noops"]
    run_until_done(env)  # a life-loss episode
    _, info = env.reset()
    assert "noops" not in info and info["lives"] == 4
    _, info = env.reset()  # reset again without stepping: a new game
    assert info["lives"] == 5 and frame_number(env) == info["noops"]


def test_training_cap_counts_agent_steps_per_game() -> None:
    env = make_atari_env(config(max_episode_steps=None), seed=2)
    env.reset()
    first_life, *_ = run_until_done(env)
    cap = first_life + 5  # the cap falls in the second life of the game
    env = make_atari_env(config(max_episode_steps=cap), seed=2)
    env.reset()
    steps, terminated, truncated, info = run_until_done(env)
    assert (steps, terminated, truncated) == (first_life, True, False) and "episode" not in info
    env.reset()
    steps, terminated, truncated, info = run_until_done(env)
    assert (steps, terminated, truncated) == (5, False, True)
    assert info["episode"] == {"r": 0.0, "l": cap} and info["lives"] == 4
    _, info = env.reset()  # a truncated game is restarted for real
    assert info["lives"] == 5 and frame_number(env) == info["noops"]


def test_evaluation_cap_truncates_at_exactly_the_configured_step() -> None:
    env = make_atari_env(config(max_episode_steps=3, eval_max_episode_steps=7), evaluation=True)
    env.reset(seed=0)
    steps, terminated, truncated, info = run_until_done(env, action=0)
    assert (steps, terminated, truncated) == (7, False, True)
    assert info["episode"] == {"r": 0.0, "l": 7}


def test_same_seed_same_trajectory() -> None:
    def rollout(env: gym.Env, seed: int | None) -> list[np.ndarray]:
        obs, _ = env.reset(seed=seed)
        out, rng = [obs], np.random.default_rng(0)
        for _ in range(60):
            obs, reward, terminated, truncated, _ = env.step(int(rng.integers(9)))
            out += [obs, np.array([reward, terminated, truncated])]
        return out

    cfg = config("MsPacman")
    a, b = make_atari_env(cfg), make_atari_env(cfg, seed=11)
    first = rollout(a, 11)
    for x, y in zip(first, rollout(b, None)):  # make_atari_env(seed=) seeds the first reset
        np.testing.assert_array_equal(x, y)
    for x, y in zip(first, rollout(a, 11)):  # reset(seed=) again reproduces the game
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(first, rollout(a, 12)))


def test_ale_settings_sticky_actions_and_action_set() -> None:
    env = make_atari_env(config())
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    assert ale.getFloat("repeat_action_probability") == 0.0
    assert ale.getInt("max_num_frames_per_episode") == 0  # no hidden 108k-frame cap
    assert env.action_space == gym.spaces.Discrete(4)  # minimal action set
    sticky = make_atari_env(config(repeat_action_probability=0.25))
    assert sticky.unwrapped.ale.getFloat("repeat_action_probability") == 0.25  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["Breakout", "breakout", "ALE/Breakout-v5"])
def test_short_names_and_ale_ids(name: str) -> None:
    env = make_atari_env(Config(env_id=name))
    assert env.unwrapped.spec is not None and env.unwrapped.spec.id == "ALE/Breakout-v5"


def test_unknown_games_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="did you mean 'Breakout'"):
        make_atari_env(Config(env_id="Breakot"))
    with pytest.raises(ConfigError, match="unknown Atari 100k game"):
        make_atari_env(Config(env_id="ALE/Tetris-v5"))


def test_missing_ale_py_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(ImportError, match="pip install 'ale-py"):
        make_atari_env(config())


def test_wrapper_rejects_an_env_that_skips_frames() -> None:
    with pytest.raises(ValueError, match="frameskip=1"):
        Atari100kEnv(gym.make("ALE/Breakout-v5"))


def test_write_video_is_readable(tmp_path) -> None:
    frames = [np.full((210, 160, 3), 10 * i, np.uint8) for i in range(12)]
    path = write_video(frames, tmp_path / "sub" / "clip.mp4", fps=15)
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    ) == (160, 210)
    capture.release()
    with pytest.raises(ValueError):
        write_video([], tmp_path / "empty.mp4")


def test_record_episode_from_full_resolution_frames(tmp_path) -> None:
    env = make_atari_env(
        config(eval_max_episode_steps=20), evaluation=True, render_mode="rgb_array"
    )
    stats = record_episode(env, lambda obs: FIRE, tmp_path / "eval.mp4", seed=0)
    assert stats == {"r": 0.0, "l": 20}
    capture = cv2.VideoCapture(str(tmp_path / "eval.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 21  # the reset frame and 20 steps
    assert int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 210
    capture.release()
    with pytest.raises(ValueError, match="rgb_array"):
        record_episode(make_atari_env(config()), lambda obs: 0, tmp_path / "x.mp4")


def test_all_26_games_make_and_step() -> None:
    for game in atari100k_games():
        env = make_atari_env(config(game), seed=0)
        obs, info = env.reset()
        obs, reward, *_ = env.step(env.action_space.sample())
        assert obs.shape == (3, 96, 96) and info["lives"] >= 0 and isinstance(reward, float)
        env.close()


# ------------------------------------------------------------------ the reference code's rules


def test_reference_rules_draw_one_to_noop_max_noops() -> None:
    env = make_atari_env(config(atari_wrapper="reference"))
    raw = raw_env("Breakout")
    for seed in range(8):
        _, info = env.reset(seed=seed)
        raw.reset(seed=seed)
        assert info["noops"] == int(raw.unwrapped.np_random.integers(1, 31)) >= 1
        assert frame_number(env) == info["noops"]


class _ScriptedLives:
    """ALE with its lives() answers replaced by a script (the rest is the real emulator)."""

    def __init__(self, ale: object, lives: list[int]) -> None:
        self._ale, self._lives = ale, list(lives)

    def lives(self) -> int:
        return self._lives.pop(0) if len(self._lives) > 1 else self._lives[0]

    def __getattr__(self, name: str) -> object:
        return getattr(self._ale, name)


@pytest.mark.parametrize(("rules", "ends"), [("protocol", True), ("reference", False)])
def test_a_drop_to_zero_lives_is_a_life_loss_only_under_the_protocol(rules: str, ends: bool):
    env = make_atari_env(config(atari_wrapper=rules), seed=0)
    env.reset()
    env.ale = _ScriptedLives(env.ale, [0])  # type: ignore[assignment]
    env._lives = 1
    _, _, terminated, _, info = env.step(0)  # NOOP: the real game goes on
    assert info["lives"] == 0 and not env.unwrapped.ale.game_over()  # type: ignore[attr-defined]
    assert terminated is ends


def test_reference_rules_count_the_continue_noop_toward_the_cap() -> None:
    env = make_atari_env(config(max_episode_steps=None), seed=2)
    env.reset()
    first_life, *_ = run_until_done(env)
    cap = first_life + 5
    for rules, second in (("protocol", 5), ("reference", 4)):
        env = make_atari_env(config(max_episode_steps=cap, atari_wrapper=rules), seed=2)
        env.reset()
        assert run_until_done(env)[0] == first_life
        env.reset()  # the continue-NOOP: a step of the game under the reference rules
        steps, terminated, truncated, info = run_until_done(env)
        assert (steps, terminated, truncated) == (second, False, True)
        assert info["episode"]["l"] == cap
