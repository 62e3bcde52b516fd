"""Train one config over several seeds, side by side, and summarise each run as JSON.

    python benchmarks/seed_runs.py --label fidelity --seeds 0 1 2 3 4 [-- extra train flags]
    python benchmarks/seed_runs.py --table            # the README's table from benchmarks/results
    python benchmarks/seed_runs.py --table --results benchmarks/results/image_catch --threshold 4

Each seed runs ``efficientzero train --seed N --no-progress`` in its own process (``--parallel``
at a time, default 2: one per core of the 2-core CI machine; the cartpole preset uses one
intra-op thread). When a run ends, its summary is written to
``<results>/<label>-s<seed>.json`` (``--results``, default ``benchmarks/results/seed_runs``):
every evaluation (agent steps, wall seconds,
mean return), the run's action repeat (the table counts environment steps: agent steps x
repeat), the first evaluation >= ``--threshold``, the final one, the run's wall time and its
peak RSS (from ``wait4``). ``--summarise-run-dir`` turns an existing run directory into the
same summary (no timing of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from efficientzero.config import Config, overrides_between
from efficientzero.presets import make_preset

RESULTS = Path(__file__).resolve().parent / "results" / "seed_runs"


def summarise(run_dir: Path, threshold: float) -> dict:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluations = [
        {
            "env_steps": r["env_steps"],
            "wall_seconds": r["wall_seconds"],
            "eval_return_mean": r["eval_return_mean"],
        }
        for r in rows
    ]
    first = next((e for e in evaluations if e["eval_return_mean"] >= threshold), None)
    config = json.loads((run_dir / "config.json").read_text())
    return {
        "env_id": config["env_id"],
        "preset": config["preset"],
        "seed": config["seed"],
        "action_repeat": config.get("action_repeat", 1),
        "threshold": threshold,
        "evaluations": evaluations,
        "first_at_threshold": first,
        "final": evaluations[-1] if evaluations else None,
    }


def run_seeds(
    label: str, seeds: list[int], parallel: int, threshold: float, extra: list[str], results: Path
) -> None:
    results.mkdir(parents=True, exist_ok=True)
    pending = list(seeds)
    running: dict[int, tuple[int, Path, float]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            seed = pending.pop(0)
            run_dir = Path("runs") / f"seed-runs-{label}-s{seed}-{int(time.time())}"
            command = [sys.executable, "-m", "efficientzero.cli", "train", "--seed", str(seed)]
            command += ["--run-dir", str(run_dir), "--no-progress", *extra]
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            running[proc.pid] = (seed, run_dir, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        seed, run_dir, start = running.pop(pid)
        summary = summarise(run_dir, threshold) if (run_dir / "metrics.jsonl").exists() else {}
        summary.update(
            label=label,
            command=" ".join(["efficientzero train --seed", str(seed), *extra]),
            exit_status=os.waitstatus_to_exitcode(status),
            wall_seconds=round(time.perf_counter() - start, 1),
            peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
            side_by_side=parallel,
        )
        path = results / f"{label}-s{seed}.json"
        path.write_text(json.dumps(summary, indent=1) + "\n")
        print(json.dumps({k: summary.get(k) for k in ("label", "seed", "final", "wall_seconds")}))


def train_command(run_dir: Path) -> str:
    """The ``efficientzero train`` command that gives a run directory's config: its preset and
    environment plus every field that differs from that preset."""
    config = Config.from_dict(json.loads((run_dir / "config.json").read_text()))
    base = make_preset(config.preset, config.env_id)
    words = ["efficientzero train --preset", config.preset, "--env", config.env_id]
    words += ["--seed", str(config.seed)]
    for name, (_, value) in overrides_between(base, config).items():
        if name in ("env_id", "device", "seed"):
            continue
        if isinstance(value, tuple):
            value = " ".join(str(v) for v in value)
        words += [f"--{name.replace('_', '-')}", str(value)]
    return " ".join(words)


def environment_steps(summary: dict, evaluation: dict) -> int:
    """Environment steps behind an evaluation: agent steps x the run's action repeat."""
    return int(evaluation["env_steps"]) * int(summary.get("action_repeat", 1))


def table(results: Path, threshold: float) -> str:
    lines = [
        f"| label | seed | evaluations (env steps: return) | first >= {threshold:g} | final | whole run | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(results.glob("*.json")):
        s = json.loads(path.read_text())
        evals = ", ".join(
            f"{environment_steps(s, e) / 1000:.3g}k: {e['eval_return_mean']:.3g}"
            for e in s["evaluations"]
        )
        reached = (e for e in s["evaluations"] if e["eval_return_mean"] >= threshold)
        first = next(reached, None)
        first_text = (
            f"{environment_steps(s, first) / 1000:.3g}k, {first['wall_seconds']:.0f} s"
            if first
            else "never"
        )
        wall = s.get("wall_seconds")
        wall_text = f"{wall / 60:.1f} min" if wall else "-"
        rss = s.get("peak_rss_mib")
        lines.append(
            f"| {s['label']} | {s['seed']} | {evals} | {first_text} | "
            f"{s['final']['eval_return_mean']:.1f} | {wall_text} | {rss if rss else '-'} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="run")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--table", action="store_true", help="print the table of stored results")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="results folder (runs write to it, --table reads it)",
    )
    parser.add_argument("--summarise-run-dir", type=Path, nargs="*", default=[])
    args, extra = parser.parse_known_args()
    extra = [x for x in extra if x != "--"]
    if args.table:
        print(table(args.results, args.threshold))
        return
    if args.summarise_run_dir:
        args.results.mkdir(parents=True, exist_ok=True)
        for run_dir in args.summarise_run_dir:
            s = summarise(run_dir, args.threshold)
            s.update(label=args.label, command=train_command(run_dir))
            (args.results / f"{args.label}-s{s['seed']}.json").write_text(
                json.dumps(s, indent=1) + "\n"
            )
        return
    run_seeds(args.label, args.seeds, args.parallel, args.threshold, extra, args.results)


if __name__ == "__main__":
    main()
