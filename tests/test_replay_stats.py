"""benchmarks/replay_stats.py: what a run's replay holds, and the Freeway row probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from efficientzero.checkpoint import load_checkpoint
from efficientzero.cli import main
from tests.helpers import load_benchmark, tiny_args

pytest.importorskip("minatar")

SMALL_FREEWAY = [
    "--total-env-steps", "240", "--total-updates", "4", "--start-transitions", "120",
    "--num-envs", "2", "--num-simulations", "5", "--batch-size", "8", "--block-length", "40",
    "--eval-interval", "0", "--checkpoint-interval", "2", "--num-channels", "4",
    "--reduced-channels", "2", "--head-hidden-size", "8", "--lstm-hidden-size", "8",
    "--projection-dim", "16", "--projection-head-dim", "8", "--support-size", "5", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def stats():
    return load_benchmark("replay_stats")


@pytest.fixture(scope="module")
def freeway_checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("freeway") / "run"
    args = ["train", "--preset", "minatar", "--env", "Freeway", "--run-dir", str(run_dir)]
    assert main([*args, *SMALL_FREEWAY]) == 0
    return run_dir / "checkpoints" / "latest.pt"


def test_counts_match_the_stored_blocks(stats, freeway_checkpoint):
    result = stats.replay_stats(freeway_checkpoint, chunk=50)
    state, _ = load_checkpoint(freeway_checkpoint)
    blocks = state["replay"]["blocks"]
    actions = np.concatenate([np.asarray(b["actions"])[: int(b["num_positions"])] for b in blocks])
    assert result["env_id"] == "MinAtar/Freeway-v0"
    assert result["positions"] == actions.size > 0
    assert len(result["reward_sum_per_chunk"]) == -(-actions.size // 50)
    assert sum(result["reward_sum_per_chunk"]) == result["reward_sum"]
    frequencies = np.asarray(result["action_frequencies"])
    assert frequencies.sum() == pytest.approx(1.0, abs=1e-3)
    assert frequencies[np.bincount(actions.astype(int)).argmax()] == frequencies.max()


def test_freeway_rows_probe_each_row_with_one_search(stats, freeway_checkpoint):
    rows = stats.freeway_rows(freeway_checkpoint)
    assert [r["row"] for r in rows] == list(range(9, 0, -1))
    for row in rows:
        assert len(row["prior"]) == len(row["visits"]) == 6
        assert sum(row["prior"]) == pytest.approx(1.0, abs=0.01)
        assert sum(row["visits"]) == 5  # the run's simulations, one search per row


def test_freeway_rows_refuse_another_game(stats, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", *tiny_args(total_env_steps=300), "--run-dir", str(run_dir)]) == 0
    with pytest.raises(SystemExit, match="needs a MinAtar Freeway run, not CartPole-v1"):
        stats.freeway_rows(run_dir / "checkpoints" / "latest.pt")


def test_the_script_prints_json(stats, freeway_checkpoint, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["replay_stats.py", str(freeway_checkpoint), "--chunk", "100"])
    stats.main()
    printed = json.loads(capsys.readouterr().out)
    assert printed["chunk"] == 100 and "freeway_rows" not in printed


def test_a_missing_checkpoint_is_one_line(stats, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["replay_stats.py", str(tmp_path / "none.pt")])
    with pytest.raises(SystemExit, match="does not exist"):
        stats.main()


def test_visit_sharpness_samples_the_searches_visit_counts(freeway_checkpoint):
    sharpness = load_benchmark("visit_sharpness")
    result = sharpness.visit_sharpness(freeway_checkpoint, steps=12, seed=0)
    assert result["steps"] == 12 and result["num_simulations"] == 5
    picks = result["p_most_visited_at_temperature"]
    assert list(picks) == ["1", "0.5", "0.25"]
    # at T = 1 the pick probability is the top share of the visits; lower T sharpens it
    assert picks["1"] == pytest.approx(result["top_visit_share"], abs=1e-3)
    assert 1 / 6 <= picks["1"] <= picks["0.5"] <= picks["0.25"] <= 1.0


def test_visit_sharpness_refuses_a_zero_temperature(monkeypatch, capsys, tmp_path):
    sharpness = load_benchmark("visit_sharpness")
    weights = str(tmp_path / "x.pt")  # refused before it is read (a missing file exits too)
    monkeypatch.setattr("sys.argv", ["visit_sharpness.py", weights, "--temperatures", "0"])
    with pytest.raises(SystemExit) as exit_:
        sharpness.main()
    assert exit_.value.code == 2  # argparse's usage error, not the missing checkpoint's message
    assert "--temperatures must be positive, got [0.0]" in capsys.readouterr().err
