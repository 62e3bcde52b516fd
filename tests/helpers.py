"""Small builders shared by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from efficientzero.types import TrajectoryBlock


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
        root_values=np.arange(start, start + n, dtype=np.float32) * 10,
        policies=policies,
        num_positions=n if num_positions is None else num_positions,
        episode_end=episode_end,
        terminated=terminated,
    )


def kill_after_first_checkpoint(args: list[str], run_dir: Path, env: dict | None = None) -> None:
    """Run ``args`` (a training command), SIGKILL it once ``checkpoints/latest.pt`` exists."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    latest = run_dir / "checkpoints" / "latest.pt"
    deadline = time.time() + 240
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
