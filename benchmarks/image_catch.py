"""A small image task for CPU-scale learning checks: Catch on an 8x8 board seen as 32x32 pixels.

    python benchmarks/image_catch.py --seed 0 [--label NAME] [--env-steps 10000]

Five balls fall one after another, each from a random column of the top row, one row per step;
the agent moves a one-cell paddle on the bottom row (left, stay, right) and gets +1 for each ball
it catches and -1 for each it misses (episodes of 35 steps; random play averages about -3.3,
perfect play +5). Observations are ``[1, 32, 32]`` uint8 images (each cell 4x4 pixels), so the
run goes through the library's image path: the ResNet networks, uint8 frames in replay,
stacking on sampling. The task is defined here, not registered with gymnasium, and fed to the
local runtime by substituting its environment factory, so the same script also runs against
older versions of the package (``PYTHONPATH=<checkout> python benchmarks/image_catch.py``):
that is how the before/after rows of docs/fidelity.md's evidence were produced.

Each run writes ``benchmarks/results/image_catch/<label>-s<seed>.json``: every evaluation
(16 greedy episodes), the final one, wall seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "image_catch"
ROWS = COLS = 8
CELL = 4
BALLS = 5


class Catch(gym.Env):
    """Catch with ``BALLS`` balls per episode; observations ``[1, 32, 32]`` uint8."""

    observation_space = gym.spaces.Box(0, 255, (1, ROWS * CELL, COLS * CELL), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.paddle = COLS // 2
        self.balls_left = BALLS
        self._new_ball()
        return self._observe(), {}

    def _new_ball(self) -> None:
        self.ball_row, self.ball_col = 0, int(self.np_random.integers(COLS))

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, COLS - 1))
        self.ball_row += 1
        reward = 0.0
        if self.ball_row == ROWS - 1:
            reward = 1.0 if self.ball_col == self.paddle else -1.0
            self.balls_left -= 1
            if self.balls_left > 0:
                self._new_ball()
        return self._observe(), reward, self.balls_left == 0, False, {}

    def _observe(self) -> np.ndarray:
        board = np.zeros((ROWS, COLS), np.uint8)
        board[ROWS - 1, self.paddle] = 128
        board[self.ball_row, self.ball_col] = 255
        return np.kron(board, np.ones((CELL, CELL), np.uint8))[None]


def make_catch(config, *, evaluation: bool = False, render_mode=None) -> gym.Env:
    return gym.wrappers.RecordEpisodeStatistics(Catch())


def catch_config(seed: int, env_steps: int):
    """The cartpole preset's optimisation with the small ResNet; no augmentation on 8x8 cells."""
    from efficientzero.presets import make_preset

    return make_preset("cartpole").replace(
        env_id="Catch-8x8",
        seed=seed,
        network="resnet",
        num_channels=16,
        reduced_channels=4,
        head_hidden_size=32,
        lstm_hidden_size=32,
        projection_dim=64,
        projection_head_dim=32,
        support_size=10,
        discount=0.97,
        td_steps=10,
        num_simulations=16,
        batch_size=64,
        total_env_steps=env_steps,
        total_updates=env_steps // 4,
        start_transitions=1000,
        lr_decay_updates=max(env_steps // 4 * 3 // 4, 1),
        eval_interval=2000,
        block_length=100,
        checkpoint_interval=max(env_steps // 4, 1),
        augment=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="run")
    parser.add_argument("--env-steps", type=int, default=10_000)
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides (JSON values)"
    )
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        name, _, text = item.partition("=")
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name] = text
    import efficientzero.run.local as local
    import efficientzero.run.trainer as trainer
    from efficientzero.envs import EnvSpec
    from efficientzero.run.directory import RunDirectory

    def spec(config) -> EnvSpec:
        return EnvSpec(Catch.observation_space.shape, np.dtype(np.uint8), 3)

    local.make_env = make_catch  # type: ignore[assignment]
    local.env_spec = spec  # type: ignore[assignment]
    trainer.make_env = make_catch  # type: ignore[assignment]
    trainer.env_spec = spec  # type: ignore[assignment]
    config = catch_config(args.seed, args.env_steps).replace(**overrides).validate()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDirectory(Path(tmp) / "run")
        run_dir.create(config)
        local.train_local(config, run_dir, progress=False)
        rows = [json.loads(line) for line in run_dir.metrics_path.read_text().splitlines()]
    evaluations = [
        {k: r[k] for k in ("env_steps", "wall_seconds", "eval_return_mean")} for r in rows
    ]
    summary = {
        "task": "Catch 8x8 as 32x32 pixels, 5 balls (benchmarks/image_catch.py)",
        "label": args.label,
        "seed": args.seed,
        "command": f"python benchmarks/image_catch.py --seed {args.seed} --env-steps {args.env_steps}"
        + (f" --set {' '.join(args.set)}" if args.set else ""),
        "evaluations": evaluations,
        "final": evaluations[-1],
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.label}-s{args.seed}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("label", "seed", "final", "wall_seconds")}))


if __name__ == "__main__":
    main()
