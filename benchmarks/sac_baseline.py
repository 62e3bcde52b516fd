"""stable-baselines3 SAC, its default hyperparameters, on DeepMind Control tasks (proprioceptive)
at the same environment-step budget as the ``dmc`` preset, and the table that puts it beside
EfficientZero's runs.

    python benchmarks/sac_baseline.py --tasks dmc:cartpole-swingup --seeds 0 1
    python benchmarks/sac_baseline.py --table      # SAC beside EfficientZero (benchmarks/results/dmc)

Each (task, seed) runs in a process of its own (``--parallel`` at a time, one intra-op thread
each): SAC with ``SAC("MlpPolicy", env, seed=seed)`` and nothing else changed, on the task as
the library makes it (``efficientzero.envs.dmc``: flattened float32 features, the suite's
1,000-step episodes, no action repeat, so every environment step is an agent step), for
``--env-steps`` environment steps; deterministic evaluations of 10 episodes every
``--eval-interval`` steps and of the final policy. Each run's summary goes to
``<results>/sac/<task>-s<seed>.json``. EfficientZero's runs are ``benchmarks/seed_runs.py``
summaries under ``<results>/`` (``--label <task name>``); ``--table`` reads both. The
stable-baselines3 package is a benchmark dependency only (``pip install stable-baselines3``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "dmc"


def task_name(env_id: str) -> str:
    """``dmc:cartpole-swingup`` -> ``cartpole-swingup`` (file names and table rows)."""
    return env_id.split(":", 1)[-1]


def evaluate(model: Any, env_id: str, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` deterministic episodes (seeds ``seed``, ``seed + 1``, ...)."""
    from efficientzero.envs.dmc import make_dmc_env

    env = make_dmc_env(env_id)
    returns = []
    for i in range(episodes):
        observation, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(observation, deterministic=True)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def run_sac(env_id: str, seed: int, env_steps: int, eval_interval: int, episodes: int) -> dict:
    """Train SAC (defaults) and evaluate it; the summary as a dict."""
    import stable_baselines3
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from efficientzero.envs.dmc import make_dmc_env

    torch.set_num_threads(1)
    start = time.perf_counter()
    evaluations: list[dict[str, float]] = []

    class Periodic(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_interval == 0 and self.num_timesteps < env_steps:
                returns = evaluate(self.model, env_id, episodes, 10_000)
                evaluations.append(row(self.num_timesteps, start, returns))
            return True

    env = make_dmc_env(env_id)
    env.reset(seed=seed)
    model = SAC("MlpPolicy", env, seed=seed, verbose=0)
    model.learn(total_timesteps=env_steps, callback=Periodic())
    final = evaluate(model, env_id, episodes, 10_000)
    evaluations.append(row(env_steps, start, final))
    return {
        "algorithm": "SAC",
        "library": f"stable-baselines3 {stable_baselines3.__version__}",
        "hyperparameters": "defaults",
        "env_id": env_id,
        "seed": seed,
        "env_steps": env_steps,
        "evaluations": evaluations,
        "final_returns": final,
        "final_return_mean": float(np.mean(final)),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def row(env_steps: int, start: float, returns: list[float]) -> dict[str, float]:
    return {
        "env_steps": env_steps,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "eval_return_mean": float(np.mean(returns)),
    }


def efficientzero_final(summary: dict) -> tuple[float, int, float]:
    """(final return, environment steps, wall seconds) of a ``seed_runs.py`` summary."""
    final = summary["evaluations"][-1]
    repeat = summary.get("action_repeat", 1)
    return final["eval_return_mean"], final["env_steps"] * repeat, summary["wall_seconds"]


def table(results: Path) -> str:
    """Markdown: per task, EfficientZero's and SAC's final returns (mean over seeds, each seed's
    in brackets), environment steps and minutes per run."""
    lines = [
        "| task | algorithm | seeds | final return (mean) | per seed | env steps | minutes per run |",
        "|---|---|---|---|---|---|---|",
    ]
    rows: dict[tuple[str, str], list[tuple[float, int, float]]] = {}
    for path in sorted(results.glob("*-s*.json")):
        summary = json.loads(path.read_text())
        if summary.get("evaluations"):
            rows.setdefault((path.stem.rsplit("-s", 1)[0], "EfficientZero"), []).append(
                efficientzero_final(summary)
            )
    for path in sorted((results / "sac").glob("*-s*.json")):
        s = json.loads(path.read_text())
        rows.setdefault((task_name(s["env_id"]), "SAC (stable-baselines3)"), []).append(
            (s["final_return_mean"], s["env_steps"], s["wall_seconds"])
        )
    for (task, algorithm), runs in sorted(rows.items()):
        finals = [r[0] for r in runs]
        lines.append(
            f"| {task} | {algorithm} | {len(runs)} | {np.mean(finals):.1f} | "
            f"{', '.join(f'{f:.1f}' for f in finals)} | {runs[0][1]:,} | "
            f"{np.mean([r[2] for r in runs]) / 60:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", default=["dmc:cartpole-swingup"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--env-steps", type=int, default=100_000)
    parser.add_argument("--eval-interval", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(table(args.results))
        return
    out_dir = args.results / "sac"
    if args.child:
        env_id, seed = args.child[0], int(args.child[1])
        summary = run_sac(env_id, seed, args.env_steps, args.eval_interval, args.episodes)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{task_name(env_id)}-s{seed}.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps({k: summary[k] for k in ("env_id", "seed", "final_return_mean")}))
        return
    jobs = [(t, s) for t in args.tasks for s in args.seeds]
    running: dict[int, subprocess.Popen] = {}
    common = ["--env-steps", str(args.env_steps), "--eval-interval", str(args.eval_interval)]
    common += ["--episodes", str(args.episodes), "--results", str(args.results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    while jobs or running:
        while jobs and len(running) < args.parallel:
            task, seed = jobs.pop(0)
            command = [sys.executable, __file__, "--child", task, str(seed), *common]
            proc = subprocess.Popen(command, env=env)
            running[proc.pid] = proc
        pid, _ = os.wait()
        running.pop(pid, None)


if __name__ == "__main__":
    main()
