"""Uniformly random play with each action repeated K environment steps: how often it reaches the
goal of a classic-control task (the exploration the agent starts from; docs/classic_control.md).

    python benchmarks/random_repeat.py [--env Acrobot-v1] [--repeats 1 2 4 8] [--episodes 30]

Episode e is reset with seed e; actions come from numpy's generator seeded 0. Prints one JSON
row per repeat and writes them to ``benchmarks/results/classic_control/random_repeat-<env>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "classic_control"


def play(env_id: str, repeat: int, episodes: int) -> dict:
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    returns, ended = [], 0
    for episode in range(episodes):
        env.reset(seed=episode)
        total, steps, done, action = 0.0, 0, False, 0
        while not done:
            if steps % repeat == 0:
                action = int(rng.integers(env.action_space.n))
            _, reward, terminated, truncated, _ = env.step(action)
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        returns.append(total)
        ended += int(terminated)
    return {
        "env_id": env_id,
        "repeat": repeat,
        "episodes": episodes,
        "return_mean": round(float(np.mean(returns)), 2),
        "goal_reached": ended,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Acrobot-v1")
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--episodes", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for repeat in args.repeats:
        rows.append(play(args.env, repeat, args.episodes))
        print(json.dumps(rows[-1]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"random_repeat-{args.env}.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
