"""The image path for any gymnasium environment, and MinAtar as a first-class image domain."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from efficientzero.cli import main
from efficientzero.config import ConfigError
from efficientzero.envs import ImageObservation, env_spec, image_layout, make_env
from efficientzero.envs.minatar import GAMES, game_name, resolve_minatar_id
from efficientzero.nets import build_network, stack_frames
from efficientzero.presets import make_preset, minatar, preset_for

SMALL_NET = dict(
    num_channels=8,
    reduced_channels=2,
    head_hidden_size=8,
    lstm_hidden_size=8,
    projection_dim=16,
    projection_head_dim=8,
    support_size=5,
)


class Board(gym.Env):
    """A synthetic image env: frames of ``shape`` and ``dtype`` whose cell (0, 0, 0) counts steps."""

    def __init__(self, shape=(6, 8, 3), dtype=np.bool_, layout="hwc") -> None:
        high = 1.0 if dtype in (np.bool_, np.float32) else 255
        self.observation_space = gym.spaces.Box(0, high, shape, dtype)
        self.action_space = gym.spaces.Discrete(3)
        self.layout, self.t = layout, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, self.observation_space.dtype)
        obs.flat[0] = self.t % 2 if obs.dtype == np.bool_ else self.t
        obs.flat[-1] = 1
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action == 1), self.t >= 10, False, {}


_REGISTERED = [0]  # env_spec is cached per config, so every registration gets a new id


@pytest.fixture
def board_env():
    ids = []

    def register(**kwargs) -> str:
        _REGISTERED[0] += 1
        env_id = f"test/Board{_REGISTERED[0]}-v0"
        gym.register(env_id, entry_point=lambda **_: Board(**kwargs))
        ids.append(env_id)
        return env_id

    yield register
    for env_id in ids:
        del gym.registry[env_id]


@pytest.mark.parametrize(
    ("shape", "layout"),
    [
        ((10, 10, 4), "hwc"),
        ((10, 10, 10), "hwc"),
        ((96, 96, 3), "hwc"),
        ((1, 32, 32), "chw"),
        ((3, 48, 64), "chw"),
        ((48, 64, 3), "hwc"),
        ((7, 9), "hw"),
    ],
)
def test_layout_is_read_from_the_shape(shape, layout):
    assert image_layout(shape) == layout


@pytest.mark.parametrize(
    ("shape", "dtype", "setting", "frame_shape", "frame_dtype"),
    [
        ((6, 8, 3), np.bool_, "auto", (3, 6, 8), np.uint8),
        ((6, 8, 3), np.uint8, "auto", (3, 6, 8), np.uint8),
        ((2, 6, 8), np.float32, "auto", (2, 6, 8), np.float32),
        ((6, 8), np.uint8, "auto", (1, 6, 8), np.uint8),
        ((5, 5, 5), np.uint8, "chw", (5, 5, 5), np.uint8),
    ],
)
def test_image_frames_are_channels_first_in_the_smallest_exact_dtype(
    board_env, shape, dtype, setting, frame_shape, frame_dtype
):
    env_id = board_env(shape=shape, dtype=dtype)
    config = make_preset(None, env_id).replace(image_layout=setting)
    assert config.preset == "minatar"  # image observations get the small-image preset
    spec = env_spec(config)
    assert spec.frame_shape == frame_shape and spec.frame_dtype == frame_dtype
    env = make_env(config)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(0)
    assert obs.shape == frame_shape and obs.dtype == frame_dtype and obs.flags.c_contiguous
    raw = Board(shape, dtype)._obs()
    raw.flat[0] = 1
    if setting == "auto" and len(shape) == 3 and frame_shape[0] == shape[2]:
        raw = raw.transpose(2, 0, 1)
    expected = raw.reshape(frame_shape).astype(frame_dtype) * (255 if dtype == np.bool_ else 1)
    np.testing.assert_array_equal(obs, expected)
    # the network input reads booleans as 0/1 and uint8 as x / 255
    stacked = stack_frames(torch.from_numpy(obs[None, None]))
    if dtype in (np.bool_, np.float32):
        assert stacked.max().item() == 1.0


def test_image_wrapper_keeps_float_bounds():
    env = ImageObservation(Board((6, 8, 2), np.float32), "hwc")
    assert env.observation_space.shape == (2, 6, 8) and env.observation_space.dtype == np.float32
    assert float(env.observation_space.high.max()) == 1.0


@pytest.mark.parametrize(
    ("frame_shape", "downsample", "latent"),
    [
        ((4, 10, 10), "auto", (8, 10, 10)),
        ((3, 96, 96), "auto", (8, 6, 6)),
        ((1, 32, 48), "auto", (8, 2, 3)),
        ((4, 10, 10), "on", (8, 1, 1)),
        ((3, 40, 40), "off", (8, 40, 40)),
    ],
)
def test_resnet_is_sized_from_the_frame(frame_shape, downsample, latent):
    config = minatar().replace(**SMALL_NET, downsample=downsample, frame_stack=2)
    net = build_network(config, frame_shape, 6).eval()
    assert net.latent_shape == latent
    obs = torch.rand(3, 2 * frame_shape[0], *frame_shape[1:])
    with torch.no_grad():
        state = net.represent(obs)
        _, policy_logits = net.predict(state)
        next_state = net.transition(state, torch.tensor([0, 1, 5]))
    assert state.shape == next_state.shape == (3, *latent) and policy_logits.shape == (3, 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(shape=(2, 2, 3)), "too small for the convolutional networks"),
        (dict(shape=(4, 6, 6, 3)), "rank 1 (a vector), 2 (H x W) or 3"),
    ],
)
def test_shapes_the_networks_cannot_take_are_refused(board_env, tmp_path, capsys, kwargs, message):
    env_id = board_env(**kwargs)
    run_dir = tmp_path / "run"
    assert main(["train", "--env", env_id, "--run-dir", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_mlp_forced_on_images_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--preset", "minatar", "--env", "Breakout", "--network", "mlp"]
    assert main([*args, "--run-dir", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "network 'mlp' needs vector observations" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


# ------------------------------------------------------------------------------------ MinAtar


@pytest.mark.parametrize(
    ("name", "env_id"),
    [
        ("Breakout", "MinAtar/Breakout-v0"),
        ("space_invaders", "MinAtar/SpaceInvaders-v0"),
        ("seaquest", "MinAtar/Seaquest-v0"),
        ("MinAtar/Asterix-v1", "MinAtar/Asterix-v1"),
    ],
)
def test_minatar_names_resolve(name, env_id):
    assert resolve_minatar_id(name) == env_id
    assert minatar(name).env_id == env_id
    assert game_name(env_id) == env_id.split("/")[1].split("-")[0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Brekout", "did you mean 'Breakout'"),
        ("MinAtar/Freway-v0", "did you mean 'Freeway'"),
        ("MinAtar/Breakout-v3", "use v0 .all 6 actions. or v1"),
    ],
)
def test_unknown_minatar_games_suggest_the_closest(name, message):
    with pytest.raises(ConfigError, match=message):
        resolve_minatar_id(name)


def test_minatar_preset_suggests_the_closest_game(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--preset", "minatar", "--env", "Brekout", "--run-dir", str(run_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown MinAtar game 'Brekout'; did you mean 'Breakout'?" in err
    assert len(err.splitlines()) == 1 and not run_dir.exists()


def test_preset_is_picked_by_the_environment():
    assert preset_for(None) == "cartpole"
    assert preset_for("Acrobot-v1") == "acrobot"
    assert preset_for("MountainCar-v0") == "cartpole"  # other vector tasks: the vector preset
    assert preset_for("MinAtar/Breakout-v1") == "minatar"
    assert preset_for("Pong") == "atari100k"  # an Atari 100k game's short name is Atari's


def test_minatar_preset_acts_at_one_low_temperature_throughout():
    """The minatar preset's self-play samples visit counts at T = 0.25 from its first update to
    its last (docs/minatar.md, "Acting temperature"); the vector preset keeps MuZero's 1 / 0.5
    / 0.25 schedule."""
    from efficientzero.actor import visit_temperature

    config = minatar("Breakout")
    temperatures = {visit_temperature(config, u) for u in range(0, config.total_updates + 1, 500)}
    assert temperatures == {0.25}
    vector = make_preset(None, "CartPole-v1")
    assert visit_temperature(vector, 0) == 1.0
    assert visit_temperature(vector, vector.temperature_updates) == 0.25


@pytest.mark.parametrize("game", GAMES)
def test_minatar_games_make_and_step(game):
    config = minatar(game)
    spec = env_spec(config)
    env = make_env(config)
    obs, _ = env.reset(seed=3)
    assert obs.shape == spec.frame_shape and obs.dtype == np.uint8 and spec.num_actions == 6
    assert set(np.unique(obs)) <= {0, 255}
    total, done, steps = 0.0, False, 0
    rng = np.random.default_rng(0)
    while not done and steps < 3000:
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(6)))
        total, done, steps = total + reward, terminated or truncated, steps + 1
    assert done and info["episode"]["r"] == total
    # v1 is the minimal action set (all 6 actions are Seaquest's minimal set)
    minimal = env_spec(minatar(f"MinAtar/{game}-v1")).num_actions
    assert minimal == {"Asterix": 5, "Breakout": 3, "Freeway": 3, "Seaquest": 6}.get(game, 4)


def test_minatar_extra_missing_names_the_extra(monkeypatch, tmp_path, capsys):
    import sys

    import efficientzero.envs.minatar as module

    monkeypatch.setattr(module, "GAMES", ("Nothing", *module.GAMES[1:]))  # as if unregistered
    monkeypatch.setitem(sys.modules, "minatar.gym", None)  # import fails
    env_spec.cache_clear()  # a spec made by an earlier test would skip making the env
    run_dir = tmp_path / "run"
    args = ["train", "--env", "MinAtar/Breakout-v0", "--run-dir", str(run_dir), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'efficientzero[minatar]'" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_minatar_trains_and_evaluates_through_the_cli(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [
        "train", "--preset", "minatar", "--env", "Breakout", "--run-dir", str(run_dir),
        "--total-env-steps", "300", "--total-updates", "6", "--start-transitions", "100",
        "--num-envs", "2", "--num-simulations", "4", "--batch-size", "8", "--block-length", "50",
        "--eval-interval", "300", "--eval-episodes", "2", "--eval-max-episode-steps", "50",
        "--checkpoint-interval", "3", "--no-progress",
        *[x for k, v in SMALL_NET.items() for x in (f"--{k.replace('_', '-')}", str(v))],
    ]  # fmt: skip
    assert main(args) == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 300 and rows[-1]["updates"] == 6
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_id"] == "MinAtar/Breakout-v0" and config["repeat_action_probability"] == 0.1
    capsys.readouterr()
    video = tmp_path / "board.mp4"
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2", "--video", str(video)]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert len(result["returns"]) == 2
    import cv2

    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    assert ok and frame.shape == (160, 160, 3)  # the 10x10 board, 16x enlarged
    assert frame.max() > 100  # MinAtar renders floats in [0, 1]: scaled, not truncated to 0/1
    capture.release()


def test_video_frames_are_uint8_and_small_boards_enlarged():
    from efficientzero.envs.video import video_frame

    board = np.zeros((10, 10, 3))
    board[2, 3] = (1.0, 0.5, 0.0)
    frame = video_frame(board)
    assert frame.dtype == np.uint8 and frame.shape == (160, 160, 3)
    np.testing.assert_array_equal(frame[32:48, 48:64], np.broadcast_to([255, 128, 0], (16, 16, 3)))
    atari = np.full((210, 160, 3), 7, np.uint8)
    assert video_frame(atari).shape == (210, 160, 3)  # large enough: unchanged


def test_dqn_normalisation_against_hand_computed_values():
    from efficientzero.envs.minatar import minatar_games

    games = minatar_games()
    assert list(games) == list(GAMES)
    breakout = games["Breakout"]
    assert breakout.dqn_normalized(10.0) == pytest.approx(1.0)
    assert breakout.dqn_normalized(0.56) == pytest.approx(0.0)
    assert breakout.dqn_normalized(5.28) == pytest.approx(0.5)
    assert games["SpaceInvaders"].dqn_normalized(83.03) == pytest.approx(2.0)


def test_random_references_are_the_measured_ones():
    from pathlib import Path

    from efficientzero.envs.minatar import minatar_games

    measured = Path(__file__).parents[1] / "benchmarks" / "results" / "minatar_random.json"
    games = json.loads(measured.read_text())["games"]
    for name, game in minatar_games().items():
        assert game.random == pytest.approx(games[name]["mean"], abs=0.005)


def test_constant_action_baseline_plays_the_action_throughout():
    """benchmarks/minatar_random.py --constant: Freeway's "up" (action 2) crosses the road, the
    no-op never does."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "minatar_random.py"
    spec = importlib.util.spec_from_file_location("minatar_random", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.episode_returns("Freeway", 1, action=2)[0] > 0
    assert module.episode_returns("Freeway", 1, action=0) == [0.0]
    # --action-set v1: Freeway's minimal set is (no-op, up, down), the same game on the same seed
    up = module.episode_returns("Freeway", 2, action=2)
    assert module.episode_returns("Freeway", 2, action=1, action_set="v1") == up


def test_explore_baseline_holds_actions_long_enough_to_cross():
    """benchmarks/minatar_random.py --explore: random play with temporally-extended repeats
    (epsilon 0.1, zeta exponent 1.5) crosses Freeway's road where one-step random play, on the
    same seeds, does not."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "minatar_random.py"
    spec = importlib.util.spec_from_file_location("minatar_random", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.episode_returns("Freeway", 3) == [0.0, 0.0, 0.0]
    assert sum(module.episode_returns("Freeway", 3, explore=(0.1, 1.5))) >= 3
