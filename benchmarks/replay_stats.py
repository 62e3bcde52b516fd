"""What a run's self-play has seen: rewards and actions in the replay of a checkpoint.

    python benchmarks/replay_stats.py RUN_DIR/checkpoints/latest.pt [--chunk 5000]
    python benchmarks/replay_stats.py CHECKPOINT --freeway-rows     # MinAtar Freeway only

Reads the replay a checkpoint holds (``latest.pt`` keeps it; ``final.pt`` too) and prints one
JSON object: the counters, the stored positions, how many carried a reward and their sum, the
rewards in each ``--chunk`` of positions in the order they were added, how often each action
was taken, and the mean search root value stored with them. On a sparse-reward game this says
whether a learner had anything to learn from: docs/minatar.md uses it for Freeway.

``--freeway-rows`` adds, for MinAtar Freeway, the network's predicted value, its prior, the
reward and next value its model predicts for each action, and the root visit counts of one
greedy search (the run's own simulations, no root noise) with the chicken on each row from the
bottom (9) to the one below the goal (1), the cars as an environment seeded ``--seed`` starts
them and the chicken free to move: a value that does not rise towards the goal means the
network has not learnt where the reward is; the same reward for every action, that the model
does not see which action was taken.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from efficientzero.api import load_agent
from efficientzero.checkpoint import CheckpointError, load_checkpoint
from efficientzero.envs import ImageObservation
from efficientzero.planning import plan


def replay_stats(checkpoint: Path, chunk: int = 5000) -> dict[str, Any]:
    """Counts over the stored positions of ``checkpoint``'s replay (oldest block first)."""
    state, config = load_checkpoint(checkpoint, mmap=True)
    blocks = state["replay"]["blocks"]
    if not blocks:
        raise SystemExit(f"{checkpoint}: the replay is empty (no self-play stored yet)")

    def stored(key: str) -> np.ndarray:  # one field over every block's stored positions
        return np.concatenate([np.asarray(b[key])[: int(b["num_positions"])] for b in blocks])

    rewards, actions, values = stored("rewards"), stored("actions"), stored("tree_values")
    stats: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "env_id": config.env_id,
        "counters": state["counters"],
        "positions": int(rewards.size),
        "rewarded_positions": int(np.count_nonzero(rewards)),
        "reward_sum": float(rewards.sum()),
        "chunk": chunk,
        "reward_sum_per_chunk": [
            float(rewards[i : i + chunk].sum()) for i in range(0, rewards.size, chunk)
        ],
        "tree_value_mean": float(values.mean()),
    }
    if actions.ndim == 1:  # discrete actions: how often each was taken
        frequencies = np.bincount(actions.astype(np.int64)) / actions.size
        stats["action_frequencies"] = [round(float(f), 4) for f in frequencies]
    return stats


def freeway_rows(checkpoint: Path, seed: int = 3) -> list[dict[str, Any]]:
    """Predicted value, prior and greedy root visits with Freeway's chicken on rows 9..1."""
    agent = load_agent(checkpoint, device="cpu")
    if "Freeway" not in agent.config.env_id:
        raise SystemExit(f"--freeway-rows needs a MinAtar Freeway run, not {agent.config.env_id}")
    env = agent.make_env()
    env.reset(seed=seed)
    game = env.unwrapped.game.env  # type: ignore[attr-defined]  # minatar's Freeway state
    images = env
    while not isinstance(images, ImageObservation):  # the wrapper that makes the agent's frames
        images = images.env  # type: ignore[assignment]
    rows = []
    for position in range(9, 0, -1):
        game.pos, game.move_timer = position, 0
        frame = images.observation(game.state())
        root = agent.model.root(torch.from_numpy(frame[None, None]))
        result = plan(agent.config, agent.model, root, agent.rng, agent.searcher, explore=False)
        prior = torch.softmax(root.prior_logits[0].float(), dim=0).numpy()
        # One model step for each action: the reward it predicts and the value after it.
        actions = torch.arange(len(prior))
        embedding = tuple(x.repeat_interleave(len(prior), dim=0) for x in root.embedding)
        step = agent.model.recurrent(embedding, actions)
        rows.append(
            {
                "row": position,
                "value": round(float(root.value[0]), 4),
                "root_value": round(float(result.root_values[0]), 4),
                "prior": [round(float(p), 3) for p in prior],
                "visits": [int(v) for v in result.visit_counts[0]],
                "reward_by_action": [round(float(r), 4) for r in step.reward],
                "value_by_action": [round(float(v), 4) for v in step.value],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint with its replay (latest.pt)")
    parser.add_argument("--chunk", type=int, default=5000, help="positions per reward count")
    parser.add_argument("--freeway-rows", action="store_true", help="probe Freeway's rows")
    parser.add_argument("--seed", type=int, default=3, help="the Freeway probe's car layout")
    args = parser.parse_args()
    if args.chunk <= 0:
        parser.error(f"--chunk must be positive, got {args.chunk}")
    torch.set_num_threads(1)
    try:
        stats = replay_stats(args.checkpoint, args.chunk)
        if args.freeway_rows:
            stats["freeway_rows"] = freeway_rows(args.checkpoint, args.seed)
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
