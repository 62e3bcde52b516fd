"""The local loop's schedule: update budget, weight refresh intervals, determinism."""

import json

import pytest
import torch
from helpers import tiny_args, tiny_config

from efficientzero.checkpoint import load_checkpoint
from efficientzero.cli import main
from efficientzero.presets import make_preset
from efficientzero.run.directory import RunDirectory
from efficientzero.run.local import local_trainer
from efficientzero.run.schedule import (
    Counters,
    evaluation_due,
    first_evaluation,
    replay_beta,
    update_budget,
)
from efficientzero.run.trainer import CLOCK_FIELDS

TINY = dict(block_length=20)


def trainer_for(config, path):
    """A local trainer on a new run directory, started, with replay filled to 100 positions."""
    run_dir = RunDirectory(path)
    run_dir.create(config)
    trainer = local_trainer(config, run_dir, progress=False)
    trainer.start()
    while trainer.source.replay.size < 100:
        trainer.absorb(trainer.source.collect(trainer.counters, learner_idle=True))
    return trainer


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


def test_evaluations_due_every_interval_and_never_with_interval_zero():
    c = make_preset("cartpole").replace(total_env_steps=1000, eval_interval=300)
    n = Counters(next_eval=first_evaluation(c))
    due = []
    for steps in range(0, 1000, 8):
        n.env_steps = steps
        if evaluation_due(c, n):
            due.append(steps)
    assert due == [304, 600, 904]  # the first collection at or past each multiple of 300
    # eval_interval 0: none during training, also when a finished run is resumed with more
    # steps (its saved next_eval is the old total; this evaluated every step before)
    off = c.replace(eval_interval=0)
    n = Counters(next_eval=first_evaluation(off.replace(total_env_steps=300)))
    assert n.next_eval == 300
    for steps in range(300, 1000, 2):
        n.env_steps = steps
        assert not evaluation_due(off, n)


def test_weights_reach_selfplay_and_target_at_their_intervals(tmp_path):
    c = tiny_config(selfplay_update_interval=3, target_update_interval=5, **TINY)
    run = trainer_for(c, tmp_path / "run")
    source = run.source
    learner, actor, target = run.learner.net, source.actor.model.net, source.reanalyzer.model.net
    for update in range(1, 11):
        run.update()
        assert same_weights(learner, actor) == (update % 3 == 0), update
        assert same_weights(learner, target) == (update % 5 == 0), update
    run.logger.close()


def test_same_seed_same_run(tmp_path, capsys):
    args = tiny_args(
        total_env_steps=400,
        total_updates=30,
        start_transitions=100,
        eval_interval=200,
        eval_max_episode_steps=40,
        **TINY,
    )
    records = []
    for name in ("a", "b"):
        assert main(["train", "--run-dir", str(tmp_path / name), "--seed", "3", *args]) == 0
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        records.append(
            [{k: v for k, v in json.loads(line).items() if k not in CLOCK_FIELDS} for line in lines]
        )
    assert records[0] == records[1]
    assert main(["train", "--run-dir", str(tmp_path / "c"), "--seed", "4", *args]) == 0
    other = [
        json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()
    ]
    assert other[-1]["loss"] != records[0][-1]["loss"]


def test_lagged_target_network_installs_the_previous_refresh(tmp_path):
    """target_network_lag="previous": at update 2k the target gets the weights of update k."""
    c = tiny_config(target_update_interval=3, target_network_lag="previous", **TINY)
    run = trainer_for(c, tmp_path / "run")
    snapshots = {0: {k: v.clone() for k, v in run.learner.net.state_dict().items()}}
    target = run.source.reanalyzer.model.net
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
        c = tiny_config(use_off_policy_correction=correction, **TINY)
        run = trainer_for(c, tmp_path / f"run-{correction}")
        seen = []
        replay = run.source.replay
        sample = replay.sample

        def spy(*args, _sample=sample, _seen=seen, **kwargs):
            _seen.append(args[-1] if len(args) == 4 else kwargs.get("age_unit"))
            return _sample(*args, **kwargs)

        monkeypatch.setattr(replay, "sample", spy)
        run.update()
        assert seen == [c.off_policy_age_unit if correction else None]
        run.logger.close()


def test_a_resumed_run_logs_as_if_never_interrupted(tmp_path):
    """Killed after an evaluation that followed its last checkpoint: on resume that row (and
    the TensorBoard scalars after the checkpoint) are dropped, then written once again."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    c = tiny_config(eval_interval=100, log_interval=5, **TINY)
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(c)

    class Killed(Exception):
        pass

    def kill_after_a_row_past_the_checkpoint(trainer):
        saved = load_checkpoint(run_dir.latest)[0]["counters"] if run_dir.latest.is_file() else {}
        if saved and trainer.counters.evaluations > saved["evaluations"]:
            raise Killed  # not KeyboardInterrupt: no checkpoint on the way out, as after kill -9

    with pytest.raises(Killed):
        local_trainer(c, run_dir, progress=False).run(on_tick=kill_after_a_row_past_the_checkpoint)
    written = [
        json.loads(line)["env_steps"] for line in run_dir.metrics_path.read_text().splitlines()
    ]
    saved = load_checkpoint(run_dir.latest)[0]["counters"]
    assert len(written) == saved["evaluations"] + 1  # one row past the checkpoint

    trainer = local_trainer(c, run_dir, progress=False)
    trainer.restore()
    trainer.run()
    rows = [json.loads(line) for line in run_dir.metrics_path.read_text().splitlines()]
    steps = [row["env_steps"] for row in rows]
    assert steps == [100, 200, 300, 400, 500, 600]
    for axis, tag in (("env_steps", "eval/eval_return_mean"), ("updates", "train/loss")):
        events = EventAccumulator(str(run_dir.tensorboard / axis))
        events.Reload()
        logged = [e.step for e in events.Scalars(tag)]
        assert logged == sorted(set(logged)), (axis, logged)
