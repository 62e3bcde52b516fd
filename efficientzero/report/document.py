"""The content of a report: summary.json's numbers and the document blocks rendered to md/html.

Kept apart from ``report/build.py`` (which reads runs and computes) so the wording of the report can
change without touching the maths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from efficientzero.report.render import Block, BulletList, Heading, Image, Paragraph, Table
from efficientzero.report.results import GameResult, PresetReport
from efficientzero.report.scores import METRICS

PUBLISHED_EFFICIENTZERO: dict[str, float] = {"mean": 1.943, "median": 1.090, "iqm": 1.047}
"""The paper's aggregates over the 26 games (Ye et al. 2021, the Atari 100k results)."""
PUBLISHED_EFFICIENTZERO_ABOVE_HUMAN = 14
"""Games above human in the paper (Ye et al. 2021, the Atari 100k results)."""
FALLBACK_MARK = "†"
_METRIC_NAMES = {"mean": "Mean", "median": "Median", "iqm": "IQM"}


def summary(
    groups: Sequence[PresetReport],
    plots: Mapping[str, Mapping[str, str]],
    warnings: Sequence[str],
    num_runs: int,
) -> dict[str, Any]:
    """Every number of the report as JSON-ready data (None where a value does not exist)."""
    from efficientzero.version import __version__

    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "efficientzero_version": __version__,
        "num_runs": num_runs,
        "warnings": list(warnings),
        "published_efficientzero": {
            **PUBLISHED_EFFICIENTZERO,
            "games_above_human": PUBLISHED_EFFICIENTZERO_ABOVE_HUMAN,
            "num_games": 26,
        },
        "groups": [_group_summary(group, plots[group.preset]) for group in groups],
    }


def _group_summary(group: PresetReport, plots: Mapping[str, str]) -> dict[str, Any]:
    aggregates = minatar_aggregates = None
    if group.minatar_aggregates is not None:
        minatar_aggregates = {
            **group.minatar_aggregates.to_dict(),
            "left_out": [str(path) for path in group.minatar_left_out],
        }
    if group.aggregates is not None:
        aggregates = {
            **group.aggregates.to_dict(),
            "left_out": [str(path) for path in group.left_out],
            "published_efficientzero_same_games": group.published_same_games,
        }
    return {
        "preset": group.preset,
        "plots": dict(plots),
        "aggregates": aggregates,
        "minatar_aggregates": minatar_aggregates,
        "games": [_game_summary(game) for game in group.games],
    }


def _game_summary(game: GameResult) -> dict[str, Any]:
    atari = game.game
    return {
        "name": game.name,
        "env_id": game.runs[0].env_id,
        "atari": atari is not None,
        "num_runs": len(game.runs),
        "seeds": [run.seed for run in game.runs],
        "scores": [run.score for run in game.runs],
        "score_mean": game.score_mean,
        "score_std": game.score_std,
        "hns": game.hns,
        "hns_per_run": None
        if atari is None
        else [atari.human_normalized(s) for s in game.scores.tolist()],
        "random": game.minatar.random if game.minatar else None if atari is None else atari.random,
        "human": None if atari is None else atari.human,
        "published_efficientzero": game.published,
        "published_efficientzero_hns": game.published_hns,
        "published": {} if atari is None else dict(atari.published),
        "minatar": game.minatar is not None,
        "dqn_normalized": game.dqn_normalized,
        "dqn_normalized_per_run": None
        if game.minatar is None
        else [game.minatar.dqn_normalized(s) for s in game.scores.tolist()],
        "dqn_5m": None if game.minatar is None else game.minatar.dqn_5m,
        "dqn_500k": None if game.minatar is None else game.minatar.dqn_500k,
        "dmc": game.dmc is not None,
        "ezv2_100k": None if game.dmc is None else game.dmc.ezv2_100k,
        "score_over_ezv2": game.reference_fraction,
        "fallback": game.uses_fallback,
        "runs": [
            {
                "path": str(run.path),
                "seed": run.seed,
                "score": run.score,
                "score_source": run.score_source,
                "env_steps": run.env_steps,
                "total_env_steps": run.total_env_steps,
                "eval_episodes": run.eval_episodes,
            }
            for run in game.runs
        ],
    }


# ---------------------------------------------------------------------------------- document


