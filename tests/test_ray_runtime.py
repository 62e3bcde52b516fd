"""The Ray runtime on a 2-CPU local cluster: a smoke run through the CLI, workers killed
mid-run, the driver killed and resumed, checkpoints moving between runtimes, and a cluster that
listens on 127.0.0.1 only.

One Ray session (started by ``init_ray``, as the CLI would) serves the in-process tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Imported before anything else touches ray: it sets Ray's loopback switch first.
ray_runtime = pytest.importorskip("efficientzero.run.ray")

from helpers import kill_after_first_checkpoint  # noqa: E402

from efficientzero.checkpoint import load_checkpoint  # noqa: E402
from efficientzero.cli import main  # noqa: E402
from efficientzero.config import cartpole  # noqa: E402
from efficientzero.run.common import RunDirectory  # noqa: E402

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]

TINY = [
    "--env-steps", "600", "--total-updates", "60", "--start-transitions", "200", "--num-envs", "4",
    "--num-simulations", "4", "--batch-size", "16", "--eval-interval", "300", "--eval-episodes", "2",
    "--checkpoint-interval", "20", "--hidden-size", "32", "--latent-dim", "16", "--lstm-hidden-size", "16",
    "--block-length", "50", "--eval-max-episode-steps", "50", "--no-progress",
]  # fmt: skip
RAY = ["--runtime", "ray", "--num-actors", "2", "--num-reanalyzers", "1"]
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


def tiny_config(**changes):
    base = dict(
        total_env_steps=600, total_updates=60, start_transitions=200, num_envs=4,
        num_simulations=4, batch_size=16, eval_interval=300, eval_episodes=2,
        checkpoint_interval=20, hidden_size=32, latent_dim=16, lstm_hidden_size=16,
        block_length=50, eval_max_episode_steps=50, runtime="ray", num_actors=2,
        num_reanalyzers=1,
    )  # fmt: skip
    return cartpole().replace(**{**base, **changes}).validate()


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ray_session():
    opened = ray_runtime.init_ray(tiny_config(), num_cpus=2)
    yield
    if opened:
        ray_runtime.ray.shutdown()


def listening_addresses() -> dict[str, set[int]]:
    """Address -> ports of every TCP socket listening in this process and its descendants."""
    psutil = pytest.importorskip("psutil")  # Ray ships one
    me = psutil.Process()
    found: dict[str, set[int]] = {}
    for process in [me, *me.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in connections:
            if c.status == psutil.CONN_LISTEN:
                found.setdefault(c.laddr.ip, set()).add(c.laddr.port)
    return found


def test_smoke_run_through_the_cli(ray_session, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), *TINY, *RAY]) == 0
    metrics = read_metrics(run_dir)
    last = metrics[-1]
    assert last["env_steps"] == 600 and last["updates"] == 60 and last["eval_episodes"] == 2
    steps = [m["env_steps"] for m in metrics]
    assert steps == sorted(steps) and len(metrics) >= 2  # a periodic evaluation, then the final
    for key in ("wall_seconds", "eval_return_mean", "selfplay_wait_s", "learner_wait_s"):
        assert key in last
    assert last["bottleneck"] in {"learner", "reanalysis", "self-play", "balanced", "-"}
    assert (run_dir / "checkpoints" / "final.pt").is_file() and any(
        (run_dir / "tensorboard").iterdir()
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_dir"] == str(run_dir) and summary["updates"] == 60

    # The finished Ray run continues on the local runtime (same checkpoint layout).
    more = ["--env-steps", "700", "--total-updates", "70", "--runtime", "local", "--no-progress"]
    assert main(["train", "--run-dir", str(run_dir), "--resume", *more]) == 0
    assert (
        read_metrics(run_dir)[-1]["env_steps"] == 700 and read_metrics(run_dir)[-1]["updates"] == 70
    )


def test_cluster_listens_on_loopback_only(ray_session):
    ray = ray_runtime.ray
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    found = listening_addresses()
    assert found, "no listening sockets found: is this the process that started Ray?"
    assert set(found) <= LOOPBACK, f"Ray listens beyond 127.0.0.1: {found}"
    assert all(8265 not in ports for ports in found.values()), "the dashboard is on"


def test_workers_killed_mid_run_are_restarted(ray_session, tmp_path):
    config = tiny_config(total_env_steps=800, total_updates=100, checkpoint_interval=1000)
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(config)
    killed: dict[str, int] = {}
    added: list[int] = []
    runs = []

    def chaos(run) -> None:
        runs[:1] = [run]
        added.append(run.replay_stats()[1])
        n = run.counters
        for name, due in (("selfplay-0", n.env_steps >= 350), ("reanalysis-0", n.updates >= 40)):
            if due and name not in killed:
                killed[name] = run.worker_pids()[name]
                os.kill(killed[name], signal.SIGKILL)

    record = ray_runtime.train_ray(config, run_dir, progress=False, on_tick=chaos)
    assert set(killed) == {"selfplay-0", "reanalysis-0"}
    assert record["env_steps"] == 800 and record["updates"] == 100
    assert runs[0].snapshot.restarts == {"selfplay-0": 1, "reanalysis-0": 1}
    assert record["restarts"] == 2
    assert added == sorted(added), "replay lost positions it had stored"
    state, _ = load_checkpoint(run_dir.latest)
    assert state["replay"]["num_added"] >= added[-1] > 0
    assert state["counters"]["env_steps"] == 800 and state["learner"]["updates"] == 100


def test_local_checkpoint_resumes_on_ray(ray_session, tmp_path):
    run_dir = tmp_path / "run"
    local = [*TINY, "--env-steps", "400", "--total-updates", "20"]
    assert main(["train", "--run-dir", str(run_dir), *local]) == 0
    more = ["--env-steps", "500", "--total-updates", "30", *RAY, "--no-progress"]
    assert main(["train", "--run-dir", str(run_dir), "--resume", *more]) == 0
    metrics = read_metrics(run_dir)
    assert [m["env_steps"] for m in metrics][:2] == [300, 400]
    assert metrics[-1]["env_steps"] == 500 and metrics[-1]["updates"] == 30
    assert "bottleneck" in metrics[-1] and "bottleneck" not in metrics[0]


def test_driver_killed_mid_run_resumes(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "efficientzero.cli",
        "train",
        "--run-dir",
        str(run_dir),
        *TINY,
        *RAY,
    ]
    args[args.index("--total-updates") + 1] = "150"
    args[args.index("--env-steps") + 1] = "800"
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the driver and its workers import this tree
    kill_after_first_checkpoint(args, run_dir, env)
    latest = run_dir / "checkpoints" / "latest.pt"
    saved, _ = load_checkpoint(latest)

    resume = [*args[:3], "train", "--run-dir", str(run_dir), "--resume", "--no-progress"]
    resumed = subprocess.run(resume, capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr
    metrics = read_metrics(run_dir)
    assert metrics[-1]["env_steps"] == 800 and metrics[-1]["updates"] == 150
    assert metrics[-1]["updates"] > saved["counters"]["updates"] > 0
    steps = [m["env_steps"] for m in metrics]
    assert steps == sorted(steps)
