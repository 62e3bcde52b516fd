"""Bookkeeping of benchmarks/sac_baseline.py (not its scores): a short run's summary and the
table that puts SAC beside EfficientZero's runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_benchmark

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "sac_baseline.py"

pytest.importorskip("dm_control")
pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="module")
def baseline():
    return load_benchmark("sac_baseline")


def test_a_short_run_writes_its_summary(tmp_path):
    command = [sys.executable, str(SCRIPT), "--tasks", "dmc:cartpole-swingup", "--seeds", "3"]
    command += ["--env-steps", "400", "--eval-interval", "200", "--episodes", "1"]
    command += ["--parallel", "1", "--results", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    summary = json.loads((tmp_path / "sac" / "cartpole-swingup-s3.json").read_text())
    assert summary["algorithm"] == "SAC" and summary["hyperparameters"] == "defaults"
    assert summary["seed"] == 3 and summary["env_steps"] == 400
    assert [e["env_steps"] for e in summary["evaluations"]] == [200, 400]
    assert len(summary["final_returns"]) == 1
    assert summary["final_return_mean"] == summary["evaluations"][-1]["eval_return_mean"]
    assert 0.0 <= summary["final_return_mean"] <= 1000.0


def test_table_puts_sac_beside_efficientzero(baseline, tmp_path):
    def ez(seed, final, wall):  # a benchmarks/seed_runs.py summary
        evaluations = [{"env_steps": 12_500, "eval_return_mean": 100.0, "wall_seconds": 60},
                       {"env_steps": 25_000, "eval_return_mean": final, "wall_seconds": wall}]  # fmt: skip
        summary = {
            "seed": seed,
            "action_repeat": 4,
            "evaluations": evaluations,
            "wall_seconds": wall,
        }
        (tmp_path / f"cartpole-swingup-s{seed}.json").write_text(json.dumps(summary))

    ez(0, 800.0, 1200.0)
    ez(1, 700.0, 1320.0)
    (tmp_path / "sac").mkdir()
    sac = {"env_id": "dmc:cartpole-swingup", "seed": 0, "env_steps": 100_000,
           "final_return_mean": 850.5, "wall_seconds": 900.0}  # fmt: skip
    (tmp_path / "sac" / "cartpole-swingup-s0.json").write_text(json.dumps(sac))
    lines = baseline.table(tmp_path).splitlines()
    assert (
        lines[2]
        == "| cartpole-swingup | EfficientZero | 2 | 750.0 | 800.0, 700.0 | 100,000 | 21.0 |"
    )
    assert (
        lines[3]
        == "| cartpole-swingup | SAC (stable-baselines3) | 1 | 850.5 | 850.5 | 100,000 | 15.0 |"
    )
