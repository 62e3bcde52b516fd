"""The Ray runtime's bookkeeping without Ray: the self-play gate, waits, replay server, shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import make_block, tiny_config

from efficientzero.config import Config, ConfigError
from efficientzero.envs import EnvSpec
from efficientzero.presets import atari100k, cartpole
from efficientzero.run.distributed import (
    ReplayServer,
    SharedState,
    WaitClock,
    judge_bottleneck,
    owed_updates,
    slack_updates,
)
from efficientzero.run.placement import (
    MIN_OBJECT_STORE,
    cpu_share,
    default_object_store_memory,
    gpu_shares,
)
from efficientzero.run.schedule import update_budget

GiB = 2**30


def config(**changes) -> Config:
    base = dict(
        total_env_steps=1000, total_updates=200, start_transitions=100, num_envs=4,
        num_actors=2, updates_per_env_step=0.25,
    )  # fmt: skip
    return cartpole().replace(**{**base, **changes})


def claim_until_denied(state: SharedState, steps: int = 4) -> int:
    granted = 0
    while state.claim(steps, [], 0.0).go:
        granted += steps
    return granted


def test_selfplay_waits_when_ahead_of_the_learner():
    c = config()
    state = SharedState(c, env_steps=0, updates=0, episodes=0)
    state.replay_stats(size=50, added=50)
    first = claim_until_denied(state)
    # It may run start_transitions + slack_updates / ratio steps ahead of zero updates.
    assert first == c.start_transitions + slack_updates(c) / c.updates_per_env_step
    assert owed_updates(c, state.env_steps, 0) <= slack_updates(c)
    state.sync(updates=update_budget(c, state.env_steps))  # the learner catches up
    assert claim_until_denied(state) == slack_updates(c) / c.updates_per_env_step


def test_selfplay_never_waits_on_an_empty_replay_or_after_the_last_update():
    c = config(total_updates=10)
    state = SharedState(c, env_steps=0, updates=0, episodes=0)
    assert claim_until_denied(state) == c.total_env_steps  # nothing to learn from: collect
    state = SharedState(c, env_steps=0, updates=10, episodes=0)
    state.replay_stats(1, 1)
    assert claim_until_denied(state) == c.total_env_steps  # all updates done: collect
    assert state.claim(4, [], 0.0).done


def test_claims_count_steps_episodes_and_waits():
    c = config()
    state = SharedState(c, env_steps=96, updates=0, episodes=3)
    ticket = state.claim(4, [], 0.0)
    assert ticket.go and ticket.random_actions  # 96 < start_transitions
    ticket = state.claim(4, [10.0, 12.0], 0.5, "selfplay-0", None, 4, 1)
    assert ticket.go and not ticket.random_actions
    snap = state.sync(updates=0)
    assert (snap.env_steps, snap.episodes, snap.selfplay_wait_s) == (104, 5, 0.5)
    assert snap.episode_returns == [(100, 10.0), (100, 12.0)]
    assert (snap.searched, snap.held) == (4, 1)
    later = state.sync(updates=0)
    assert later.episode_returns == [] and (later.searched, later.held) == (0, 0)


def test_restarted_workers_are_counted():
    state = SharedState(config(), env_steps=0, updates=0, episodes=0)
    assert state.register("selfplay-0", 11) == 0
    assert state.register("selfplay-1", 12) == 0
    assert state.register("selfplay-0", 13) == 1
    assert state.sync(0).restarts == {"selfplay-0": 1}
    assert state.pids() == {"selfplay-0": 13, "selfplay-1": 12}


@pytest.mark.parametrize(
    ("selfplay", "batches", "data", "expected"),
    [
        (0.9, 0.5, 0.0, "reanalysis"),
        (0.0, 0.0, 0.6, "self-play"),
        (0.7, 0.05, 0.0, "learner"),
        (0.05, 0.05, 0.05, "balanced"),
    ],
)
def test_bottleneck_is_the_stage_others_wait_for(selfplay, batches, data, expected):
    assert judge_bottleneck(selfplay, batches, data) == expected


def test_wait_clock_judges_the_last_window():
    clock = WaitClock()
    assert clock.bottleneck() == "-"
    clock.mark(0.0)
    clock.learner_idle_s += 8.0  # early on, self-play was slow ...
    clock.mark(10.0)
    clock.selfplay_wait_s += 9.0  # ... lately the learner is
    clock.mark(20.0)
    assert clock.bottleneck(window_s=10.0) == "learner"
    assert clock.fields()["selfplay_wait_s"] == 9.0


def test_replay_server_owns_its_blocks_and_round_trips():
    c = config(block_length=10, batch_size=8)
    server = ReplayServer(c, seed=0)
    block = make_block(12, 10)
    block.frames.setflags(write=False)  # as it arrives from the object store
    assert server.add([block]) == (10, 10)
    assert server.buffer.blocks[0].frames.flags.writeable
    sampled = server.sample(8, beta=0.4)
    assert sampled.frames.shape[0] == 8
    state, rng = server.state_dict()
    other = ReplayServer(c, seed=1)
    assert other.load_state_dict(state, rng) == (10, 10)
    np.testing.assert_array_equal(other.sample(8, 0.4).indices, server.sample(8, 0.4).indices)


def test_object_store_follows_the_run():
    vector = EnvSpec((4,), np.dtype(np.float32), 2)
    assert default_object_store_memory(cartpole(), vector, 24 * GiB) == MIN_OBJECT_STORE
    image = EnvSpec((3, 96, 96), np.dtype(np.uint8), 18)
    atari = default_object_store_memory(atari100k(), image, 512 * GiB)
    assert 3 * GiB < atari < 10 * GiB  # the reference kept 150 GB
    assert default_object_store_memory(atari100k(), image, 4 * GiB) == 2 * GiB


def test_cpu_and_gpu_shares():
    c = config(num_actors=2, num_reanalyzers=1)
    assert cpu_share(c, 2.0) == 0.66 and cpu_share(c, 64.0) == 1.0
    assert gpu_shares(c, 0.0) == (0.0, 0.0)
    assert gpu_shares(c.replace(device="cpu"), 4.0) == (0.0, 0.0)
    many = c.replace(num_actors=8, num_reanalyzers=4, actor_gpus=0.25, reanalyzer_gpus=0.5)
    actor, reanalyzer = gpu_shares(many, 2.0)
    assert 8 * actor + 4 * reanalyzer <= 2.0 and actor / reanalyzer == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="whole number"):
        gpu_shares(c.replace(actor_gpus=1.5), 4.0)


def test_weights_cross_the_object_store_as_numpy_arrays():
    from efficientzero.nets import build_network
    from efficientzero.run.distributed import arrays_to_weights, weights_to_arrays

    net = build_network(tiny_config(), (4,), 2)
    weights = net.state_dict()
    weights["half"] = torch.ones(3, dtype=torch.bfloat16)  # numpy has no bf16: stays a tensor
    arrays = weights_to_arrays(weights)
    assert isinstance(arrays["half"], torch.Tensor)
    assert all(isinstance(v, np.ndarray) for k, v in arrays.items() if k != "half")
    read_only = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in arrays.items()}
    for v in read_only.values():
        if isinstance(v, np.ndarray):
            v.flags.writeable = False  # as Ray's object store hands them out
    back = arrays_to_weights(read_only)
    assert back.keys() == weights.keys()
    for k, v in weights.items():
        assert torch.equal(back[k], v) and back[k].dtype == v.dtype
    del back["half"]
    build_network(tiny_config(), (4,), 2).load_state_dict(back)
