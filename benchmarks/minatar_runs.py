"""MinAtar at 100k agent steps: train and evaluate (game, seed) runs, side by side, and keep
each run's summary under ``benchmarks/results/minatar/<label>/``.

    python benchmarks/minatar_runs.py --games Breakout Freeway --seeds 0 1 [--label NAME]
    python benchmarks/minatar_runs.py --ablation --games Breakout SpaceInvaders --seeds 0 1 \\
        --env-steps 50000                  # the full agent and each EfficientZero change off
    python benchmarks/minatar_runs.py --ablation --games Breakout --seeds 1 \\
        --env-steps 50000 --labels full no-consistency   # some of the four agents only
    python benchmarks/minatar_runs.py --ablation-table   # their table (markdown) and curves
    python benchmarks/minatar_runs.py --table            # the kept runs of --label, per run
    python benchmarks/minatar_runs.py --compare main one-hot-explore   # labels side by side
    python benchmarks/minatar_runs.py --best             # each game's best 100k run, any label
    python benchmarks/minatar_runs.py --games Freeway --seeds 0 --label one-hot-explore \\
        -- --action-planes one_hot --explore-epsilon 0.1   # train flags after -- go to each run

Each run is ``efficientzero train --preset minatar --env GAME --seed N --num-threads 1`` then
``efficientzero eval --episodes 32`` of its final weights (greedy, as the report's protocol),
in a process of its own (``--parallel`` at a time, default 2: one per core of a 2-core CPU).
When both finish, the run directory's ``config.json``, ``metrics.jsonl``, ``eval.json`` and
``eval_episodes.csv`` (not its checkpoints) are copied to
``benchmarks/results/minatar/<label>/<Game>-s<seed>/`` with ``run_summary.json``: the commands,
train and eval wall seconds, peak RSS (``wait4``), how many ran side by side and the machine
(CPU model and core count: run times differ by machine of one class). Those folders
are run directories as the report reads them (config, metrics, eval.json).

With ``--work-dir DIR`` the run directories live in ``DIR/<label>/<Game>-s<seed>`` instead of
temporary folders, so that runs killed before they finish (a session's end, a reboot) are
picked up by the same command: resumed from their last checkpoint (``efficientzero train
--resume``, every ``checkpoint_interval`` updates), or only evaluated when their final weights
are there; one whose training or evaluation failed stays in ``DIR`` (the others are removed
once kept). ``run_summary.json`` then says ``"resumed"``, and ``trainer_wall_seconds`` (the
trainer's own clock, which carries on over a resume) is the run's training time; the runner's
``wall_seconds`` covers only its last invocation.

``--keep-weights DIR`` copies each finished run's final weights (``checkpoints/final.pt``) to
``DIR/<label>/<Game>-s<seed>.pt`` before its run directory goes, so that they can be evaluated
again later (``efficientzero eval --checkpoint FILE --num-simulations N``); the results folder
keeps no checkpoints.

``--label`` defaults to ``PRESET_LABEL``, the runs of today's preset
(``one-hot-explore-decay30`` and ``main`` hold the earlier presets'). ``--table`` prints the
kept runs of ``--label`` as the README's markdown table: per run, its periodic evaluations,
the final 32-episode return, DQN-normalised, the DQN references, training time and peak RSS;
then per game, the mean ± std over seeds.

``--compare A B ...`` reads the kept runs of several labels back: per game, each label's final
returns (mean ± std over seeds, each seed's), the change from the first label's mean, the
DQN-normalised mean where a label has every game, and the training flags each label's runs
added to the preset.

``--ablation`` runs, per game and seed, the labels ``full``, ``no-consistency``,
``no-value-prefix`` and ``no-off-policy-correction`` (Ye et al. 2021, §4 and Table 3); their
folders sit under ``benchmarks/results/minatar/ablation/<label>/``. ``--ablation-table`` reads
them back: a markdown table of final returns (mean ± std over seeds, each seed's, and the
DQN-normalised mean) per game and label, the change from the full agent, and
``benchmarks/results/minatar/ablation/curves.png`` (periodic evaluations, mean over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "minatar"
KEPT_FILES = ("config.json", "metrics.jsonl", "eval.json", "eval_episodes.csv")
ABLATIONS = {
    "full": [],
    "no-consistency": ["--use-consistency", "False"],
    "no-value-prefix": ["--use-value-prefix", "False"],
    "no-off-policy-correction": ["--use-off-policy-correction", "False"],
}
EVAL_EPISODES = 32
PRESET_LABEL = "temp-0.25"
"""The label whose kept runs trained today's ``minatar`` preset (the README's table; a test
holds each run's config to the preset). It names what the preset adds to the one before, whose
runs are under ``one-hot-explore-decay30`` (one-hot action planes and exploratory repeats
annealed over the first 30% of collection; ``main`` holds the runs of the one before that):
acting at visit-count temperature 0.25 throughout (run with that flag before it became the
preset's)."""


def machine() -> dict:
    """The CPU a run trained on (``/proc/cpuinfo``'s model name where there is one) and its
    core count: two machines of one class ran the same update 1.5-2 times apart
    (docs/minatar.md, "The machine")."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count()}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "efficientzero.cli", *args]


class Job:
    """One (label, game, seed) run: train, then eval, then keep the summary."""

    def __init__(
        self,
        label: str,
        out: Path,
        game: str,
        seed: int,
        flags: list[str],
        work: Path | None = None,
        weights: Path | None = None,
        action_set: str = "v0",
    ) -> None:
        self.label, self.out, self.game, self.seed = label, out, game, seed
        self.weights = weights
        if work is None:  # a folder of its own, removed with the run directory
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"minatar-{game}-s{seed}-")) / "run"
            self.scratch = self.run_dir.parent
        else:
            self.run_dir = self.scratch = work / label / f"{game}-s{seed}"
        env = game if action_set == "v0" else f"MinAtar/{game}-{action_set}"
        self.train_args = ["train", "--preset", "minatar", "--env", env, "--seed", str(seed)]
        self.train_args += ["--num-threads", "1", "--run-dir", str(self.run_dir)]
        self.train_args += ["--no-progress", *flags]
        self.eval_args = ["eval", "--run-dir", str(self.run_dir)]
        self.eval_args += ["--episodes", str(EVAL_EPISODES), "--seed", "10000"]
        self.summary: dict = {"label": label, "game": game, "seed": seed, "machine": machine()}
        self.proc: subprocess.Popen | None = None
        self.stage = "train"
        self.start = 0.0
        self.resumed = False
        if work is not None:
            self._pick_up()

    def _pick_up(self) -> None:
        """Continue what an earlier, killed invocation left in the work directory: evaluate final
        weights, resume from the last checkpoint, or start again where none was written."""
        checkpoints = self.run_dir / "checkpoints"
        if (checkpoints / "final.pt").is_file():
            self.stage = "eval"
            self.summary["train"] = {
                "command": "efficientzero " + " ".join(self.train_args),
                "exit_status": 0,
                "finished_earlier": True,
                "trainer_wall_seconds": self._trainer_seconds(),
            }
        elif (checkpoints / "latest.pt").is_file():
            self.resumed = True
            self.train_args = ["train", "--run-dir", str(self.run_dir), "--resume"]
            self.train_args += ["--no-progress"]
        elif self.run_dir.exists():
            shutil.rmtree(self.run_dir)

    def _trainer_seconds(self) -> float | None:
        """The trainer's own clock at its last evaluation (it carries on over resumes)."""
        metrics = self.run_dir / "metrics.jsonl"
        if not metrics.is_file():
            return None
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        return rows[-1].get("wall_seconds") if rows else None

    def launch(self) -> None:
        args = self.train_args if self.stage == "train" else self.eval_args
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL)

    def finished(self, status: int, rss: float, side_by_side: int) -> bool:
        """Record the stage that ended; True when the job is done."""
        seconds = round(time.perf_counter() - self.start, 1)
        args = self.train_args if self.stage == "train" else self.eval_args
        self.summary[self.stage] = {
            "command": "efficientzero " + " ".join(args),
            "exit_status": status,
            "wall_seconds": seconds,
            "peak_rss_mib": rss,
            "side_by_side": side_by_side,
        }
        if self.stage == "train":
            self.summary["train"]["resumed"] = self.resumed
            self.summary["train"]["trainer_wall_seconds"] = self._trainer_seconds()
        if self.stage == "train" and status == 0:
            self.stage = "eval"
            return False
        self._keep()
        return True

    def _keep(self) -> None:
        folder = self.out / f"{self.game}-s{self.seed}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name in KEPT_FILES:
            if (self.run_dir / name).is_file():
                shutil.copy2(self.run_dir / name, folder / name)
        if (self.run_dir / "eval.json").is_file():
            result = json.loads((self.run_dir / "eval.json").read_text())
            self.summary["final_return_mean"] = result["return_mean"]
        (folder / "run_summary.json").write_text(json.dumps(self.summary, indent=1) + "\n")
        final = self.run_dir / "checkpoints" / "final.pt"
        if self.weights is not None and final.is_file():
            (self.weights / self.label).mkdir(parents=True, exist_ok=True)
            shutil.copy2(final, self.weights / self.label / f"{self.game}-s{self.seed}.pt")
        done = all(self.summary.get(s, {}).get("exit_status") == 0 for s in ("train", "eval"))
        if done or self.scratch != self.run_dir:  # a failed run in --work-dir stays to resume
            shutil.rmtree(self.scratch, ignore_errors=True)
        print(
            json.dumps(
                {k: self.summary.get(k) for k in ("label", "game", "seed", "final_return_mean")}
                | {"train_s": self.summary["train"].get("trainer_wall_seconds")}
            ),
            flush=True,
        )