def document(
    groups: Sequence[PresetReport],
    plots: Mapping[str, Mapping[str, str]],
    warnings: Sequence[str],
    data: Mapping[str, Any],
) -> list[Block]:
    blocks: list[Block] = [
        Heading("EfficientZero benchmark report", 1),
        Paragraph(
            f"Generated {data['created']} from {data['num_runs']} run(s). A run's final score is "
            "the mean return in its eval.json (efficientzero eval: final weights, the protocol's "
            f"episodes); {FALLBACK_MARK} marks games with a run that has no eval.json and is "
            "scored by its last periodic evaluation instead. "
            "HNS = (score - random) / (human - random); for MinAtar, DQN-normalised = "
            "(score - random) / (DQN at 5M frames - random), DQN's returns read off the MinAtar "
            "paper's curves (Young & Tian 2019, Figure 2; approximate). DeepMind Control "
            "references: EfficientZero V2's proprioceptive returns at 100k environment steps "
            "(Wang et al. 2024), read off its learning curves (approximate)."
        ),
    ]
    if warnings:
        blocks += [Heading("Warnings"), BulletList(list(warnings))]
    for group in groups:
        blocks += _group_blocks(group, plots[group.preset])
    return blocks


def _group_blocks(group: PresetReport, plots: Mapping[str, str]) -> list[Block]:
    num_runs = sum(len(game.runs) for game in group.games)
    blocks: list[Block] = [
        Heading(f"Preset: {group.preset}"),
        Paragraph(f"{num_runs} run(s) over {len(group.games)} game(s) or environment(s)."),
    ]
    if group.aggregates is not None:
        blocks += _aggregate_blocks(group, plots["aggregates"])
    if group.minatar_aggregates is not None:
        blocks += _minatar_aggregate_blocks(group, plots["minatar_aggregates"])
    atari = [game for game in group.games if game.game is not None]
    small = [game for game in group.games if game.minatar is not None]
    control = [game for game in group.games if game.dmc is not None]
    others = [
        game
        for game in group.games
        if game.game is None and game.minatar is None and game.dmc is None
    ]
    if atari:
        blocks += [Heading("Atari 100k games", 3), _atari_table(atari)]
    if small:
        blocks += [Heading("MinAtar games", 3), _minatar_table(small)]
    if control:
        blocks += [Heading("DeepMind Control tasks (proprioceptive)", 3), _dmc_table(control)]
    if others:
        blocks += [
            Heading("Other environments (raw scores; no human-normalised score)", 3),
            _raw_table(others),
        ]
    blocks += [
        Heading("Learning curves", 3),
        Paragraph(
            "Periodic evaluations (metrics.jsonl): mean over seeds, shaded min-max across seeds"
            + ("; dashed: the published EfficientZero score" if atari else "")
            + ("; dashed: DQN's return at 5M frames (MinAtar)" if small else "")
            + (
                "; dashed: EfficientZero V2's return at 100k steps (DeepMind Control)"
                if control
                else ""
            )
            + ". Steps are environment steps (agent steps x action repeat; Atari: agent steps)."
        ),
        Image(plots["curves"], f"learning curves, preset {group.preset}"),
    ]
    return blocks


def _aggregate_blocks(group: PresetReport, image: str) -> list[Block]:
    agg = group.aggregates
    assert agg is not None

    percent = round(100 * agg.confidence)
    same = group.published_same_games
    headers = ["Metric", f"This report [{percent}% CI]", "EfficientZero, paper (26 games)"]
    if same is not None:
        headers.append(f"EfficientZero published, same {agg.num_games} game(s)")
    rows = []
    for metric in METRICS:
        interval = getattr(agg, metric)
        row = [
            _METRIC_NAMES[metric],
            f"{interval.point:.3f} [{interval.low:.3f}, {interval.high:.3f}]",
            f"{PUBLISHED_EFFICIENTZERO[metric]:.3f}",
        ]
        rows.append(row + ([f"{same[metric]:.3f}"] if same is not None else []))
    above = [
        "Games above human",
        f"{agg.games_above_human} / {agg.num_games}",
        f"{PUBLISHED_EFFICIENTZERO_ABOVE_HUMAN} / 26",
    ]
    rows.append(above + ([f"{int(same['games_above_human'])} / {agg.num_games}"] if same else []))
    text = (
        f"Human-normalised scores over {agg.num_games} Atari game(s), {agg.runs_per_game} "
        f"seed(s) each. Intervals: {percent}% percentile intervals of a stratified bootstrap "
        f"over seeds (rliable's method; {agg.bootstrap_reps} reps, seed {agg.seed}, computed "
        f"by {agg.backend}). The paper's values are over all 26 games"
        + (
            ", so the same-games column is the like-for-like comparison."
            if agg.num_games < 26
            else "."
        )
    )
    return [
        Heading("Human-normalised aggregates", 3),
        Paragraph(text),
        Table(headers, rows),
        Image(image, f"aggregate human-normalised scores, preset {group.preset}"),
    ]


