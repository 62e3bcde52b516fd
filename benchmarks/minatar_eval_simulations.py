"""What the same final weights score with a larger search: MinAtar evaluations by simulations.

    python benchmarks/minatar_eval_simulations.py WEIGHTS.pt ... [--simulations 16 32 64]
    python benchmarks/minatar_eval_simulations.py --table

For each checkpoint (kept by ``benchmarks/minatar_runs.py --keep-weights DIR``, named
``<Game>-s<seed>.pt``) and each number of simulations, runs ``efficientzero eval --checkpoint
FILE --num-simulations N`` with the runner's protocol (32 greedy episodes, seeds 10000-10031,
one intra-op thread) and keeps its summary as
``benchmarks/results/minatar/eval-simulations/<Game>-s<seed>-n<N>.json`` with the seconds it
took (and its ``_episodes.csv``). ``--table`` prints them as markdown: one row per run, one column per number of
simulations (mean return over the 32 episodes, and the evaluation's wall seconds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "minatar" / "eval-simulations"
EPISODES, SEED = 32, 10_000


def evaluate(weights: Path, simulations: int, out: Path) -> dict:
    """One evaluation in a process of its own; its summary plus the wall seconds."""
    target = out / f"{weights.stem}-n{simulations}.json"
    command = [
        sys.executable, "-m", "efficientzero.cli", "eval", "--checkpoint", str(weights),
        "--episodes", str(EPISODES), "--seed", str(SEED), "--num-threads", "1",
        "--num-simulations", str(simulations), "--out", str(target),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads(target.read_text())
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    summary["checkpoint"] = weights.name  # not the machine's path
    target.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _order(path: Path) -> tuple[str, int]:
    run, simulations = path.stem.rsplit("-n", 1)
    return run, int(simulations)


def table(out: Path) -> str:
    """Markdown: a row per run, a column per number of simulations."""
    results: dict[str, dict[int, dict]] = {}
    for path in sorted(out.glob("*-n*.json"), key=_order):
        run, simulations = path.stem.rsplit("-n", 1)
        results.setdefault(run, {})[int(simulations)] = json.loads(path.read_text())
    counts = sorted({n for by_run in results.values() for n in by_run})
    lines = [
        "| run | " + " | ".join(f"{n} simulations" for n in counts) + " |",
        "|---" * (len(counts) + 1) + "|",
    ]
    for run, by_run in results.items():
        cells = [
            f"{by_run[n]['return_mean']:.2f} ({by_run[n]['wall_seconds']:.0f} s)"
            if n in by_run
            else "–"
            for n in counts
        ]
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="*", help="<Game>-s<seed>.pt files")
    parser.add_argument("--simulations", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", action="store_true", help="print the kept evaluations")
    args = parser.parse_args()
    if args.table:
        print(table(args.out))
        return
    if not args.weights:
        parser.error("name the checkpoints to evaluate, or pass --table")
    args.out.mkdir(parents=True, exist_ok=True)
    for weights in args.weights:
        for simulations in args.simulations:
            summary = evaluate(weights, simulations, args.out)
            row = {"run": weights.stem, "simulations": simulations}
            print(json.dumps(row | {k: summary[k] for k in ("return_mean", "wall_seconds")}))


if __name__ == "__main__":
    main()