def run_jobs(jobs: list[Job], parallel: int) -> None:
    pending, running = list(jobs), {}
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            job.launch()
            assert job.proc is not None
            running[job.proc.pid] = job
        pid, status, usage = os.wait4(-1, 0)
        job = running.pop(pid, None)
        if job is None:
            continue
        side_by_side = len(running) + 1
        rss = round(usage.ru_maxrss / 1024, 1)
        if not job.finished(os.waitstatus_to_exitcode(status), rss, side_by_side):
            job.launch()
            assert job.proc is not None
            running[job.proc.pid] = job


def runs_table(root: Path) -> str:
    """Each kept run under ``root`` (one label), then each game over its seeds, as markdown."""
    from efficientzero.envs.minatar import minatar_games

    games = minatar_games()
    rows, by_game = [], {}
    for path in sorted(root.glob("*-s*/run_summary.json")):
        summary = json.loads(path.read_text())
        game, seed = summary["game"], summary["seed"]
        ref = games[game]
        evaluations = [
            json.loads(line)
            for line in (path.parent / "metrics.jsonl").read_text().splitlines()
            if line.strip()
        ]
        curve = " / ".join(
            f"{e['eval_return_mean']:.2f}"
            for e in evaluations
            if e.get("eval_return_mean") is not None
        )
        final = float(summary["final_return_mean"])
        train = summary["train"]
        minutes = train.get("trainer_wall_seconds") or train["wall_seconds"]
        # The trainer's clock stops when the last evaluation begins: the earlier ones are in it.
        evaluating = [e.get("eval_seconds") for e in evaluations[:-1]]
        of_which = (
            f" ({sum(evaluating) / 60:.1f} evaluating)"
            if evaluating and None not in evaluating
            else ""
        )
        by_game.setdefault(game, []).append(final)
        rows.append(
            f"| {game} | {seed} | {curve} | {final:.2f} | {ref.dqn_normalized(final):.3f} | "
            f"~{ref.dqn_500k:g} / ~{ref.dqn_5m:g} | {minutes / 60:.1f} min{of_which} | "
            f"{train['peak_rss_mib']:.0f} MiB |"
        )
    if not rows:
        raise SystemExit(f"no kept runs (*-s*/run_summary.json) under {root}")
    lines = [
        "| game | seed | evaluations every 20k steps (8 episodes) | final (32 episodes) | "
        "DQN-normalised | DQN 0.5M / 5M frames | train time | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "| game | seeds | final, mean ± std | DQN-normalised | reaches DQN at 5M frames |",
        "|---|---|---|---|---|",
    ]
    normalised = []
    for game, finals in sorted(by_game.items()):
        ref, mean = games[game], float(np.mean(finals))
        spread = f" ± {np.std(finals, ddof=1):.2f}" if len(finals) > 1 else ""
        normalised.append(ref.dqn_normalized(mean))
        lines.append(
            f"| {game} | {len(finals)} | {mean:.2f}{spread} | {normalised[-1]:.3f} | "
            f"{'yes' if mean >= ref.dqn_5m else 'no'} |"
        )
    lines.append(f"| mean over {len(by_game)} games | | | {np.mean(normalised):.3f} | |")
    return "\n".join(lines)


