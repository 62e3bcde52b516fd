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

import numpy as np
import pytest

# Imported before anything else touches ray: it sets Ray's loopback switch first.
ray_runtime = pytest.importorskip("efficientzero.run.ray")

from helpers import kill_after_first_checkpoint, tiny_args, tiny_config  # noqa: E402

from efficientzero.checkpoint import load_checkpoint  # noqa: E402
from efficientzero.cli import main  # noqa: E402
from efficientzero.run.directory import RunDirectory  # noqa: E402

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]

TINY = tiny_args()
RAY = ["--runtime", "ray", "--num-actors", "2", "--num-reanalyzers", "1"]
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


def ray_config(**changes):
    return tiny_config(runtime="ray", num_actors=2, num_reanalyzers=1, **changes)


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ray_session():
    opened = ray_runtime.init_ray(ray_config(), num_cpus=2)
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
    for key in ("wall_seconds", "eval_return_mean"):
        assert key in last
    for key in ("selfplay_wait_s", "learner_wait_s", "learner_idle_s", "restarts"):
        assert key in last["runtime"]
    assert last["runtime"]["bottleneck"] in {"learner", "reanalysis", "self-play", "balanced", "-"}
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
    config = ray_config(total_env_steps=800, total_updates=100, checkpoint_interval=1000)
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(config)
    killed: dict[str, int] = {}
    added: list[int] = []
    runs = []

    def chaos(trainer) -> None:
        source = trainer.source
        runs[:1] = [source]
        added.append(source.replay_stats()[1])
        n = trainer.counters
        for name, due in (("selfplay-0", n.env_steps >= 350), ("reanalysis-0", n.updates >= 40)):
            if due and name not in killed:
                killed[name] = source.worker_pids()[name]
                os.kill(killed[name], signal.SIGKILL)

    record = ray_runtime.train_ray(config, run_dir, progress=False, on_tick=chaos)
    assert set(killed) == {"selfplay-0", "reanalysis-0"}
    assert record["env_steps"] == 800 and record["updates"] == 100
    assert runs[0].snapshot.restarts == {"selfplay-0": 1, "reanalysis-0": 1}
    assert record["runtime"]["restarts"] == 2
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
    assert "bottleneck" in metrics[-1]["runtime"] and metrics[0]["runtime"] == {}


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
    args[args.index("--total-env-steps") + 1] = "800"
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


def tensorboard_tags(run_dir: Path) -> dict[str, set[str]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for axis in ("env_steps", "updates"):
        events = EventAccumulator(str(run_dir / "tensorboard" / axis))
        events.Reload()
        tags[axis] = set(events.Tags()["scalars"])
    return tags


def test_local_and_ray_log_and_checkpoint_alike(ray_session, tmp_path):
    rows, tags = {}, {}
    for runtime in ("local", "ray"):
        run_dir = tmp_path / runtime
        assert main(["train", "--run-dir", str(run_dir), *TINY, *RAY, "--runtime", runtime]) == 0
        rows[runtime] = read_metrics(run_dir)
        tags[runtime] = tensorboard_tags(run_dir)
    local, ray = rows["local"], rows["ray"]
    assert [set(row) for row in local] == [set(row) for row in ray]
    # Evaluations at every eval_interval (300) env steps while collecting, then the final one.
    # Ray's self-play runs ahead in claims of num_envs steps, so it evaluates a little later.
    assert [row["env_steps"] for row in local] == [300, 600]
    assert 300 <= ray[0]["env_steps"] < 300 + 8 * 4 and ray[-1]["env_steps"] == 600
    assert tags["local"]["env_steps"] == tags["ray"]["env_steps"]
    assert tags["local"]["updates"] <= tags["ray"]["updates"]  # plus ray/ waits
    assert {t for t in tags["ray"]["updates"] if not t.startswith("ray/")} == tags["local"][
        "updates"
    ]

    # Ray checkpoints hold each worker's random stream as it stood (local ones: one of each).
    rng = {r: load_checkpoint(tmp_path / r / "checkpoints" / "latest.pt")[0]["rng"] for r in rows}
    assert len(rng["local"]["actor"]) == 1 and len(rng["local"]["reanalyzer"]) == 1
    assert len(rng["ray"]["actor"]) == 2 and len(rng["ray"]["reanalyzer"]) == 1
    states = [
        json.loads(s)["state"]["state"] for s in [*rng["ray"]["actor"], *rng["ray"]["reanalyzer"]]
    ]
    assert len(set(states)) == 3
    seeds = [ray_runtime.worker_seed(0, ray_runtime.SELFPLAY, i, 0) for i in range(2)]
    unused = [np.random.default_rng(seed).bit_generator.state["state"]["state"] for seed in seeds]
    assert not set(states) & set(unused)  # the streams were used, not re-seeded
