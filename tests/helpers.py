"""Small builders shared by the tests."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from efficientzero.config import Config
from efficientzero.presets import cartpole
from efficientzero.types import TrajectoryBlock

TINY_RUN = dict(
    total_env_steps=600,
    total_updates=60,
    start_transitions=200,
    num_envs=4,
    num_simulations=4,
    batch_size=16,
    eval_interval=300,
    eval_episodes=2,
    eval_max_episode_steps=50,
    checkpoint_interval=20,
    block_length=50,
    hidden_size=32,
    latent_dim=16,
    lstm_hidden_size=16,
    head_hidden_size=8,
    projection_dim=16,
    projection_head_dim=8,
)
"""A CartPole run that trains, evaluates and checkpoints in seconds (every test's tiny run)."""


def tiny_config(**changes: object) -> Config:
    """The cartpole preset with ``TINY_RUN`` and ``changes`` applied, validated."""
    return cartpole().replace(**{**TINY_RUN, **changes}).validate()


def tiny_args(**changes: object) -> list[str]:
    """``TINY_RUN`` (and ``changes``) as ``efficientzero train`` arguments, without progress."""
    values = {**TINY_RUN, **changes}
    args = [x for k, v in values.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    return [*args, "--no-progress"]


def make_block(
    n: int,
    num_positions: int | None = None,
    *,
    start: int = 0,
    num_actions: int = 2,
    frame_stack: int = 1,
    episode_end: bool = True,
    terminated: bool = True,
) -> TrajectoryBlock:
    """A vector block whose frame of step t is [start + t] and reward of step t is start + t."""
    steps = np.arange(start, start + n + 1, dtype=np.float32)
    pre = np.full(frame_stack - 1, start, dtype=np.float32)
    frames = np.concatenate([pre, steps])[:, None]
    policies = np.zeros((n, num_actions), np.float32)
    policies[:, 0] = 1.0
    return TrajectoryBlock(
        frames=frames,
        actions=(np.arange(n) % num_actions).astype(np.int64),
        rewards=np.arange(start, start + n, dtype=np.float32),
        policies=policies,
        num_positions=n if num_positions is None else num_positions,
        episode_end=episode_end,
        terminated=terminated,
    )


def kill_after_first_checkpoint(args: list[str], run_dir: Path, env: dict | None = None) -> None:
    """Run ``args`` (a training command), SIGKILL it once ``checkpoints/latest.pt`` exists."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    latest = run_dir / "checkpoints" / "latest.pt"
    # As long as the training itself may take in these tests (600 s): a Ray start beside other
    # work on two cores can take minutes before the first update (240 s was once too short).
    deadline = time.time() + 600
    while not latest.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert latest.exists(), (
        proc.stderr.read().decode() if proc.poll() is not None else "no checkpoint in time"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "checkpoints" / "final.pt").exists(), (
        "the run finished before it could be killed"
    )


def load_benchmark(name: str) -> Any:
    """The module of ``benchmarks/<name>.py`` (scripts, not a package), for bookkeeping tests."""
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
