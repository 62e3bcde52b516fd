"""How sharply self-play would act on a run's weights: visit counts sampled at each temperature.

    python benchmarks/visit_sharpness.py WEIGHTS [--steps 300] [--seed 5]
    python benchmarks/visit_sharpness.py WEIGHTS --temperatures 1 0.5 0.25 0.1

Loads the weights (a run directory, a checkpoint or ``final.pt``) with ``load_agent``, plays
``--steps`` steps of one environment seeded ``--seed`` (reset with the following seeds after an
episode ends) with ``Agent.act``: each a search with the run's own simulations and no root noise,
acting on the most-visited action (a random one of those tied, the agent's generator seeded
``--seed``), and prints one JSON object: for each temperature T, the mean over the searched
positions of the probability that sampling the visit counts raised to 1/T (as self-play does:
``select_actions`` in ``efficientzero/search/acting.py``, whose ``temperature_weights`` this reads,
at the temperature of ``visit_temperature`` in ``efficientzero/actor.py``) picks the most-visited
action (one given action where several tie); and the mean share of the simulations that action
took. docs/minatar.md ("Acting temperature") uses it to show why the ``minatar`` preset acts at
0.25.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from efficientzero.api import load_agent
from efficientzero.checkpoint import CheckpointError
from efficientzero.search.acting import temperature_weights


def visit_sharpness(
    weights: Path,
    steps: int = 300,
    seed: int = 5,
    temperatures: tuple[float, ...] = (1, 0.5, 0.25),
) -> dict[str, Any]:
    """Greedy play with ``weights``; each search's visit counts, sampled at each temperature."""
    agent = load_agent(weights, device="cpu", seed=seed)
    config = agent.config
    env = agent.make_env()
    frame, _ = env.reset(seed=seed)
    counts, episodes = [], 0
    for _ in range(steps):
        action = agent.act(frame)
        assert agent.last_plan is not None
        counts.append(agent.last_plan.visit_counts[0].astype(np.float64))
        frame, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            frame, _ = env.reset(seed=seed + episodes)
            agent.reset()
    env.close()
    visits = np.asarray(counts)
    picks = {}
    for temperature in temperatures:
        weighted = temperature_weights(visits, temperature)
        picks[f"{temperature:g}"] = round(float((weighted.max(1) / weighted.sum(1)).mean()), 3)
    return {
        "weights": str(weights),
        "env_id": config.env_id,
        "steps": steps,
        "seed": seed,
        "episodes_ended": episodes,
        "num_simulations": config.num_simulations,
        "top_visit_share": round(float((visits.max(1) / visits.sum(1)).mean()), 3),
        "p_most_visited_at_temperature": picks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help="a run directory, checkpoint or final.pt")
    parser.add_argument("--steps", type=int, default=300, help="searched steps to play")
    parser.add_argument("--seed", type=int, default=5, help="the first episode's seed")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    args = parser.parse_args()
    if args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    if any(t <= 0 for t in args.temperatures):
        parser.error(f"--temperatures must be positive, got {args.temperatures}")
    torch.set_num_threads(1)
    try:
        result = visit_sharpness(args.weights, args.steps, args.seed, tuple(args.temperatures))
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
