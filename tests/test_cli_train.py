"""Smoke tests of the real entry point: train, resume, eval and the bad-input errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import kill_after_first_checkpoint, tiny_args

from efficientzero.checkpoint import load_checkpoint, save_checkpoint
from efficientzero.cli import main

TINY = tiny_args()


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_train_writes_the_run_directory(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), *TINY]) == 0
    assert (run_dir / "config.json").is_file()
    assert (run_dir / "checkpoints" / "latest.pt").is_file() and (
        run_dir / "checkpoints" / "final.pt"
    ).is_file()
    assert any((run_dir / "tensorboard").iterdir())
    metrics = read_metrics(run_dir)
    assert [m["env_steps"] for m in metrics] == [300, 600]
    for key in (
        "env_steps",
        "updates",
        "wall_seconds",
        "eval_return_mean",
        "eval_return_std",
        "eval_episodes",
    ):
        assert key in metrics[-1]
    assert metrics[-1]["updates"] == 60 and metrics[-1]["eval_episodes"] == 2
    # eval_seconds: what each evaluation took; the clock of the next row includes it
    assert all(m["eval_seconds"] > 0 for m in metrics)
    # (each clock is rounded to 0.01 s in metrics.jsonl: half a hundredth of slack per term)
    later = metrics[0]["wall_seconds"] + metrics[0]["eval_seconds"]
    assert metrics[1]["wall_seconds"] >= later - 0.015
    # phase_seconds: where the trainer's clock went, each phase growing, never more than the clock
    first, last = (m["phase_seconds"] for m in metrics)
    assert set(last) == {"collect", "batch", "learn", "evaluate", "checkpoint"}
    assert all(last[p] >= first[p] for p in last) and last["learn"] > first["learn"] > 0
    assert last["evaluate"] == pytest.approx(metrics[0]["eval_seconds"], abs=0.01)  # one clock
    assert sum(last.values()) <= metrics[1]["wall_seconds"] + 0.005 * (len(last) + 1)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_dir"] == str(run_dir)

    # eval of the finished run writes eval.json and the per-episode CSV
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2", "--seed", "5"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert result["seeds"] == [5, 6] and len(result["returns"]) == 2 and result["updates"] == 60
    assert len((run_dir / "eval_episodes.csv").read_text().splitlines()) == 3

    # the trainer's last periodic evaluation (the final weights, seeds 10000 + env_steps) and
    # `efficientzero eval` of final.pt on those seeds play the same episodes
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2", "--seed", "10600"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert result["return_mean"] == pytest.approx(metrics[-1]["eval_return_mean"])
    assert result["return_std"] == pytest.approx(metrics[-1]["eval_return_std"])

    # eval takes the run's intra-op threads (or --num-threads), so it keeps to its core
    saved_threads = json.loads((run_dir / "config.json").read_text())["num_threads"]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(saved_threads + 1)
        assert main(["eval", "--run-dir", str(run_dir), "--episodes", "1"]) == 0
        assert torch.get_num_threads() == saved_threads
        assert (
            main(["eval", "--run-dir", str(run_dir), "--episodes", "1", "--num-threads", "2"]) == 0
        )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--num-threads", "-1"]) == 2
    assert "num_threads must be >= 0" in capsys.readouterr().err

    # --num-simulations: the same weights searched with another budget, recorded in the summary
    import efficientzero.evaluation as evaluation

    searched: list[int] = []
    plan = evaluation.plan

    def spy(config, *args, **kwargs):
        searched.append(config.num_simulations)
        return plan(config, *args, **kwargs)

    monkeypatch.setattr(evaluation, "plan", spy)
    out = tmp_path / "eval-3.json"
    args = ["eval", "--run-dir", str(run_dir), "--episodes", "1", "--out", str(out)]
    assert main([*args, "--num-simulations", "3"]) == 0
    assert set(searched) == {3} and json.loads(out.read_text())["num_simulations"] == 3
    # a summary of another name keeps its own per-episode rows; eval.json's stay as they were
    assert (tmp_path / "eval-3_episodes.csv").read_text().count("\n") == 2
    assert len((run_dir / "eval_episodes.csv").read_text().splitlines()) == 2
    searched.clear()
    assert main(args) == 0
    trained = json.loads((run_dir / "config.json").read_text())["num_simulations"]
    assert trained != 3 and set(searched) == {trained}
    assert json.loads(out.read_text())["num_simulations"] == trained
    capsys.readouterr()
    assert main([*args, "--num-simulations", "0"]) == 2
    assert "num_simulations must be >= 1" in capsys.readouterr().err

    # a run trained with eval_num_simulations and eval_pb_c_init evaluates with them (periodic
    # evaluations, eval and load_agent), while self-play searches with num_simulations, pb_c_init
    import efficientzero.actor as actor
    from efficientzero.api import load_agent

    acted: list[tuple[int, float]] = []
    evaluated: list[float] = []

    def selfplay_spy(config, *args, **kwargs):
        acted.append((config.num_simulations, config.pb_c_init))
        return plan(config, *args, **kwargs)

    def evaluation_spy(config, *args, **kwargs):
        evaluated.append(config.pb_c_init)
        return spy(config, *args, **kwargs)

    monkeypatch.setattr(actor, "plan", selfplay_spy)
    monkeypatch.setattr(evaluation, "plan", evaluation_spy)
    other = tmp_path / "eval-sims"
    searched.clear()
    train_args = ["--eval-num-simulations", "5", "--eval-pb-c-init", "0.75"]
    assert main(["train", "--run-dir", str(other), *TINY, *train_args]) == 0
    trained_c = json.loads((other / "config.json").read_text())["pb_c_init"]
    assert trained_c != 0.75
    assert set(searched) == {5} and set(evaluated) == {0.75}  # periodic evaluations
    assert set(acted) == {(trained, trained_c)}  # self-play
    monkeypatch.setattr(evaluation, "plan", spy)
    assert read_metrics(other)[-1]["eval_episodes"] == 2
    searched.clear()
    assert main(["eval", "--run-dir", str(other), "--episodes", "1"]) == 0
    assert (
        set(searched) == {5}
        and json.loads((other / "eval.json").read_text())["num_simulations"] == 5
    )
    assert main(["eval", "--run-dir", str(other), "--episodes", "1", "--num-simulations", "2"]) == 0
    assert json.loads((other / "eval.json").read_text())["num_simulations"] == 2

    # --pb-c-init: the same weights searched with another exploration constant
    constants: list[float] = []

    def constant_spy(config, *args, **kwargs):
        constants.append(config.pb_c_init)
        return plan(config, *args, **kwargs)

    monkeypatch.setattr(evaluation, "plan", constant_spy)
    assert main(["eval", "--run-dir", str(other), "--episodes", "1", "--pb-c-init", "0.5"]) == 0
    assert (
        set(constants) == {0.5}
        and json.loads((other / "eval.json").read_text())["pb_c_init"] == 0.5
    )
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(other), "--pb-c-init", "-1"]) == 2
    assert "pb_c_init must be >= 0" in capsys.readouterr().err
    assert main(["eval", "--run-dir", str(other), "--episodes", "1"]) == 0
    assert json.loads((other / "eval.json").read_text())["pb_c_init"] == 0.75  # the run's own
    agent = load_agent(other)
    assert (agent.config.num_simulations, agent.config.pb_c_init) == (5, 0.75)

    # an existing run directory is never overwritten without --resume
    before = (run_dir / "config.json").read_text()
    assert main(["train", "--run-dir", str(run_dir), *TINY]) == 2
    assert "already exists; pass --resume" in capsys.readouterr().err
    assert (run_dir / "config.json").read_text() == before


def test_resume_after_kill_finishes_the_run(tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "efficientzero.cli", "train", "--run-dir", str(run_dir), *TINY]
    args[args.index("--total-updates") + 1] = "400"
    args[args.index("--total-env-steps") + 1] = "1200"
    kill_after_first_checkpoint(args, run_dir)
    # a marker in the checkpoint's phase clocks, to see them carried on
    latest = run_dir / "checkpoints" / "latest.pt"
    saved, config = load_checkpoint(latest)
    assert saved["counters"]["phase_seconds"]["learn"] > 0
    saved["counters"]["phase_seconds"]["learn"] = 1e6
    save_checkpoint(latest, saved, config)

    resumed = subprocess.run(
        [*args[:3], "train", "--run-dir", str(run_dir), "--resume", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    metrics = read_metrics(run_dir)
    assert metrics[-1]["env_steps"] == 1200 and metrics[-1]["updates"] == 400
    steps = [m["env_steps"] for m in metrics]
    assert steps == sorted(steps)
    # the phase clocks carry on from the checkpoint, as wall_seconds does
    assert metrics[-1]["phase_seconds"]["learn"] > 1e6


def test_resume_rejects_a_changed_config(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--lr", "0.5"]) == 2
    assert "another config: lr" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "CartPol-v1"], "did you mean 'CartPole-v1'"),
        (["--env", "Pendulum-v1", "--action-bins", "1"], "action_bins must be an integer >= 2"),
        (["--resume", "--run-dir", "nowhere"], "not a run directory"),
        (["--preset", "atari100k", "--env", "Brekout"], "did you mean 'Breakout'"),
    ],
)
def test_bad_input_gives_one_line_errors(tmp_path, capsys, args, message):
    assert main(["train", "--run-dir", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_corrupt_checkpoint_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["eval", "--checkpoint", str(bad)]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_eval_of_an_unfinished_run_says_so(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"env_id": "CartPole-v1"}))
    assert main(["eval", "--run-dir", str(run_dir)]) == 2
    assert "no finished checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize(
    "switch",
    [
        ["--use-consistency", "False"],
        ["--use-value-prefix", "False"],
        ["--use-off-policy-correction", "False"],
        ["--value-target", "root"],
        ["--search-algorithm", "gumbel"],
        ["--use-priority", "False", "--reanalyze-ratio", "0"],
    ],
)
def test_ablations_and_options_train(tmp_path, switch):
    short = list(TINY)
    short[short.index("--total-updates") + 1] = "20"
    short[short.index("--total-env-steps") + 1] = "300"
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), *short, *switch]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    name = switch[0][2:].replace("-", "_")
    assert str(config[name]) == switch[1]
    last = read_metrics(run_dir)[-1]
    assert last["updates"] == 20
    # What each switch does is pinned by unit tests (test_learner, test_local_run, test_reanalyze,
    # test_gumbel, test_replay); here, the effects a finished run shows from the outside.
    weights = load_checkpoint(run_dir / "checkpoints" / "final.pt")[0]["net"]
    has_lstm = any("value_prefix_head.lstm" in key for key in weights)
    assert has_lstm is (name != "use_value_prefix")
    assert (last["consistency_loss"] == 0.0) is (name == "use_consistency")


def test_env_steps_scales_the_update_budget(capsys):
    # cartpole: 20,000 env steps and 5,000 updates; a quarter of the steps, a quarter of the updates
    assert main(["config", "--env-steps", "5000"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["total_env_steps"] == 5000 and config["total_updates"] == 1250
    assert main(["config", "--env-steps", "5000", "--total-updates", "100"]) == 0
    assert json.loads(capsys.readouterr().out)["total_updates"] == 100


def test_command_list_has_one_line_per_command(capsys):
    assert main(["--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for command in ("train", "eval", "config", "bench", "report"):
        assert sum(line.strip().startswith(command + " ") for line in lines) == 1, command


def test_corrupt_checkpoint_error_does_not_advise_unsafe_loading(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    assert main(["eval", "--checkpoint", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and "weights_only" not in err and len(err.strip().splitlines()) == 1
