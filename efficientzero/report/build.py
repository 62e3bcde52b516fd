"""Benchmark reports from run directories (the Atari 100k protocol: Ye et al. 2021, §5.1; Agarwal et al. 2021 for the aggregates): per-game scores beside the published
EfficientZero scores, human-normalised aggregates with bootstrap CIs, learning curves.

Decisions, in one place:

- Runs are grouped by (preset, game). Runs of different presets are never mixed: each preset
  gets its own section and aggregates, with one warning naming the presets.
- A run's final score is ``eval.json``'s ``return_mean`` (the protocol: final weights, 32
  episodes). A run without ``eval.json`` falls back to its last ``metrics.jsonl`` evaluation,
  with a warning naming the run and a † beside its game in the tables.
- Unreadable directories (no ``config.json``, broken JSON, no score at all) are skipped with a
  warning; a path that does not exist, or no usable run at all, is an error (``ReportError``).
- MinAtar v0 runs (all 6 actions, the setting of the references) get DQN-normalised scores,
  (score - random) / (DQN at 5M frames - random), and their own aggregates beside the Atari ones.
- DeepMind Control runs from proprioceptive features, on a task with a published reference, are
  shown beside EfficientZero V2's return at 100k environment steps (approximate, read off its
  plots); their curves count environment steps (agent steps x action repeat).
- Other environments (e.g. CartPole, MinAtar v1, DeepMind Control from pixels) get raw scores
  and curves only.
- The bootstrap needs the same number of seeds per game: aggregates use the lowest k seeds of
  every game, k the smallest seed count, and a warning names the runs left out. Per-game rows
  still use every seed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from efficientzero.config import ConfigError
from efficientzero.envs.atari_games import AtariGame, atari100k_games, resolve_game
from efficientzero.envs.dmc import DMCTask, canonical_dmc_id, dmc_tasks, is_dmc_id
from efficientzero.envs.minatar import GAMES as MINATAR_GAMES
from efficientzero.envs.minatar import (
    MinAtarGame,
    game_name,
    is_minatar_id,
    minatar_games,
    resolve_minatar_id,
)
from efficientzero.report.document import (
    PUBLISHED_EFFICIENTZERO,
    document,
    summary,
)
from efficientzero.report.plots import Curve, plot_aggregates, plot_learning_curves
from efficientzero.report.render import render_html, render_markdown
from efficientzero.report.results import GameResult, PresetReport, ReportResult
from efficientzero.report.runs import RunRecord, discover_run_dirs, load_run
from efficientzero.report.scores import (
    AggregateScores,
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_scores,
    games_above_human,
    human_normalized,
    rectangular_matrix,
)
from efficientzero.run.directory import RunDirectoryError

logger = logging.getLogger(__name__)

FORMATS = ("md", "html")
DEFAULT_BOOTSTRAP_REPS = 50_000


class ReportError(RuntimeError):
    """The report cannot be built (no runs, bad paths); the message says why."""


class _Warnings(list[str]):
    """Warnings shown in the report and summary.json, and logged as they arise."""

    def add(self, message: str) -> None:
        logger.warning(message)
        self.append(message)


def build_report(
    run_dirs: Sequence[Path],
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    bootstrap_reps: int = DEFAULT_BOOTSTRAP_REPS,
    seed: int = 0,
) -> ReportResult:
    """Read runs (directories, or folders holding them), write the report into ``out_dir``."""
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {tuple(formats)}")
    # Checked here too so a bad value fails before any work, even without Atari runs.
    if bootstrap_reps < 1 or not 0 <= seed < 2**32:
        raise ValueError(
            f"need bootstrap_reps >= 1 and 0 <= seed < 2**32, got {bootstrap_reps}, {seed}"
        )
    warnings = _Warnings()
    records = _load_runs(run_dirs, warnings)
    by_preset: dict[str, list[RunRecord]] = {}
    for record in records:
        by_preset.setdefault(record.preset, []).append(record)
    if len(by_preset) > 1:
        warnings.add(
            f"runs of different presets ({', '.join(sorted(by_preset))}); each preset is reported separately"
        )
    groups = [
        _preset_report(preset, by_preset[preset], bootstrap_reps, seed, warnings)
        for preset in sorted(by_preset)
    ]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {group.preset: _plot_group(group, out_dir) for group in groups}
    files = [out_dir / rel for paths in plots.values() for rel in paths.values()]
    summary_data = summary(groups, plots, warnings, len(records))
    blocks = document(groups, plots, warnings, summary_data)
    if "md" in formats:
        files.append(_write(out_dir / "report.md", render_markdown(blocks)))
    if "html" in formats:
        files.append(_write(out_dir / "report.html", render_html(blocks, "EfficientZero report")))
    files.append(_write(out_dir / "summary.json", json.dumps(summary_data, indent=2) + "\n"))
    return ReportResult(out_dir, files, groups, summary_data, list(warnings))


def _load_runs(run_dirs: Sequence[Path], warnings: _Warnings) -> list[RunRecord]:
    if not run_dirs:
        raise ReportError("no run directories given")
    try:
        paths, found_warnings = discover_run_dirs(run_dirs)
    except RunDirectoryError as error:
        raise ReportError(str(error)) from error
    for message in found_warnings:
        warnings.add(message)
    records = []
    for path in paths:
        try:
            record, run_warnings = load_run(path)
        except RunDirectoryError as error:
            warnings.add(f"skipped: {error}")
            continue
        for message in run_warnings:
            warnings.add(message)
        records.append(record)
    if not records:
        names = ", ".join(str(p) for p in run_dirs)
        raise ReportError(
            f"no usable run directories (config.json plus eval.json or metrics.jsonl) in {names}"
        )
    return records


def _game_of(env_id: str) -> AtariGame | None:
    try:
        return resolve_game(env_id)
    except ConfigError:
        return None


def _minatar_of(env_id: str) -> MinAtarGame | None:
    """The MinAtar game of a v0 id (the references' action set); None otherwise."""
    if env_id.startswith("ALE/") or not is_minatar_id(env_id):
        return None
    try:
        resolved = resolve_minatar_id(env_id)
    except ConfigError:
        return None
    game = minatar_games()[game_name(resolved)]
    return game if resolved == game.env_id else None


def _dmc_of(record: RunRecord) -> DMCTask | None:
    """The referenced DeepMind Control task of a proprioceptive run; None otherwise."""
    if not is_dmc_id(record.env_id) or record.pixels:
        return None
    return dmc_tasks().get(canonical_dmc_id(record.env_id))


def _preset_report(
    preset: str, records: list[RunRecord], reps: int, seed: int, warnings: _Warnings
) -> PresetReport:
    by_name: dict[str, list[RunRecord]] = {}
    atari: dict[str, AtariGame] = {}
    minatar: dict[str, MinAtarGame] = {}
    control: dict[str, DMCTask] = {}
    for record in records:
        game = _game_of(record.env_id)
        small = _minatar_of(record.env_id) if game is None else None
        task = _dmc_of(record)
        name = game.name if game else small.name if small else task.name if task else record.env_id
        if game is not None:
            atari[name] = game
        if small is not None:
            minatar[name] = small
        if task is not None:
            control[name] = task
        by_name.setdefault(name, []).append(record)
    atari_order = list(atari100k_games())
    control_order = [t.name for t in dmc_tasks().values()]

    def position(name: str) -> tuple[int, int, str]:
        """Atari games in the CSV's order, then MinAtar's in GAMES order, then DeepMind Control
        tasks in the CSV's order, then the rest by name."""
        if name in atari:
            return (0, atari_order.index(name), "")
        if name in minatar:
            return (1, MINATAR_GAMES.index(name), "")
        if name in control:
            return (2, control_order.index(name), "")
        return (3, 0, name)

    names = sorted(by_name, key=position)
    games = []
    for name in names:
        runs = sorted(by_name[name], key=lambda r: (r.seed, str(r.path)))
        seeds = [r.seed for r in runs]
        budgets = sorted({r.total_env_steps for r in runs})
        if len(budgets) > 1:
            warnings.add(f"preset {preset}, {name}: runs with different total_env_steps {budgets}")
        for repeated in sorted({s for s in seeds if seeds.count(s) > 1}):
            paths = ", ".join(str(r.path) for r in runs if r.seed == repeated)
            warnings.add(
                f"preset {preset}, {name}: seed {repeated} appears in several runs ({paths})"
            )
        games.append(
            GameResult(name, atari.get(name), tuple(runs), minatar.get(name), control.get(name))
        )
    return _with_aggregates(preset, tuple(games), reps, seed, warnings)


def _aggregated(
    preset: str,
    games: list[GameResult],
    per_game: dict[str, list[float]],
    reps: int,
    seed: int,
    warnings: _Warnings,
) -> tuple[AggregateScores, tuple[Path, ...]]:
    """Bootstrap aggregates of normalised scores ``per_game`` and the runs they leave out."""
    matrix, _, dropped = rectangular_matrix(per_game)
    left_out = tuple(r.path for g in games for r in g.runs[len(g.runs) - dropped.get(g.name, 0) :])
    if left_out:
        warnings.add(
            f"preset {preset}: games have different numbers of seeds; aggregates use the lowest "
            f"{matrix.shape[0]} seed(s) of each game and leave out {', '.join(map(str, left_out))}"
        )
    return aggregate_scores(matrix, bootstrap_reps=reps, seed=seed), left_out


def _with_aggregates(
    preset: str, games: tuple[GameResult, ...], reps: int, seed: int, warnings: _Warnings
) -> PresetReport:
    small = [g for g in games if g.minatar is not None]
    minatar_aggregates: AggregateScores | None = None
    minatar_left_out: tuple[Path, ...] = ()
    if small:
        per_small = {
            g.name: [float(g.minatar.dqn_normalized(r.score)) for r in g.runs]
            for g in small
            if g.minatar is not None
        }
        minatar_aggregates, minatar_left_out = _aggregated(
            preset, small, per_small, reps, seed, warnings
        )
    atari = [g for g in games if g.game is not None]
    if not atari:
        return PresetReport(preset, games, None, (), None, minatar_aggregates, minatar_left_out)
    per_game = {
        g.name: [float(human_normalized(r.score, g.game.random, g.game.human)) for r in g.runs]
        for g in atari
        if g.game is not None
    }
    aggregates, left_out = _aggregated(preset, atari, per_game, reps, seed, warnings)
    published = [g.published_hns for g in atari]
    same_games = None
    if all(p is not None for p in published):
        row = np.array([published], dtype=np.float64)  # [1, G]: one "run" per game
        same_games = {
            "mean": aggregate_mean(row),
            "median": aggregate_median(row),
            "iqm": aggregate_iqm(row),
            "games_above_human": float(games_above_human(row)),
        }
    return PresetReport(
        preset, games, aggregates, left_out, same_games, minatar_aggregates, minatar_left_out
    )


def _plot_group(group: PresetReport, out_dir: Path) -> dict[str, str]:
    """Draw the group's figures; returns kind -> path relative to out_dir."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", group.preset)
    plots = {"curves": f"plots/curves_{slug}.png"}

    def label(g: GameResult) -> str:
        if g.minatar is not None:
            return "DQN at 5M frames"
        if g.dmc is not None:
            return "EfficientZero V2 at 100k (approx.)"
        return "EfficientZero (published)"

    curves = [
        Curve(
            g.name,
            [(r.curve_steps * r.action_repeat, r.curve_returns) for r in g.runs],
            g.reference_line,
            label(g),
        )
        for g in group.games
    ]
    plot_learning_curves(curves, out_dir / plots["curves"])
    if group.aggregates is not None:
        plots["aggregates"] = f"plots/aggregates_{slug}.png"
        references = {"EfficientZero (paper, 26 games)": PUBLISHED_EFFICIENTZERO}
        if group.published_same_games is not None and group.aggregates.num_games < 26:
            references[f"EfficientZero (published, same {group.aggregates.num_games} games)"] = (
                group.published_same_games
            )
        plot_aggregates(group.aggregates, references, out_dir / plots["aggregates"])
    if group.minatar_aggregates is not None:
        plots["minatar_aggregates"] = f"plots/aggregates_minatar_{slug}.png"
        plot_aggregates(
            group.minatar_aggregates,
            {},
            out_dir / plots["minatar_aggregates"],
            ylabel="DQN-normalised score (DQN at 5M frames = 1)",
        )
    return plots


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- command line


def report_command(
    run_dirs: Sequence[str | Path],
    out: str | Path | None = None,
    fmt: str = "both",
    bootstrap_reps: int = DEFAULT_BOOTSTRAP_REPS,
    seed: int = 0,
) -> int:
    """``efficientzero report DIR... [--out DIR] [--format md|html|both]``; returns the exit code.

    Warnings go to the log (stderr by default); errors print one line and return 2.
    """
    formats = {"md": ("md",), "html": ("html",), "both": FORMATS}.get(fmt)
    if formats is None:
        print(f"error: --format must be md, html or both, got {fmt!r}", file=sys.stderr)
        return 2
    try:
        result = build_report(
            [Path(p) for p in run_dirs], Path(out or "report"), formats, bootstrap_reps, seed
        )
    except (ReportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"report written to {result.out_dir}:")
    for path in result.files:
        print(f"  {path}")
    if result.warnings:
        print(f"{len(result.warnings)} warning(s); they are listed in the report")
    return 0


__all__ = ["ReportError", "build_report", "report_command"]
