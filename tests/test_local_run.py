"""The local loop's schedule: update budget, weight refresh intervals, determinism."""

import json

import torch

from efficientzero.cli import main
from efficientzero.config import make_preset
from efficientzero.run.common import RunDirectory
from efficientzero.run.local import LocalRun, replay_beta, update_budget

TINY = dict(
    hidden_size=32,
    latent_dim=16,
    lstm_hidden_size=8,
    head_hidden_size=8,
    projection_dim=16,
    projection_head_dim=8,
    num_simulations=4,
    batch_size=16,
    num_envs=4,
    block_length=20,
)


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_update_budget_and_beta():
    c = make_preset("cartpole").replace(
        total_env_steps=1000,
        total_updates=600,
        start_transitions=200,
        updates_per_env_step=0.5,
        priority_beta=0.4,
    )
    assert [update_budget(c, s) for s in (0, 200, 400, 999, 1000)] == [0, 0, 100, 399, 600]
    assert replay_beta(c, 0) == 0.4 and replay_beta(c, 300) == 0.7 and replay_beta(c, 600) == 1.0


def test_weights_reach_selfplay_and_target_at_their_intervals(tmp_path):
    c = make_preset("cartpole").replace(
        selfplay_update_interval=3, target_update_interval=5, **TINY
    )
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(c)
    run = LocalRun(c, run_dir, progress=False)
    while run.replay.size < 100:
        run.collect()
    learner, actor, target = run.learner.net, run.actor.model.net, run.reanalyzer.model.net
    for update in range(1, 11):
        run.update()
        assert same_weights(learner, actor) == (update % 3 == 0), update
        assert same_weights(learner, target) == (update % 5 == 0), update
    run.logger.close()


def test_same_seed_same_run(tmp_path, capsys):
    args = [
        "--env-steps",
        "400",
        "--total-updates",
        "30",
        "--start-transitions",
        "100",
        "--eval-interval",
        "200",
        "--eval-episodes",
        "2",
        "--eval-max-episode-steps",
        "40",
        "--no-progress",
        *[x for k, v in TINY.items() for x in (f"--{k.replace('_', '-')}", str(v))],
    ]
    records = []
    for name in ("a", "b"):
        assert main(["train", "--run-dir", str(tmp_path / name), "--seed", "3", *args]) == 0
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        records.append(
            [{k: v for k, v in json.loads(line).items() if k != "wall_seconds"} for line in lines]
        )
    assert records[0] == records[1]
    assert main(["train", "--run-dir", str(tmp_path / "c"), "--seed", "4", *args]) == 0
    other = [
        json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()
    ]
    assert other[-1]["loss"] != records[0][-1]["loss"]


def test_lagged_target_network_installs_the_previous_refresh(tmp_path):
    """target_network_lag="previous": at update 2k the target gets the weights of update k."""
    c = make_preset("cartpole").replace(
        target_update_interval=3, target_network_lag="previous", **TINY
    )
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(c)
    run = LocalRun(c, run_dir, progress=False)
    while run.replay.size < 100:
        run.collect()
    snapshots = {0: {k: v.clone() for k, v in run.learner.net.state_dict().items()}}
    target = run.reanalyzer.model.net
    for update in range(1, 10):
        run.update()
        snapshots[update] = {k: v.clone() for k, v in run.learner.net.state_dict().items()}
        if update % 3 == 0:
            want = snapshots[update - 3]
            assert all(torch.equal(v, want[k]) for k, v in target.state_dict().items()), update
    saved = run.target_schedule.state_dict()
    assert saved is not None and all(torch.equal(v, snapshots[9][k]) for k, v in saved.items())
    run.logger.close()


def test_off_policy_correction_switch_sets_the_horizons(tmp_path, monkeypatch):
    for correction in (True, False):
        c = make_preset("cartpole").replace(use_off_policy_correction=correction, **TINY)
        run_dir = RunDirectory(tmp_path / f"run-{correction}")
        run_dir.create(c)
        run = LocalRun(c, run_dir, progress=False)
        while run.replay.size < 100:
            run.collect()
        seen = []
        sample = run.replay.sample

        def spy(*args, _sample=sample, _seen=seen, **kwargs):
            _seen.append(args[-1] if len(args) == 4 else kwargs.get("age_unit"))
            return _sample(*args, **kwargs)

        monkeypatch.setattr(run.replay, "sample", spy)
        run.update()
        assert seen == [c.off_policy_age_unit if correction else None]
        run.logger.close()