def label_runs(folders: dict[str, Path]) -> dict[str, dict[str, list]]:
    """label -> game -> run records (``efficientzero.report.runs``) of each label's folder."""
    from efficientzero.envs.minatar import game_name
    from efficientzero.report.runs import discover_run_dirs, load_run

    found: dict[str, dict[str, list]] = {}
    for label, folder in folders.items():
        if not folder.is_dir():
            continue
        for path in discover_run_dirs([folder])[0]:
            record, _ = load_run(path)
            found.setdefault(label, {}).setdefault(game_name(record.env_id), []).append(record)
    return found


def ablation_runs(root: Path) -> dict[str, dict[str, list]]:
    """label -> game -> run records of the ablation labels under ``root``."""
    return label_runs({label: root / label for label in ABLATIONS})


def _mean_over_all(normalised: list[float], num_games: int) -> str:
    """The DQN-normalised mean as a table cell, "–" unless all ``num_games`` games are in it."""
    return f"{np.mean(normalised):.3f}" if len(normalised) == num_games else "–"


def comparison_table(runs: dict[str, dict[str, list]], baseline: str) -> str:
    """Final returns per game (columns) and label (rows), as markdown; each label's change from
    ``baseline``'s mean, and the DQN-normalised mean of labels that have every game."""
    from efficientzero.envs.minatar import minatar_games

    games = [g for g in minatar_games() if any(g in by_game for by_game in runs.values())]
    lines = [
        "| label | " + " | ".join(games) + " | DQN-normalised mean |",
        "|---|" + "---|" * (len(games) + 1),
    ]
    base_runs = runs.get(baseline, {})
    for label, by_game in runs.items():
        cells, normalised = [], []
        for game in games:
            records = sorted(by_game.get(game, []), key=lambda r: r.seed)
            if not records:
                cells.append("–")
                continue
            scores = np.array([r.score for r in records])
            text = (
                f"{scores.mean():.2f} ± {scores.std(ddof=1):.2f}"
                if len(scores) > 1
                else f"{scores.mean():.2f}"
            )
            base = base_runs.get(game)
            if label != baseline and base:
                text += f" ({scores.mean() - np.mean([r.score for r in base]):+.2f})"
            per_seed = ", ".join(f"s{r.seed} {r.score:.2f}" for r in records)
            cells.append(f"{text} (n={len(scores)}: {per_seed})")
            normalised.append(minatar_games()[game].dqn_normalized(float(scores.mean())))
        # a mean over fewer games than the other rows' would not compare with them
        mean = _mean_over_all(normalised, len(games))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def ablation_table(root: Path) -> str:
    """Final returns per game and ablation label, as markdown."""
    runs = ablation_runs(root)
    if not runs:
        raise SystemExit(f"no ablation runs under {root}")
    return comparison_table(runs, baseline="full")


