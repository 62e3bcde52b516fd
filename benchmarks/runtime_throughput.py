"""Throughput of the local and the Ray runtime on the same run: env steps/s, updates/s, waits.

Each runtime trains the same config (the cartpole preset by default) for a fixed number of
environment steps and updates -- ``total_updates`` is the budget of ``updates_per_env_step``
at the last step, so all updates happen while collecting -- with no periodic evaluation and a
one-episode final one, and no checkpoint but the final. Rates are over the run's own clock
(``wall_seconds`` of the last record: from the first step to the last update); ``total_s``
adds the start-up of the workers and the final evaluation. The Ray runs share one local
cluster, started before timing (its start-up is reported as ``ray_start_s``). Prints JSON.

    python benchmarks/runtime_throughput.py --env-steps 3000 --runs local ray:1 ray:2 ray:1x2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from efficientzero.config import Config
from efficientzero.presets import make_preset
from efficientzero.run.directory import RunDirectory

WAIT_FIELDS = ("selfplay_wait_s", "learner_wait_s", "learner_idle_s", "bottleneck", "restarts")


def bench_config(args: argparse.Namespace) -> Config:
    base = make_preset(args.preset, args.env)
    updates = int((args.env_steps - args.start_transitions) * base.updates_per_env_step)
    return base.replace(
        seed=args.seed,
        total_env_steps=args.env_steps,
        start_transitions=args.start_transitions,
        total_updates=updates,
        eval_interval=0,
        periodic_eval_episodes=1,
        eval_max_episode_steps=50,
        checkpoint_interval=10**9,
        device="cpu",
    ).validate()


def run_one(config: Config, spec: str, root: Path) -> dict[str, Any]:
    """Train ``config`` on the runtime ``spec``: "local", or "ray:<actors>[x<reanalyzers>]"."""
    runtime, _, workers = spec.partition(":")
    if runtime == "ray":
        actors, _, reanalyzers = (workers or "2").partition("x")
        config = config.replace(
            runtime="ray", num_actors=int(actors), num_reanalyzers=int(reanalyzers or 1)
        )
    run_dir = RunDirectory(root / spec.replace(":", "-"))
    run_dir.create(config)
    start = time.perf_counter()
    if runtime == "ray":
        from efficientzero.run.ray import train_ray

        record = train_ray(config, run_dir, progress=False)
    else:
        from efficientzero.run.local import train_local

        record = train_local(config, run_dir, progress=False)
    total = time.perf_counter() - start
    loop = float(record["wall_seconds"])
    return {
        "runtime": runtime,
        "num_actors": config.num_actors if runtime == "ray" else 1,
        "num_envs": config.num_envs,
        "num_reanalyzers": config.num_reanalyzers if runtime == "ray" else 1,
        "env_steps": record["env_steps"],
        "updates": record["updates"],
        "loop_s": round(loop, 2),
        "total_s": round(total, 2),
        "env_steps_per_s": round(record["env_steps"] / loop, 1),
        "updates_per_s": round(record["updates"] / loop, 2),
        **{key: record["runtime"][key] for key in WAIT_FIELDS if key in record["runtime"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cartpole")
    parser.add_argument("--env", default=None)
    parser.add_argument("--env-steps", type=int, default=3000)
    parser.add_argument("--start-transitions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", nargs="+", default=["local", "ray:1", "ray:2"])
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    config = bench_config(args)
    out: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "preset": config.preset,
        "env_id": config.env_id,
        "total_env_steps": config.total_env_steps,
        "total_updates": config.total_updates,
        "results": [],
    }
    if any(spec.startswith("ray") for spec in args.runs):
        from efficientzero.run.ray import init_ray

        start = time.perf_counter()
        init_ray(config.replace(runtime="ray"), num_cpus=args.num_cpus)
        out["ray_start_s"] = round(time.perf_counter() - start, 2)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.runs:
            out["results"].append(run_one(config, spec, Path(tmp)))
            print(json.dumps(out["results"][-1]), file=sys.stderr)
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
