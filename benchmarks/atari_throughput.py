"""Throughput of the atari100k preset (or another, ``--preset``) on this machine, and the
projected time of a full run.

Measures, with the real components of the local runtime:
- self-play: seconds per 1,000 agent steps (``num_envs`` environments, one 50-simulation search
  per step, the ResNet on the chosen device);
- learning: seconds per update, split into sampling, reanalysis (target-network searches for
  policy targets and value bootstraps) and the gradient step, and reanalysis roots/s;
- a projection of a full 100k-step / 120k-update run, both sequential (the local runtime) and
  overlapped (self-play beside learning, as the Ray runtime runs them).
Prints JSON. Example (a short CPU measurement; add --device cuda on a GPU):

    python benchmarks/atari_throughput.py --game Breakout --env-steps 200 --updates 2
    python benchmarks/atari_throughput.py --preset dmc-pixels --game dmc:cartpole-swingup
    python benchmarks/atari_throughput.py --preset minatar --game Breakout --device cuda --cuda-graphs

For a DeepMind Control pixel task it also times the environment alone (random actions:
rendered frames/s and environment steps/s under the preset's action repeat).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from efficientzero.envs import make_env
from efficientzero.nets.base import bf16_supported
from efficientzero.presets import make_preset
from efficientzero.run.directory import RunDirectory
from efficientzero.run.local import LocalSource, local_trainer
from efficientzero.run.schedule import replay_beta
from efficientzero.run.trainer import Trainer


def time_selfplay(source: LocalSource, env_steps: int) -> float:
    """Seconds per agent step of self-play with search."""
    start, steps = time.perf_counter(), 0
    while steps < env_steps:
        steps += source.actor.step(temperature=1.0).env_steps
    return (time.perf_counter() - start) / steps


def time_updates(run: Trainer, source: LocalSource, updates: int) -> dict[str, float]:
    """Mean seconds per update for sampling, reanalysis and the gradient step (the trainer's
    own calls: ``source.next_batch`` is ``sample`` then ``make_batch``, then ``learn``)."""
    c = run.config
    totals = {"sample": 0.0, "reanalyze": 0.0, "learn": 0.0}
    roots = 0
    for _ in range(updates):
        t0 = time.perf_counter()
        sampled = source.sample(replay_beta(c, run.counters.updates))
        t1 = time.perf_counter()
        batch = source.reanalyzer.make_batch(sampled, run.device)
        t2 = time.perf_counter()
        run.learn(batch)
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        t3 = time.perf_counter()
        totals["sample"] += t1 - t0
        totals["reanalyze"] += t2 - t1
        totals["learn"] += t3 - t2
        # Reanalysis searches every one of the K+1 states of its rows (a constant shape), and
        # with value_target "root" also every bootstrap observation.
        steps = c.unroll_steps + 1
        roots += round(c.reanalyze_ratio * c.batch_size) * steps
        roots += c.batch_size * steps if c.value_target == "root" else 0
    out = {k: v / updates for k, v in totals.items()}
    out["reanalysis_roots_per_s"] = roots / max(totals["reanalyze"], 1e-9)
    return out


def time_environment(config, steps: int = 200) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Random-action agent steps of the environment alone: rendered frames/s (one per agent
    step) and environment steps/s."""
    env = make_env(config)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return {
        "agent_steps": steps,
        "frames_per_s": round(steps / seconds, 1),
        "env_steps_per_s": round(steps * config.action_repeat / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--game", default="Breakout", help="the game, or any env id the preset takes"
    )
    parser.add_argument("--preset", default="atari100k")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--env-steps", type=int, default=1000, help="self-play steps to time")
    parser.add_argument(
        "--updates", type=int, default=20, help="updates to time (after one warm-up update)"
    )
    parser.add_argument(
        "--fill", type=int, default=2000, help="random transitions put in replay first"
    )
    parser.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="run each search simulation as one captured CUDA graph (config cuda_graphs)",
    )
    args = parser.parse_args()

    config = make_preset(args.preset, args.game).replace(
        device=args.device, start_transitions=args.fill, cuda_graphs=args.cuda_graphs
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDirectory(Path(tmp) / "run")
        run_dir.create(config)
        run = local_trainer(config, run_dir, progress=False)
        source = run.source
        assert isinstance(source, LocalSource)
        run.start()
        start = time.perf_counter()
        while run.counters.env_steps < args.fill:
            # uniform random actions below start_transitions (Ye et al. 2021, Appendix A)
            run.absorb(source.collect(run.counters, learner_idle=True))
        fill_s = time.perf_counter() - start
        selfplay_s = time_selfplay(source, args.env_steps)
        time_updates(run, source, 1)  # warm-up: compilation, allocator, cudnn autotuning
        update = time_updates(run, source, args.updates)
        run.logger.close()

    per_update = update["sample"] + update["reanalyze"] + update["learn"]
    c = config
    selfplay_total = c.total_env_steps * selfplay_s
    learn_total = c.total_updates * per_update
    result = {
        "preset": config.preset,
        "game": config.env_id,
        "environment_alone": time_environment(config) if config.pixels else None,
        "device": str(run.device),
        "gpu": torch.cuda.get_device_name(run.device) if run.device.type == "cuda" else None,
        "precision": "bf16 autocast"
        if config.mixed_precision and bf16_supported(run.device)
        else "fp32",
        "peak_gpu_memory_mib": (
            round(torch.cuda.max_memory_allocated(run.device) / 2**20, 1)
            if run.device.type == "cuda"
            else None
        ),
        "cuda_graphs": config.cuda_graphs,
        "torch_threads": torch.get_num_threads(),
        "measured": {
            "env_steps": args.env_steps,
            "updates": args.updates,
            "random_fill_steps": args.fill,
        },
        "random_env_steps_per_s": round(args.fill / fill_s, 1),
        "selfplay_seconds_per_1000_env_steps": round(1000 * selfplay_s, 2),
        "selfplay_env_steps_per_s": round(1 / selfplay_s, 2),
        "seconds_per_100_updates": round(100 * per_update, 2),
        "updates_per_s": round(1 / per_update, 3),
        "update_breakdown_s": {k: round(update[k], 4) for k in ("sample", "reanalyze", "learn")},
        "reanalysis_roots_per_s": round(update["reanalysis_roots_per_s"], 1),
        "projected_full_run_hours": {
            "sequential_local_runtime": round((selfplay_total + learn_total) / 3600, 2),
            "selfplay_overlapped_with_learning": round(max(selfplay_total, learn_total) / 3600, 2),
            "inputs": {"total_env_steps": c.total_env_steps, "total_updates": c.total_updates},
        },
        "replay_bytes_mib": round(source.replay.nbytes() / 2**20, 1),
        "eval_note": "no evaluation here; see metrics.jsonl of a training run",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
