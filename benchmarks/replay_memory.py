"""Peak host memory of a replay holding a full Atari 100k run (synthetic frames).

Fills a ``ReplayBuffer`` with 100k agent steps of 3x96x96 uint8 frames (the atari100k preset's
shapes: blocks of 400 positions padded with 10 steps, 3 stack frames before each block, policies
over 18 actions) and prints JSON with the process's peak RSS before and after, and the replay's
own byte count. Run:  python benchmarks/replay_memory.py [--steps 100000]
"""

from __future__ import annotations

import argparse
import json
import resource

import numpy as np

from efficientzero.presets import make_preset
from efficientzero.replay import ReplayBuffer
from efficientzero.types import TrajectoryBlock


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def synthetic_block(
    rng: np.random.Generator,
    positions: int,
    pad: int,
    stack: int,
    shape: tuple[int, ...],
    actions: int,
) -> TrajectoryBlock:
    n = positions + pad
    return TrajectoryBlock(
        frames=rng.integers(0, 256, size=(stack - 1 + n + 1, *shape), dtype=np.uint8),
        actions=rng.integers(actions, size=n),
        rewards=np.zeros(n, np.float32),
        policies=np.full((n, actions), 1.0 / actions, np.float32),
        num_positions=positions,
        episode_end=False,
        terminated=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--game", default="Breakout")
    parser.add_argument("--actions", type=int, default=18)
    args = parser.parse_args()
    c = make_preset("atari100k", args.game)
    shape = (1 if c.gray_scale else 3, c.obs_size, c.obs_size)
    rng = np.random.default_rng(0)
    before = current_rss_mib()
    replay = ReplayBuffer(
        c.replay_capacity,
        frame_stack=c.frame_stack,
        unroll_steps=c.unroll_steps,
        td_steps=c.td_steps,
        alpha=c.priority_alpha,
    )
    added = 0
    while added < args.steps:
        positions = min(c.block_length, args.steps - added)
        replay.add(synthetic_block(rng, positions, c.pad_steps, c.frame_stack, shape, args.actions))
        added += positions
    sampled = replay.sample(c.batch_size, c.priority_beta, rng, c.off_policy_age_unit)
    frame_bytes = int(np.prod(shape))
    print(
        json.dumps(
            {
                "transitions": replay.size,
                "frame_shape": list(shape),
                "replay_bytes_mib": round(replay.nbytes() / 2**20, 1),
                "frames_only_mib": round(args.steps * frame_bytes / 2**20, 1),
                "rss_before_mib": round(before, 1),
                "rss_after_mib": round(current_rss_mib(), 1),
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "sampled_batch_frames_mib": round(sampled.frames.nbytes / 2**20, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
