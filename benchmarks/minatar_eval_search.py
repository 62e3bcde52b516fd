"""What the same final weights score with another search: MinAtar evaluations by number of
simulations and pUCT exploration constant.

    python benchmarks/minatar_eval_search.py WEIGHTS.pt ... [--simulations 16 32 64] \\
        [--pb-c-init 1.25 0.5] [--label LABEL]
    python benchmarks/minatar_eval_search.py --table [--label LABEL]

For each checkpoint (kept by ``benchmarks/minatar_runs.py --keep-weights DIR`` as
``DIR/<label>/<Game>-s<seed>.pt``) and each pair of a number of simulations and a
``pb_c_init``, runs ``efficientzero eval --checkpoint FILE --num-simulations N --pb-c-init C``
with the runner's protocol (32 greedy episodes, seeds 10000-10031, one intra-op thread) and
keeps its summary as
``benchmarks/results/minatar/eval-search/<label>/<Game>-s<seed>-n<N>-c<C>.json`` (with the
seconds it took) and its ``_episodes.csv``. The label is the checkpoint's folder unless
``--label`` names one, so runs of two labels with the same game and seed stay apart.
``--table`` prints one label's evaluations (default: the preset's runs, ``PRESET_LABEL`` of
``minatar_runs.py``) as markdown: one row per run, one column per search setting (mean return
over the 32 episodes, and the evaluation's seconds).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "minatar" / "eval-search"
PRESET_LABEL = "temp-0.25"  # minatar_runs.PRESET_LABEL (tests hold them equal)
EPISODES, SEED = 32, 10_000
NAME = re.compile(r"^(?P<run>.+)-n(?P<simulations>\d+)-c(?P<constant>[0-9.]+)$")


def evaluate(weights: Path, simulations: int, constant: float, out: Path) -> dict:
    """One evaluation in a process of its own; its summary plus the wall seconds."""
    target = out / f"{weights.stem}-n{simulations}-c{constant:g}.json"
    command = [
        sys.executable, "-m", "efficientzero.cli", "eval", "--checkpoint", str(weights),
        "--episodes", str(EPISODES), "--seed", str(SEED), "--num-threads", "1",
        "--num-simulations", str(simulations), "--pb-c-init", f"{constant:g}",
        "--out", str(target),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads(target.read_text())
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    summary["checkpoint"] = weights.name  # not the machine's path
    target.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def table(out: Path) -> str:
    """Markdown: a row per run, a column per (simulations, pb_c_init)."""
    results: dict[str, dict[tuple[int, float], dict]] = {}
    for path in out.glob("*.json"):
        match = NAME.match(path.stem)
        if match is None:
            continue
        setting = (int(match["simulations"]), float(match["constant"]))
        results.setdefault(match["run"], {})[setting] = json.loads(path.read_text())
    settings = sorted(
        {s for by_run in results.values() for s in by_run}, key=lambda s: (s[0], -s[1])
    )
    lines = [
        "| run | " + " | ".join(f"{n} simulations, c {c:g}" for n, c in settings) + " |",
        "|---" * (len(settings) + 1) + "|",
    ]
    for run in sorted(results):
        by_run = results[run]
        cells = [
            f"{by_run[s]['return_mean']:.2f} ({by_run[s]['wall_seconds']:.0f} s)"
            if s in by_run
            else "–"
            for s in settings
        ]
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="*", help="<Game>-s<seed>.pt files")
    parser.add_argument("--simulations", type=int, nargs="+", default=[16])
    parser.add_argument("--pb-c-init", type=float, nargs="+", default=[1.25])
    parser.add_argument("--out", type=Path, default=OUT, help="holds a folder per label")
    parser.add_argument(
        "--label",
        help="the runs' label: where their evaluations go (default: each checkpoint's folder) "
        f"or which --table prints (default: {PRESET_LABEL})",
    )
    parser.add_argument("--table", action="store_true", help="print the kept evaluations")
    args = parser.parse_args()
    if args.table:
        folder = args.out / (args.label or PRESET_LABEL)
        if not any(folder.glob("*.json")):
            kept = (
                sorted(p.name for p in args.out.iterdir() if p.is_dir())
                if args.out.is_dir()
                else []
            )
            raise SystemExit(
                f"no evaluations under {folder}; --label names one of: {', '.join(kept) or 'none'}"
            )
        print(table(folder))
        return
    if not args.weights:
        parser.error("name the checkpoints to evaluate, or pass --table")
    for weights in args.weights:
        label = args.label or weights.resolve().parent.name
        out = args.out / label
        out.mkdir(parents=True, exist_ok=True)
        for simulations in args.simulations:
            for constant in args.pb_c_init:
                summary = evaluate(weights, simulations, constant, out)
                row = {"label": label, "run": weights.stem}
                row |= {"simulations": simulations, "pb_c_init": constant}
                print(json.dumps(row | {k: summary[k] for k in ("return_mean", "wall_seconds")}))


if __name__ == "__main__":
    main()
