"""What one update of the minatar preset costs on one core, by batch size, reanalysis and width.

    python benchmarks/minatar_update_cost.py [--configs JSON] [--out PATH]

For each set of overrides (a JSON list of objects; default: the grid the preset was chosen
from), fills replay with 3,000 random-policy Breakout steps, then times 10 batches
(``next_batch``: sampling, targets and, with ``reanalyze_ratio`` > 0, the reanalysis
searches), one learner step on its own (with ``compile_loss`` it compiles), 10 more on the same
batch, and 20 self-play steps of the preset's 8 environments. One intra-op thread. Prints one JSON row per config and writes them to
``--out`` (default ``benchmarks/results/minatar/update_cost.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from efficientzero.envs import env_spec
from efficientzero.learner import Learner
from efficientzero.nets import build_network
from efficientzero.presets import minatar
from efficientzero.run.local import LocalSource
from efficientzero.run.schedule import Counters

OUT = Path(__file__).resolve().parent / "results" / "minatar" / "update_cost.json"
GRID = [
    {"batch_size": 64, "reanalyze_ratio": 0.25},
    {"batch_size": 128, "reanalyze_ratio": 0.25},
    {"batch_size": 256, "reanalyze_ratio": 0.25},
    {"batch_size": 64, "reanalyze_ratio": 0.0},
    {"batch_size": 128, "reanalyze_ratio": 0.0},
    {"batch_size": 64, "reanalyze_ratio": 0.25, "num_channels": 32},
    {"batch_size": 128, "reanalyze_ratio": 0.25, "num_channels": 8},
]


def measure(overrides: dict) -> dict:
    config = minatar("Breakout").replace(**overrides).validate()
    device = torch.device("cpu")
    source = LocalSource(config, device)
    spec = env_spec(config)
    learner = Learner(config, build_network(config, spec.frame_shape, spec.num_actions), device)
    counters = Counters()
    while source.replay.size < 3000:  # random actions: before start_transitions
        counters.env_steps += source.collect(counters, True).env_steps
    start = time.perf_counter()
    for _ in range(10):
        batch = source.next_batch(0.4, 0)
    batched = time.perf_counter()
    learner.step(batch)  # with compile_loss: the compile
    first = time.perf_counter()
    for _ in range(10):
        learner.step(batch)
    learned = time.perf_counter()
    counters.env_steps = config.start_transitions  # searched actions from here on
    for _ in range(20):
        source.collect(counters, True)
    played = time.perf_counter()
    return {
        **overrides,
        "batch_seconds": round((batched - start) / 10, 4),
        "first_learner_step_seconds": round(first - batched, 3),
        "learner_step_seconds": round((learned - first) / 10, 4),
        "selfplay_step_seconds": round((played - learned) / 20, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=json.loads, default=GRID)
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON rows go")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for overrides in args.configs:
        rows.append(measure(overrides))
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
