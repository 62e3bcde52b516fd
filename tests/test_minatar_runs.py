"""Bookkeeping of benchmarks/minatar_runs.py (not its scores): jobs, kept files, the ablation table."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_benchmark
from test_report import write_run

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "minatar_runs.py"


@pytest.fixture(scope="module")
def runner():
    return load_benchmark("minatar_runs")


def test_ablation_table_compares_each_change_with_the_full_agent(runner, tmp_path):
    root = tmp_path / "ablation"
    scores = {"full": [4.0, 6.0], "no-consistency": [1.0, 2.0], "no-value-prefix": [5.0, 5.0]}
    for label, values in scores.items():
        for seed, score in enumerate(values):
            write_run(
                root / label, f"Breakout-s{seed}", "MinAtar/Breakout-v0", seed, score, "minatar"
            )
    table = runner.ablation_table(root).splitlines()
    assert table[0] == "| label | Breakout | DQN-normalised mean |"
    rows = {line.split(" | ")[0][2:]: line for line in table[2:]}
    assert list(rows) == ["full", "no-consistency", "no-value-prefix"]
    # full: mean 5, sample std 1.414; normalised (5 - 0.56) / 9.44 = 0.470
    assert "5.00 ± 1.41 (n=2: s0 4.00, s1 6.00)" in rows["full"] and rows["full"].endswith(
        "| 0.470 |"
    )
    assert "1.50 ± 0.71 (-3.50) (n=2: s0 1.00, s1 2.00)" in rows["no-consistency"]
    assert "5.00 ± 0.00 (+0.00) (n=2: s0 5.00, s1 5.00)" in rows["no-value-prefix"]
    assert runner.ablation_curves(root, tmp_path / "curves.png").is_file()


def test_ablation_mean_is_left_out_where_a_label_misses_a_game(runner, tmp_path):
    root = tmp_path / "ablation"
    write_run(root / "full", "Breakout-s0", "MinAtar/Breakout-v0", 0, 5.0, "minatar")
    write_run(root / "full", "SpaceInvaders-s0", "MinAtar/SpaceInvaders-v0", 0, 20.0, "minatar")
    write_run(root / "no-consistency", "Breakout-s0", "MinAtar/Breakout-v0", 0, 1.0, "minatar")
    table = runner.ablation_table(root).splitlines()
    assert table[0] == "| label | Breakout | SpaceInvaders | DQN-normalised mean |"
    rows = {line.split(" | ")[0][2:]: line for line in table[2:]}
    assert rows["no-consistency"].endswith("| – | – |")  # no Space Invaders run: no mean
    assert not rows["full"].endswith("| – |")


def test_a_job_keeps_the_run_files_and_its_summary(runner, tmp_path, monkeypatch):
    job = runner.Job("main", tmp_path / "out", "Breakout", 3, ["--env-steps", "300"])
    assert job.train_args[:6] == ["train", "--preset", "minatar", "--env", "Breakout", "--seed"]
    assert "--num-threads" in job.train_args and job.eval_args[-4:] == [
        "--episodes", "32", "--seed", "10000",
    ]  # fmt: skip
    write_run(job.run_dir.parent, "run", "MinAtar/Breakout-v0", 3, 2.5, "minatar")
    (job.run_dir / "checkpoints").mkdir()
    (job.run_dir / "checkpoints" / "final.pt").write_bytes(b"weights")
    assert not job.finished(0, 100.0, 2)  # training ended: the eval comes next
    assert job.stage == "eval" and job.finished(0, 120.0, 1)
    kept = tmp_path / "out" / "Breakout-s3"
    assert sorted(p.name for p in kept.iterdir()) == [
        "config.json", "eval.json", "metrics.jsonl", "run_summary.json",
    ]  # fmt: skip
    summary = json.loads((kept / "run_summary.json").read_text())
    assert summary["final_return_mean"] == 2.5 and summary["train"]["side_by_side"] == 2
    assert summary["eval"]["peak_rss_mib"] == 120.0 and not job.run_dir.exists()
    assert summary["machine"]["cores"] >= 1 and summary["machine"]["cpu"]  # runs differ by CPU


def test_keep_weights_copies_the_final_weights_out_of_the_run(runner, tmp_path):
    weights = tmp_path / "weights"
    job = runner.Job("main", tmp_path / "out", "Freeway", 2, [], None, weights)
    write_run(job.run_dir.parent, "run", "MinAtar/Freeway-v0", 2, 16.0, "minatar")
    (job.run_dir / "checkpoints").mkdir()
    (job.run_dir / "checkpoints" / "final.pt").write_bytes(b"weights")
    (job.run_dir / "checkpoints" / "latest.pt").write_bytes(b"state")
    assert not job.finished(0, 100.0, 1) and job.finished(0, 120.0, 1)
    assert [p.name for p in (weights / "main").iterdir()] == ["Freeway-s2.pt"]
    assert (weights / "main" / "Freeway-s2.pt").read_bytes() == b"weights"
    assert not job.run_dir.exists()
    assert not any(p.suffix == ".pt" for p in (tmp_path / "out").rglob("*"))


def test_help_runs():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--ablation-table" in out.stdout


def test_labels_run_some_of_the_ablation_agents(runner, tmp_path):
    args = argparse.Namespace(
        ablation=True, labels=["no-consistency", "full"], results=tmp_path, label="main",
        seeds=[1, 0], games=["Breakout", "SpaceInvaders"], work_dir=None, keep_weights=None,
        action_set="v0",
    )  # fmt: skip
    jobs = runner.make_jobs(args, ["--env-steps", "50000"])
    # seed, then game, then the agents in the ablation's own order
    assert [(j.seed, j.game, j.label) for j in jobs] == [
        (1, "Breakout", "full"), (1, "Breakout", "no-consistency"),
        (1, "SpaceInvaders", "full"), (1, "SpaceInvaders", "no-consistency"),
        (0, "Breakout", "full"), (0, "Breakout", "no-consistency"),
        (0, "SpaceInvaders", "full"), (0, "SpaceInvaders", "no-consistency"),
    ]  # fmt: skip
    assert jobs[1].out == tmp_path / "ablation" / "no-consistency"
    assert jobs[1].train_args[-4:] == ["--use-consistency", "False", "--env-steps", "50000"]
    for job in jobs:
        shutil.rmtree(job.run_dir.parent)


def test_action_set_v1_trains_each_game_on_its_minimal_action_set(runner, tmp_path):
    args = argparse.Namespace(
        ablation=False, labels=None, label="v1", games=["Breakout", "Seaquest"], seeds=[0],
        results=tmp_path, work_dir=None, keep_weights=None, action_set="v1",
    )  # fmt: skip
    jobs = runner.make_jobs(args, [])
    assert [job.train_args[job.train_args.index("--env") + 1] for job in jobs] == [
        "MinAtar/Breakout-v1",
        "MinAtar/Seaquest-v1",
    ]
    args.action_set = "v0"  # the preset's: the short name, which resolves to v0
    jobs += runner.make_jobs(args, [])
    assert jobs[2].train_args[3:5] == ["--env", "Breakout"]
    for job in jobs:
        shutil.rmtree(job.run_dir.parent)


def test_labels_without_ablation_is_refused():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--labels", "full"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "--labels picks ablation agents" in out.stderr


def test_a_work_dir_run_with_final_weights_is_only_evaluated(runner, tmp_path):
    work = tmp_path / "work"
    write_run(work / "full", "Breakout-s0", "MinAtar/Breakout-v0", 0, 3.0, "minatar")
    (work / "full" / "Breakout-s0" / "checkpoints").mkdir()
    (work / "full" / "Breakout-s0" / "checkpoints" / "final.pt").write_bytes(b"weights")
    job = runner.Job("full", tmp_path / "out", "Breakout", 0, [], work)
    assert job.run_dir == work / "full" / "Breakout-s0" and job.stage == "eval"
    assert job.finished(0, 120.0, 2)  # the eval was all that was left
    summary = json.loads((tmp_path / "out" / "Breakout-s0" / "run_summary.json").read_text())
    assert summary["train"]["finished_earlier"] and summary["train"]["trainer_wall_seconds"] == 40
    assert summary["final_return_mean"] == 3.0 and not job.run_dir.exists()


def test_a_work_dir_run_with_a_checkpoint_is_resumed(runner, tmp_path):
    work = tmp_path / "work"
    write_run(work / "full", "Breakout-s1", "MinAtar/Breakout-v0", 1, 3.0, "minatar")
    (work / "full" / "Breakout-s1" / "checkpoints").mkdir()
    (work / "full" / "Breakout-s1" / "checkpoints" / "latest.pt").write_bytes(b"state")
    job = runner.Job("full", tmp_path / "out", "Breakout", 1, ["--env-steps", "500"], work)
    run = str(work / "full" / "Breakout-s1")
    assert job.stage == "train" and job.train_args == [
        "train", "--run-dir", run, "--resume", "--no-progress",
    ]  # fmt: skip
    assert not job.finished(0, 100.0, 1)
    assert job.summary["train"]["resumed"] and job.summary["train"]["trainer_wall_seconds"] == 40


def test_a_work_dir_run_without_a_checkpoint_starts_again(runner, tmp_path):
    stale = tmp_path / "work" / "no-consistency" / "Freeway-s0"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    job = runner.Job("no-consistency", tmp_path / "out", "Freeway", 0, [], tmp_path / "work")
    assert not stale.exists() and "--resume" not in job.train_args
    assert job.train_args[job.train_args.index("--run-dir") + 1] == str(stale)


def test_a_failed_run_in_the_work_dir_is_kept_to_resume(runner, tmp_path):
    work = tmp_path / "work"
    job = runner.Job("full", tmp_path / "out", "Breakout", 0, [], work)
    write_run(work / "full", "Breakout-s0", "MinAtar/Breakout-v0", 0, 3.0, "minatar")
    assert job.finished(-9, 100.0, 2)  # training killed: nothing to evaluate
    summary = json.loads((tmp_path / "out" / "Breakout-s0" / "run_summary.json").read_text())
    assert summary["train"]["exit_status"] == -9 and job.run_dir.is_dir()


def kept_run(
    root: Path,
    game: str,
    seed: int,
    evaluations: list[float],
    final: float,
    eval_seconds: list[float] | None = None,
) -> None:
    folder = root / f"{game}-s{seed}"
    folder.mkdir(parents=True)
    rows = [
        {"env_steps": 20_000 * (i + 1), "eval_return_mean": r} for i, r in enumerate(evaluations)
    ]
    for row, seconds in zip(rows, eval_seconds or []):
        row["eval_seconds"] = seconds
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = {"wall_seconds": 4000.0, "peak_rss_mib": 700.4, "trainer_wall_seconds": 3600.0}
    summary = {"game": game, "seed": seed, "train": train, "final_return_mean": final}
    (folder / "run_summary.json").write_text(json.dumps(summary))


def test_runs_table_lists_each_run_then_each_game(runner, tmp_path):
    from efficientzero.envs.minatar import minatar_games

    kept_run(tmp_path, "Breakout", 0, [1.0, 2.5], 4.0)
    kept_run(tmp_path, "Breakout", 1, [0.5, 3.0], 6.0)
    kept_run(tmp_path, "Freeway", 0, [0.0, 1.0, 2.0], 60.0, eval_seconds=[120.0, 60.0, 600.0])
    lines = runner.runs_table(tmp_path).splitlines()
    breakout, freeway = minatar_games()["Breakout"], minatar_games()["Freeway"]
    first = (4.0 - breakout.random) / (breakout.dqn_5m - breakout.random)
    assert lines[2] == (
        f"| Breakout | 0 | 1.00 / 2.50 | 4.00 | {first:.3f} | ~8.5 / ~10 | 60.0 min | 700 MiB |"
    )
    # the evaluations inside the trainer's clock (all but the last) are its share of it
    assert lines[4].startswith("| Freeway | 0 | 0.00 / 1.00 / 2.00 | 60.00 |")
    assert lines[4].endswith("| 60.0 min (3.0 evaluating) | 700 MiB |")
    both = (5.0 - breakout.random) / (breakout.dqn_5m - breakout.random)
    assert lines[8] == f"| Breakout | 2 | 5.00 ± 1.41 | {both:.3f} | no |"
    above = (60.0 - freeway.random) / (freeway.dqn_5m - freeway.random)
    assert lines[9] == f"| Freeway | 1 | 60.00 | {above:.3f} | yes |"
    assert lines[10] == f"| mean over 2 games | | | {(both + above) / 2:.3f} | |"


def test_runs_table_without_runs_says_so(runner, tmp_path):
    with pytest.raises(SystemExit, match="no kept runs"):
        runner.runs_table(tmp_path)


def test_compare_puts_labels_side_by_side_with_their_flags(runner, tmp_path):
    runs = {
        "main": ([1.0, 2.0], "", "Freeway"),
        "one-hot": ([15.0], " --action-planes one_hot", "Freeway"),
        "v1": ([16.0], "", "MinAtar/Freeway-v1"),
    }
    for label, (scores, flags, env) in runs.items():
        for seed, score in enumerate(scores):
            folder = write_run(
                tmp_path / label, f"Freeway-s{seed}", "MinAtar/Freeway-v0", seed, score, "minatar"
            )
            command = f"efficientzero train --env {env} --no-progress{flags}"
            (folder / "run_summary.json").write_text(json.dumps({"train": {"command": command}}))
    lines = runner.compare_table(tmp_path, ["main", "one-hot", "v1"]).splitlines()
    assert lines[0] == "| label | Freeway | DQN-normalised mean |"
    assert "| 1.50 ± 0.71 (n=2: s0 1.00, s1 2.00) |" in lines[2]
    assert "| 15.00 (+13.50) (n=1: s0 15.00) |" in lines[3]
    assert lines[-3:] == [
        "- main: (no flags: the preset as it was when they ran)",
        "- one-hot: --action-planes one_hot",
        "- v1: MinAtar/<Game>-v1 (minimal action sets), (no flags: the preset as it was when "
        "they ran)",
    ]
    with pytest.raises(SystemExit, match="no kept runs for missing"):
        runner.compare_table(tmp_path, ["main", "missing"])


def test_best_picks_each_games_highest_100k_run_over_every_label(runner, tmp_path):
    from efficientzero.envs.minatar import minatar_games

    games = minatar_games()
    for label, game, seed, score, steps in [
        ("main", "Breakout", 0, 4.0, 100_000),
        ("main", "Breakout", 1, 6.0, 100_000),
        ("v1", "Breakout", 0, 11.0, 100_000),
        ("main", "Freeway", 0, 20.0, 100_000),
        ("probe", "Freeway", 0, 30.0, 30_000),  # fewer steps: not a 100k run
        ("ablation/full", "Freeway", 0, 40.0, 100_000),  # the ablation is left out
        ("no-eval", "Freeway", 0, 45.0, 100_000),  # no eval.json: no 32-episode final score
    ]:
        env_id = f"MinAtar/{game}-v0"
        write_run(
            tmp_path / label,
            f"{game}-s{seed}",
            env_id,
            seed,
            score,
            "minatar",
            total_env_steps=steps,
            with_eval=label != "no-eval",
        )
    lines = runner.best_table(tmp_path).splitlines()
    breakout = games["Breakout"].dqn_normalized(11.0)
    freeway = games["Freeway"].dqn_normalized(20.0)
    assert lines[2] == f"| Breakout | 3 | 11.00 | v1, s0 | {breakout:.3f} | ~10 | yes |"
    assert lines[3] == f"| Freeway | 1 | 20.00 | main, s0 | {freeway:.3f} | ~50 | no |"
    # a mean over two of the five games would read as the suite's: it is left out
    assert lines[4] == "| mean over 2 games | 4 | | | – | | |"
    with pytest.raises(SystemExit, match="no kept runs of 100000 agent steps"):
        runner.best_table(tmp_path / "probe")


def test_the_preset_label_holds_runs_of_the_current_preset(runner):
    """The README's MinAtar table is the kept runs of PRESET_LABEL: each must have trained
    today's preset (a change to the preset comes with new runs under a new label). Fields added
    to the config after a run (absent from its config.json) are not compared."""
    from efficientzero.presets import minatar

    configs = sorted((runner.RESULTS / runner.PRESET_LABEL).glob("*-s*/config.json"))
    games = {path.parent.name.rsplit("-s", 1)[0] for path in configs}
    assert games == {"Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders"}
    for path in configs:
        saved = json.loads(path.read_text())
        game = path.parent.name.rsplit("-s", 1)[0]
        preset = minatar(game).replace(seed=saved["seed"]).to_dict()
        preset = json.loads(json.dumps(preset))  # tuples as JSON keeps them: lists
        differ = {k: (saved[k], preset.get(k)) for k in saved if saved[k] != preset.get(k)}
        assert not differ, f"{path.parent.name} trained another config: {differ}"


def test_eval_search_table_has_a_column_per_search_setting(tmp_path):
    script = load_benchmark("minatar_eval_search")
    for name, mean, seconds in [
        ("Freeway-s2-n64-c1.25", 21.5, 128), ("Freeway-s2-n16-c1.25", 16.0, 32),
        ("Freeway-s2-n16-c0.5", 27.0, 30), ("Asterix-s1-n16-c1.25", 1.25, 10),
    ]:  # fmt: skip
        summary = {"return_mean": mean, "wall_seconds": seconds}
        (tmp_path / f"{name}.json").write_text(json.dumps(summary))
    (tmp_path / "notes.json").write_text("{}")  # not an evaluation of this script: skipped
    lines = script.table(tmp_path).splitlines()
    assert lines[0] == (
        "| run | 16 simulations, c 1.25 | 16 simulations, c 0.5 | 64 simulations, c 1.25 |"
    )
    assert lines[2] == "| Asterix-s1 | 1.25 (10 s) | – | – |"
    assert lines[3] == "| Freeway-s2 | 16.00 (32 s) | 27.00 (30 s) | 21.50 (128 s) |"


def test_eval_search_files_each_label_apart(runner, tmp_path, monkeypatch):
    script = load_benchmark("minatar_eval_search")
    assert script.PRESET_LABEL == runner.PRESET_LABEL  # --table's default is the preset's runs
    calls = []

    def evaluate(weights, simulations, constant, out):
        calls.append((weights.stem, out))
        return {"return_mean": 1.0, "wall_seconds": 2.0}

    monkeypatch.setattr(script, "evaluate", evaluate)
    kept = [tmp_path / "keep" / label / "Freeway-s0.pt" for label in ("preset", "pb-c-0.5")]
    for path in kept:
        path.parent.mkdir(parents=True)
        path.touch()
    out = tmp_path / "eval-search"
    monkeypatch.setattr(sys, "argv", ["x", *map(str, kept), "--out", str(out)])
    script.main()
    monkeypatch.setattr(sys, "argv", ["x", str(kept[0]), "--out", str(out), "--label", "other"])
    script.main()
    assert calls == [
        ("Freeway-s0", out / "preset"),
        ("Freeway-s0", out / "pb-c-0.5"),
        ("Freeway-s0", out / "other"),
    ]


def test_eval_search_table_of_a_label_without_evaluations_names_the_kept_ones(
    tmp_path, monkeypatch
):
    script = load_benchmark("minatar_eval_search")
    (tmp_path / "one-hot-explore-decay30").mkdir()
    (tmp_path / "one-hot-explore-decay30" / "Asterix-s1-n16-c1.25.json").write_text(
        json.dumps({"return_mean": 1.5, "wall_seconds": 10})
    )
    monkeypatch.setattr(
        "sys.argv", ["minatar_eval_search.py", "--table", "--out", str(tmp_path), "--label", "x"]
    )
    with pytest.raises(
        SystemExit, match=r"no evaluations under .*x; --label names one of: one-hot"
    ):
        script.main()