def _action_set(command: str) -> str:
    """The MinAtar version a run's train command played: v1 when its ``--env`` names it."""
    words = command.split()
    env = words[words.index("--env") + 1] if "--env" in words[:-1] else ""
    return "v1" if env.endswith("-v1") else "v0"


def compare_table(results: Path, labels: list[str]) -> str:
    """``--compare``: the kept runs of ``labels`` side by side (the first is the baseline), and
    the training flags each label's runs added to the preset."""
    runs = label_runs({label: results / label for label in labels})
    missing = [label for label in labels if label not in runs]
    if missing:
        raise SystemExit(f"no kept runs for {', '.join(missing)} under {results}")
    flags = []
    for label in labels:
        full = [
            json.loads(path.read_text())["train"]["command"]
            for path in sorted((results / label).glob("*-s*/run_summary.json"))
        ]
        commands = {c.split(" --no-progress", 1)[-1] for c in full}
        shown = (c.strip() or "(no flags: the preset as it was when they ran)" for c in commands)
        sets = sorted({_action_set(c) for c in full} - {"v0"})
        where = "".join(f"MinAtar/<Game>-{v} (minimal action sets), " for v in sets)
        flags.append(f"- {label}: {where}{' / '.join(shown)}")
    return comparison_table(runs, baseline=labels[0]) + "\n\n" + "\n".join(flags)


def best_table(results: Path, env_steps: int = 100_000) -> str:
    """``--best``: each game's highest final return over every label's kept runs of
    ``env_steps`` agent steps with their final evaluation (the ablation's shorter runs, probes
    of fewer steps and runs without ``eval.json`` are left out), with the label and seed that
    scored it.

    The seeds are picked after the fact, so the row is an upper envelope of what has been
    measured, not a score of any one agent; its DQN-normalised mean bounds what choosing among
    the measured variants per game could show.
    """
    from efficientzero.envs.minatar import minatar_games

    folders = {p.name: p for p in sorted(results.iterdir()) if p.is_dir() and p.name != "ablation"}
    runs = label_runs(folders)
    kept: dict[str, list[tuple[float, str, int]]] = {}  # game -> (score, label, seed)
    for label, by_game in runs.items():
        for game, records in by_game.items():
            kept.setdefault(game, []).extend(
                (r.score, label, r.seed)
                for r in records  # not a shorter run, nor one without its 32-episode eval.json
                if r.total_env_steps == env_steps == r.env_steps and not r.is_fallback
            )
    kept = {game: found for game, found in kept.items() if found}
    if not kept:
        raise SystemExit(f"no kept runs of {env_steps} agent steps under {results}")
    games = minatar_games()
    lines = [
        "| game | runs | best final (32 episodes) | label, seed | DQN-normalised | DQN 5M frames "
        "| reaches it |",
        "|---|---|---|---|---|---|---|",
    ]
    normalised = []
    for game in [g for g in games if g in kept]:
        score, label, seed = max(kept[game], key=lambda run: run[0])
        ref = games[game]
        normalised.append(ref.dqn_normalized(score))
        lines.append(
            f"| {game} | {len(kept[game])} | {score:.2f} | {label}, s{seed} | "
            f"{normalised[-1]:.3f} | ~{ref.dqn_5m:g} | {'yes' if score >= ref.dqn_5m else 'no'} |"
        )
    total = sum(len(found) for found in kept.values())
    mean = _mean_over_all(normalised, len(games))
    lines.append(f"| mean over {len(normalised)} games | {total} | | | {mean} | | |")
    return "\n".join(lines)


