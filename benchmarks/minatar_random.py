"""Random-policy returns of the five MinAtar games, for the DQN-normalised score.

    python benchmarks/minatar_random.py [--episodes 100]

Uniform random actions over all 6 actions (v0), sticky actions 0.1, difficulty ramping on: the
setting of the minatar preset and of the MinAtar paper's DQN curves. Episode i is seeded i
(``reset(seed=i)``; the action draws come from ``numpy.random.default_rng(i)``). Prints JSON
with each game's mean, standard deviation and standard error, and writes it to
``benchmarks/results/minatar_random.json``; the means are the ``random`` column of
``efficientzero/data/minatar.csv``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from efficientzero.envs import make_env
from efficientzero.envs.minatar import GAMES
from efficientzero.presets import minatar

OUT = Path(__file__).resolve().parent / "results" / "minatar_random.json"


def random_returns(game: str, episodes: int) -> list[float]:
    env = make_env(minatar(game), evaluation=True)
    num_actions = int(env.action_space.n)
    returns = []
    for i in range(episodes):
        rng = np.random.default_rng(i)
        env.reset(seed=i)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(num_actions)))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    result: dict = {"episodes": args.episodes, "seeds": f"0..{args.episodes - 1}", "games": {}}
    for game in GAMES:
        returns = np.array(random_returns(game, args.episodes))
        result["games"][game] = {
            "mean": round(float(returns.mean()), 3),
            "std": round(float(returns.std(ddof=1)), 3),
            "stderr": round(float(returns.std(ddof=1) / np.sqrt(len(returns))), 3),
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
