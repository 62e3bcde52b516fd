"""Reports from synthetic run directories: hand-computed numbers, warnings, files."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from efficientzero.cli import main
from efficientzero.report import ReportError, build_report, report_command
from efficientzero.report.plots import mean_and_band

REPS = 200  # few bootstrap replicates keep the tests fast

# Scores chosen so the human-normalised scores are round (HNS = (score - random) / (human - random)):
#   Breakout: random 1.7, human 30.5 (range 28.8):     16.1, 30.5, 44.9 -> 0.5, 1.0, 1.5
#   Pong: random -20.7, human 14.6 (range 35.3):       -20.7, -13.64, -6.58 -> 0.0, 0.2, 0.4
#   Alien: random 227.8, human 7127.7 (range 6899.9):  572.795, 917.79, 1262.785 -> 0.05, 0.1, 0.15
SCORES = {
    "Breakout": [16.1, 30.5, 44.9],
    "Pong": [-20.7, -13.64, -6.58],
    "Alien": [572.795, 917.79, 1262.785],
}


def write_run(
    root: Path,
    name: str,
    env_id: str,
    seed: int,
    score: float,
    preset: str = "atari100k",
    with_eval: bool = True,
    total_env_steps: int = 100_000,
    **fields: object,
) -> Path:
    """A run directory as the trainer and `efficientzero eval` write it (``fields``: more config)."""
    run = root / name
    run.mkdir(parents=True)
    config = {"preset": preset, "env_id": env_id, "seed": seed, "total_env_steps": total_env_steps}
    config |= fields
    (run / "config.json").write_text(json.dumps(config))
    lines = []
    for i in (1, 2, 3, 4):  # periodic evaluations rising to 0.9 * score
        steps = i * total_env_steps // 4
        entry = {"env_steps": steps, "updates": steps, "wall_seconds": 10.0 * i}
        entry |= {
            "eval_return_mean": 0.3 * i * score / 1.2,
            "eval_return_std": 1.0,
            "eval_episodes": 8,
        }
        lines.append(json.dumps(entry))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if with_eval:
        result = {"env_id": env_id, "checkpoint": "final.pt", "env_steps": total_env_steps}
        result |= {"updates": total_env_steps, "episodes": 32, "seeds": list(range(32))}
        result |= {
            "returns": [score] * 32,
            "lengths": [100] * 32,
            "return_mean": score,
            "return_std": 0.0,
        }
        (run / "eval.json").write_text(json.dumps(result))
    return run


def write_atari_runs(root: Path) -> None:
    for game, values in SCORES.items():
        for seed, score in enumerate(values):
            write_run(root, f"{game}-{seed}", f"ALE/{game}-v5", seed, score)


def test_per_game_and_aggregates_by_hand(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS, seed=0)
    assert result.warnings == []
    [group] = result.summary["groups"]
    games = {game["name"]: game for game in group["games"]}
    assert list(games) == ["Alien", "Breakout", "Pong"]  # the CSV's order
    breakout = games["Breakout"]
    assert breakout["score_mean"] == pytest.approx(30.5)  # (16.1 + 30.5 + 44.9) / 3
    assert breakout["score_std"] == pytest.approx(14.4)  # sample std of -14.4, 0, +14.4
    assert breakout["hns"] == pytest.approx(1.0)
    np.testing.assert_allclose(breakout["hns_per_run"], [0.5, 1.0, 1.5])
    # Published EfficientZero Breakout 414.1: (414.1 - 1.7) / 28.8.
    assert breakout["published_efficientzero_hns"] == pytest.approx(412.4 / 28.8)
    assert games["Pong"]["hns"] == pytest.approx(0.2)
    assert games["Alien"]["hns"] == pytest.approx(0.1)

    agg = group["aggregates"]
    # Game means 1.0 (Breakout), 0.2 (Pong), 0.1 (Alien): mean 1.3 / 3, median 0.2.
    assert agg["mean"]["point"] == pytest.approx(1.3 / 3)
    assert agg["median"]["point"] == pytest.approx(0.2)
    # All 9: 0 .05 .1 .15 .2 .4 .5 1 1.5; cutting 2 from each end leaves .1 .15 .2 .4 .5 -> 1.35 / 5.
    assert agg["iqm"]["point"] == pytest.approx(0.27)
    assert agg["games_above_human"] == 1  # Breakout's mean is exactly 1
    assert (agg["num_games"], agg["runs_per_game"], agg["bootstrap_reps"]) == (3, 3, REPS)
    for metric in ("mean", "median", "iqm"):
        assert agg[metric]["low"] <= agg[metric]["point"] <= agg[metric]["high"]
    # Published per-game HNS: Alien (808.5 - 227.8) / 6899.9 = 0.0842, Breakout 14.319,
    # Pong (20.1 + 20.7) / 35.3 = 1.156; median 1.156, two of three above human.
    same = agg["published_efficientzero_same_games"]
    assert same["median"] == pytest.approx(40.8 / 35.3)
    assert same["mean"] == pytest.approx((580.7 / 6899.9 + 412.4 / 28.8 + 40.8 / 35.3) / 3)
    assert same["games_above_human"] == 2


def test_intervals_are_deterministic_for_a_seed(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    first = build_report([tmp_path / "runs"], tmp_path / "a", bootstrap_reps=REPS, seed=7)
    again = build_report([tmp_path / "runs"], tmp_path / "b", bootstrap_reps=REPS, seed=7)
    other = build_report([tmp_path / "runs"], tmp_path / "c", bootstrap_reps=REPS, seed=8)
    aggregates = [r.summary["groups"][0]["aggregates"] for r in (first, again, other)]
    assert aggregates[0] == aggregates[1]
    assert aggregates[0]["mean"] != aggregates[2]["mean"]


def test_files_are_written(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    out = tmp_path / "out"
    result = build_report([tmp_path / "runs"], out, bootstrap_reps=REPS)
    names = {path.relative_to(out).as_posix() for path in result.files}
    assert names == {
        "report.md",
        "report.html",
        "summary.json",
        "plots/curves_atari100k.png",
        "plots/aggregates_atari100k.png",
    }
    for path in result.files:
        assert path.stat().st_size > 0
    for png in out.glob("plots/*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "report.md").read_text()
    assert (
        "![aggregate human-normalised scores, preset atari100k](plots/aggregates_atari100k.png)"
        in markdown
    )
    assert "| Breakout | 0, 1, 2 | 30.5 ± 14.4 | 1.000 | 414.1 | 14.319 | 1.7 | 30.5 |" in markdown
    assert "| IQM | 0.270 [" in markdown
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert '<img src="plots/curves_atari100k.png"' in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all((out / src).is_file() for src in sources)  # relative to the page
    assert json.loads((out / "summary.json").read_text()) == result.summary


def test_only_requested_format(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    build_report([tmp_path / "runs"], tmp_path / "out", formats=("md",), bootstrap_reps=REPS)
    assert (tmp_path / "out" / "report.md").exists()
    assert not (tmp_path / "out" / "report.html").exists()
    with pytest.raises(ValueError, match="formats"):
        build_report([tmp_path / "runs"], tmp_path / "out", formats=("pdf",))
    with pytest.raises(ValueError, match="bootstrap_reps"):
        build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=0)


def test_mixed_presets_warn_once_and_stay_apart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_atari_runs(tmp_path / "runs")
    for seed in (0, 1):
        write_run(
            tmp_path / "runs",
            f"cartpole-{seed}",
            "CartPole-v1",
            seed,
            480.0 + seed,
            preset="cartpole",
        )
    with caplog.at_level(logging.WARNING):
        result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS)
    mixed = [w for w in result.warnings if "different presets" in w]
    assert mixed == [
        "runs of different presets (atari100k, cartpole); each preset is reported separately"
    ]
    assert mixed[0] in caplog.messages
    groups = {group["preset"]: group for group in result.summary["groups"]}
    assert groups["atari100k"]["aggregates"]["mean"]["point"] == pytest.approx(1.3 / 3)  # unchanged
    [cartpole] = groups["cartpole"]["games"]
    assert groups["cartpole"]["aggregates"] is None
    assert (cartpole["atari"], cartpole["hns"], cartpole["score_mean"]) == (False, None, 480.5)
    assert (tmp_path / "out" / "plots" / "curves_cartpole.png").stat().st_size > 0
    assert (
        "| CartPole-v1 | 0, 1 | 480.5 ± 0.7 | 100,000 |"
        in (tmp_path / "out" / "report.md").read_text()
    )


def test_missing_eval_json_falls_back_to_metrics(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    (tmp_path / "runs" / "Pong-1" / "eval.json").unlink()
    result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS)
    [warning] = result.warnings
    assert "Pong-1" in warning and "no eval.json" in warning
    pong = next(g for g in result.summary["groups"][0]["games"] if g["name"] == "Pong")
    # The last periodic evaluation is 0.3 * 4 / 1.2 = 1.0 times the score.
    assert pong["runs"][1]["score_source"] == "metrics.jsonl"
    assert pong["runs"][1]["score"] == pytest.approx(-13.64)
    assert pong["fallback"] is True
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| Pong † |" in markdown and "| Breakout |" in markdown


def test_no_runs_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no usable run directories"):
        build_report([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(ReportError, match="no such directory"):
        build_report([tmp_path / "missing"], tmp_path / "out")
    assert report_command([tmp_path / "empty"], tmp_path / "out") == 2
    assert "error: no usable run directories" in capsys.readouterr().err


def test_unusable_directories_are_skipped(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    broken = tmp_path / "runs" / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    empty = write_run(tmp_path / "runs", "no-scores", "ALE/Breakout-v5", 9, 1.0, with_eval=False)
    (empty / "metrics.jsonl").write_text("")
    result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS)
    assert len(result.warnings) == 2
    assert any("broken" in w and "cannot read JSON" in w for w in result.warnings)
    assert any("no-scores" in w and "neither eval.json nor" in w for w in result.warnings)
    assert result.summary["num_runs"] == 9


def test_unknown_game_is_a_plain_environment(tmp_path: Path) -> None:
    # Tetris is an ALE game but not one of the 26: raw scores only, no aggregates.
    write_run(tmp_path / "runs", "tetris", "ALE/Tetris-v5", 0, 12.0)
    result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS)
    [group] = result.summary["groups"]
    assert group["aggregates"] is None
    assert group["games"][0]["name"] == "ALE/Tetris-v5" and group["games"][0]["hns"] is None
    assert "aggregates" not in group["plots"]


def test_uneven_seeds_trim_the_aggregates(tmp_path: Path) -> None:
    write_atari_runs(tmp_path / "runs")
    write_run(tmp_path / "runs", "Pong-3", "ALE/Pong-v5", 3, 14.6)  # a fourth Pong seed, HNS 1
    result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS)
    [warning] = result.warnings
    assert "different numbers of seeds" in warning and "Pong-3" in warning
    group = result.summary["groups"][0]
    pong = next(g for g in group["games"] if g["name"] == "Pong")
    assert pong["hns"] == pytest.approx(0.4)  # the table uses all four: (0 + .2 + .4 + 1) / 4
    assert group["aggregates"]["runs_per_game"] == 3
    assert group["aggregates"]["mean"]["point"] == pytest.approx(1.3 / 3)  # as without Pong-3
    assert group["aggregates"]["left_out"] == [str((tmp_path / "runs" / "Pong-3").resolve())]


def test_truncated_metrics_line_is_skipped(tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs", "cp", "CartPole-v1", 0, 500.0, preset="cartpole")
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"env_steps": 12')
    result = build_report([run], tmp_path / "out", bootstrap_reps=REPS)
    assert len(result.warnings) == 1 and "not valid JSON" in result.warnings[0]


def test_report_command_and_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_atari_runs(tmp_path / "runs")
    out = tmp_path / "out"
    assert report_command([tmp_path / "runs"], out, "html", bootstrap_reps=REPS, seed=1) == 0
    printed = capsys.readouterr().out
    assert f"report written to {out}" in printed and str(out / "report.html") in printed
    assert not (out / "report.md").exists()
    assert report_command([tmp_path / "runs"], out, "pdf") == 2
    assert (
        main(["report", str(tmp_path / "runs"), "--out", str(out), "--bootstrap-reps", "50"]) == 0
    )
    assert (out / "report.md").exists()


def test_curve_band_on_uneven_evaluation_steps() -> None:
    # Seed 1 is evaluated at 0, 10, 20; seed 2 at 0 and 20 only (interpolated at 10), seed 3
    # stops at 10 (not extrapolated to 20).
    runs = [
        (np.array([0, 10, 20]), np.array([0.0, 10.0, 20.0])),
        (np.array([0, 20]), np.array([2.0, 6.0])),
        (np.array([0, 10]), np.array([1.0, 1.0])),
    ]
    grid, mean, low, high = mean_and_band(runs)
    np.testing.assert_array_equal(grid, [0, 10, 20])
    np.testing.assert_allclose(mean, [1.0, (10 + 4 + 1) / 3, 13.0])
    np.testing.assert_allclose(low, [0.0, 1.0, 6.0])
    np.testing.assert_allclose(high, [2.0, 10.0, 20.0])


def test_different_budgets_within_a_game_warn(tmp_path: Path) -> None:
    write_run(
        tmp_path / "runs", "short", "CartPole-v1", 0, 100.0, preset="cartpole", total_env_steps=1000
    )
    write_run(tmp_path / "runs", "long", "CartPole-v1", 1, 500.0, preset="cartpole")
    result = build_report([tmp_path / "runs"], tmp_path / "out", bootstrap_reps=REPS)
    assert result.warnings == [
        "preset cartpole, CartPole-v1: runs with different total_env_steps [1000, 100000]"
    ]


def test_minatar_runs_get_dqn_normalised_rows_and_aggregates(tmp_path: Path) -> None:
    # DQN-normalised = (score - random) / (DQN 5M - random), references in data/minatar.csv:
    #   Breakout: random 0.56, DQN 9.44 above it:   0.56, 5.28, 10.0 -> 0.0, 0.5, 1.0
    #   Freeway: random 0.19, DQN 49.81 above it:   25.095, 50.0 -> 0.5, 1.0 (2 seeds)
    # MinAtar/Seaquest-v1 (minimal actions) is not the references' setting: raw score only.
    runs = tmp_path / "runs"
    for seed, score in enumerate([0.56, 5.28, 10.0]):
        write_run(runs, f"b{seed}", "MinAtar/Breakout-v0", seed, score, preset="minatar")
    for seed, score in enumerate([25.095, 50.0]):
        write_run(runs, f"f{seed}", "MinAtar/Freeway-v0", seed, score, preset="minatar")
    write_run(runs, "s0", "MinAtar/Seaquest-v1", 0, 3.0, preset="minatar")
    result = build_report([runs], tmp_path / "out", bootstrap_reps=REPS, seed=0)
    [group] = result.summary["groups"]
    games = {game["name"]: game for game in group["games"]}
    assert list(games) == ["Breakout", "Freeway", "MinAtar/Seaquest-v1"]
    np.testing.assert_allclose(games["Breakout"]["dqn_normalized_per_run"], [0.0, 0.5, 1.0])
    assert games["Breakout"]["dqn_normalized"] == pytest.approx(0.5)
    assert games["Freeway"]["dqn_normalized"] == pytest.approx(0.75)
    assert games["Breakout"]["dqn_5m"] == 10 and games["Breakout"]["random"] == 0.56
    assert not games["MinAtar/Seaquest-v1"]["minatar"]
    assert group["aggregates"] is None  # no Atari games
    agg = group["minatar_aggregates"]
    # Two seeds per game (the lowest): Breakout 0.0, 0.5 (mean 0.25); Freeway 0.5, 1.0 (0.75).
    assert (agg["num_games"], agg["runs_per_game"]) == (2, 2)
    assert agg["mean"]["point"] == pytest.approx(0.5)
    assert agg["iqm"]["point"] == pytest.approx(0.5)  # the middle two of 0, .5, .5, 1
    assert agg["games_above_human"] == 0  # neither mean reaches DQN's 5M-frame return
    assert agg["left_out"] == [str((runs / "b2").resolve())]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### MinAtar games" in text and "DQN-normalised aggregates (MinAtar)" in text
    assert (tmp_path / "out" / "plots" / "aggregates_minatar_minatar.png").is_file()


def test_dmc_runs_beside_efficientzero_v2(tmp_path: Path) -> None:
    # References in data/dmc.csv: cartpole-swingup 800, ball_in_cup-catch 950 (cup-catch is the
    # same task). Pixel runs are not the references' setting: raw score only.
    runs = tmp_path / "runs"
    dmc = {"preset": "dmc", "total_env_steps": 25_000, "action_repeat": 4}
    for seed, score in enumerate([600.0, 800.0]):
        write_run(runs, f"c{seed}", "dmc:cartpole-swingup", seed, score, **dmc)
    write_run(runs, "cup", "dmc:cup-catch", 0, 475.0, **dmc)
    write_run(runs, "px", "dmc:cartpole-swingup", 5, 100.0, **dmc, pixels=True)
    result = build_report([runs], tmp_path / "out", bootstrap_reps=REPS, seed=0)
    [group] = result.summary["groups"]
    games = {game["name"]: game for game in group["games"]}
    assert list(games) == ["cartpole-swingup", "ball_in_cup-catch", "dmc:cartpole-swingup"]
    assert games["cartpole-swingup"]["ezv2_100k"] == 800
    assert games["cartpole-swingup"]["score_over_ezv2"] == pytest.approx(700 / 800)
    assert games["ball_in_cup-catch"]["score_over_ezv2"] == pytest.approx(0.5)
    assert not games["dmc:cartpole-swingup"]["dmc"]  # the pixel run
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### DeepMind Control tasks (proprioceptive)" in text
    assert "| cartpole-swingup | 0, 1 | 700.0 ± 141.4 | 100,000 | 800 | 0.88 |" in text