def ablation_curves(root: Path, path: Path) -> Path:
    """One panel per game: each label's periodic evaluations, mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from efficientzero.report.plots import mean_and_band

    runs = ablation_runs(root)
    games = sorted({g for by_game in runs.values() for g in by_game})
    fig, axes = plt.subplots(1, len(games), figsize=(5 * len(games), 3.5), squeeze=False)
    for ax, game in zip(axes[0], games):
        for i, (label, by_game) in enumerate(runs.items()):
            curves = [
                (r.curve_steps, r.curve_returns)
                for r in by_game.get(game, [])
                if len(r.curve_steps)
            ]
            if curves:
                grid, mean, _, _ = mean_and_band(curves)
                ax.plot(
                    grid,
                    mean,
                    color=f"C{i}",
                    label=f"{label} ({len(curves)} seed{'' if len(curves) == 1 else 's'})",
                )
        ax.set_title(game)
        ax.set_xlabel("env steps")
        ax.set_ylabel("evaluation return")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--games",
        nargs="+",
        default=["Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders"],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--label", default=PRESET_LABEL)
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--ablation-table", action="store_true", help="print the ablation table")
    parser.add_argument(
        "--table", action="store_true", help="print the kept runs of --label as a table"
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL",
        default=None,
        help="print the kept runs of these labels side by side (the first is the baseline)",
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="print each game's best kept 100k-step run over every label (seeds picked after "
        "the fact: an upper envelope, not a score)",
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        choices=list(ABLATIONS),
        default=None,
        help="with --ablation: run only these agents (default: all four)",
    )
    parser.add_argument("--env-steps", type=int, default=None)
    parser.add_argument(
        "--action-set",
        choices=["v0", "v1"],
        default="v0",
        help="v0: all 6 actions (the preset's, as DQN's references); v1: each game's minimal set",
    )
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep run directories under DIR/<label>/<Game>-s<seed> (default: a temporary "
        "folder each); a run found there is resumed from its last checkpoint, or only "
        "evaluated if it has final weights",
    )
    parser.add_argument(
        "--keep-weights",
        type=Path,
        default=None,
        help="copy each finished run's final weights to DIR/<label>/<Game>-s<seed>.pt",
    )
    args, extra = parser.parse_known_args()
    extra = [x for x in extra if x != "--"]
    if args.table:
        print(runs_table(args.results / args.label))
        return
    if args.compare:
        print(compare_table(args.results, args.compare))
        return
    if args.best:
        print(best_table(args.results))
        return
    if args.ablation_table:
        root = args.results / "ablation"
        print(ablation_table(root))
        print(f"curves: {ablation_curves(root, root / 'curves.png')}")
        return
    if args.env_steps is not None:
        extra = ["--env-steps", str(args.env_steps), *extra]
    if args.labels is not None and not args.ablation:
        parser.error("--labels picks ablation agents: add --ablation, or use --label NAME")
    run_jobs(make_jobs(args, extra), args.parallel)


def make_jobs(args: argparse.Namespace, extra: list[str]) -> list[Job]:
    """One job per (seed, game, label), in that order."""
    if args.ablation:
        labels = {k: v for k, v in ABLATIONS.items() if args.labels is None or k in args.labels}
        root = args.results / "ablation"
    else:
        labels, root = {args.label: []}, args.results
    jobs = []
    for seed in args.seeds:
        for game in args.games:
            for label, flags in labels.items():
                flags_all = [*flags, *extra]
                jobs.append(
                    Job(
                        label,
                        root / label,
                        game,
                        seed,
                        flags_all,
                        args.work_dir,
                        args.keep_weights,
                        args.action_set,
                    )
                )
    return jobs


if __name__ == "__main__":
    main()