def _minatar_aggregate_blocks(group: PresetReport, image: str) -> list[Block]:
    agg = group.minatar_aggregates
    assert agg is not None
    percent = round(100 * agg.confidence)
    rows = [
        [
            _METRIC_NAMES[metric],
            f"{getattr(agg, metric).point:.3f} [{getattr(agg, metric).low:.3f}, "
            f"{getattr(agg, metric).high:.3f}]",
        ]
        for metric in METRICS
    ]
    rows.append(["Games at or above DQN (5M frames)", f"{agg.games_above_human} / {agg.num_games}"])
    text = (
        f"DQN-normalised scores over {agg.num_games} MinAtar game(s), {agg.runs_per_game} "
        f"seed(s) each (1.0 = DQN's return after 5M frames). Intervals: {percent}% percentile "
        f"intervals of a stratified bootstrap over seeds ({agg.bootstrap_reps} reps, seed "
        f"{agg.seed}, computed by {agg.backend})."
    )
    return [
        Heading("DQN-normalised aggregates (MinAtar)", 3),
        Paragraph(text),
        Table(["Metric", f"This report [{percent}% CI]"], rows),
        Image(image, f"aggregate DQN-normalised scores, preset {group.preset}"),
    ]


def _minatar_table(games: Sequence[GameResult]) -> Table:
    headers = [
        "Game",
        "Seeds",
        "Score (mean ± std)",
        "DQN-normalised",
        "DQN, 0.5M frames",
        "DQN, 5M frames",
        "Random",
    ]
    rows = []
    for game in games:
        assert game.minatar is not None
        rows.append(
            [
                *_lead_cells(game),
                _number(game.dqn_normalized, ".3f"),
                _number(game.minatar.dqn_500k, ",.1f"),
                _number(game.minatar.dqn_5m, ",.1f"),
                _number(game.minatar.random, ",.2f"),
            ]
        )
    return Table(headers, rows)


def _dmc_table(games: Sequence[GameResult]) -> Table:
    headers = [
        "Task",
        "Seeds",
        "Score (mean ± std)",
        "Env steps",
        "EfficientZero V2, 100k (approx.)",
        "Score / EfficientZero V2",
    ]
    rows = []
    for game in games:
        assert game.dmc is not None
        steps = sorted(
            {run.env_steps * run.action_repeat for run in game.runs if run.env_steps is not None}
        )
        rows.append(
            [
                *_lead_cells(game),
                ", ".join(f"{s:,}" for s in steps) or "–",
                _number(game.dmc.ezv2_100k, ",.0f"),
                _number(game.reference_fraction, ".2f"),
            ]
        )
    return Table(headers, rows)


def _atari_table(games: Sequence[GameResult]) -> Table:
    headers = [
        "Game",
        "Seeds",
        "Score (mean ± std)",
        "HNS",
        "EfficientZero (published)",
        "EfficientZero HNS",
        "Random",
        "Human",
    ]
    rows = []
    for game in games:
        assert game.game is not None
        rows.append(
            [
                *_lead_cells(game),
                _number(game.hns, ".3f"),
                _number(game.published, ",.1f"),
                _number(game.published_hns, ".3f"),
                _number(game.game.random, ",.1f"),
                _number(game.game.human, ",.1f"),
            ]
        )
    return Table(headers, rows)


def _raw_table(games: Sequence[GameResult]) -> Table:
    headers = ["Environment", "Seeds", "Score (mean ± std)", "Env steps of final score"]
    rows = []
    for game in games:
        steps = sorted({run.env_steps for run in game.runs if run.env_steps is not None})
        rows.append(
            [
                *_lead_cells(game),
                ", ".join(f"{s:,}" for s in steps) or "–",
            ]
        )
    return Table(headers, rows)


def _lead_cells(game: GameResult) -> list[str]:
    """A table row's first cells: the game (with the fallback mark), its seeds, its score."""
    name = game.name + (f" {FALLBACK_MARK}" if game.uses_fallback else "")
    return [name, _seeds(game), _score(game)]


def _seeds(game: GameResult) -> str:
    return ", ".join(str(run.seed) for run in game.runs)


def _score(game: GameResult) -> str:
    std = game.score_std
    return f"{game.score_mean:,.1f}" + ("" if std is None else f" ± {std:,.1f}")


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


__all__ = [
    "FALLBACK_MARK",
    "PUBLISHED_EFFICIENTZERO",
    "PUBLISHED_EFFICIENTZERO_ABOVE_HUMAN",
    "document",
    "summary",
]
