import dataclasses

import numpy as np
import torch
from helpers import make_block

from efficientzero.nets import InferenceModel, build_network
from efficientzero.presets import make_preset
from efficientzero.reanalyze import Reanalyzer
from efficientzero.replay import ReplayBuffer
from efficientzero.targets import value_targets
from efficientzero.types import Batch


def setup(**changes):
    torch.manual_seed(0)
    c = make_preset("cartpole").replace(
        unroll_steps=2,
        td_steps=2,
        num_simulations=8,
        hidden_size=16,
        latent_dim=8,
        lstm_hidden_size=8,
        head_hidden_size=8,
        support_size=10,
        **changes,
    )
    net = build_network(c, (1,), 2)
    for p in net.parameters():  # non-zero heads so values and priors differ between states
        torch.nn.init.normal_(p, std=0.3)
    model = InferenceModel(net, lstm_horizon_len=c.lstm_horizon_len)
    replay = ReplayBuffer(100, frame_stack=1, unroll_steps=2, td_steps=2)
    replay.add(make_block(6, terminated=True))
    ids = np.array([0, 2, 4, 5])
    sampled = replay.gather(ids, np.ones(4, np.float32), np.full(4, 2), np.random.default_rng(0))
    return c, model, Reanalyzer(c, model, seed=0), sampled


def test_bootstrap_values_are_the_target_networks_where_needed():
    _, model, reanalyzer, sampled = setup()
    values = reanalyzer.bootstrap_values(sampled)
    need = sampled.bootstrap_mask
    assert need.any() and (~need).any()
    expected = model.root(torch.from_numpy(sampled.bootstrap_frames[need])).value.numpy()
    assert np.allclose(values[need], expected, atol=1e-6)
    assert np.all(values[~need] == 0)


def test_batch_targets_and_reanalysed_policies():
    c, _, reanalyzer, sampled = setup(reanalyze_ratio=0.5)
    batch = reanalyzer.make_batch(sampled, torch.device("cpu"))
    z = value_targets(
        sampled.rewards, reanalyzer.bootstrap_values(sampled), sampled.bootstrap_steps, c.discount
    )
    assert np.allclose(batch.target_values.numpy(), z)
    policies, mask = batch.target_policies.numpy(), batch.mask.numpy()
    stored = sampled.policies
    reanalysed = [b for b in range(4) if not np.array_equal(policies[b], stored[b])]
    assert len(reanalysed) == 2  # half of the rows, each with all its states searched
    for b in reanalysed:  # fresh visit distributions: 8 simulations -> multiples of 1/8
        fresh = policies[b][mask[b] > 0]
        assert np.allclose(fresh.sum(-1), 1) and np.allclose(fresh * 8, np.round(fresh * 8))
    # the rest keeps the stored policies; states past the end keep zeros
    kept = [b for b in range(4) if b not in reanalysed]
    assert np.array_equal(policies[kept], stored[kept])
    assert np.all(policies[mask == 0] == 0)


def test_reanalysed_rows_are_drawn_at_random():
    """Replay returns positions in slot order, so a fixed slice would never reanalyse the
    newest positions: the rows are drawn afresh for every batch."""
    _, _, reanalyzer, sampled = setup(reanalyze_ratio=0.5)
    chosen = set()
    for _ in range(12):
        policies = reanalyzer.policy_targets(sampled, np.ones((4, 3), np.float32))
        rows = tuple(b for b in range(4) if not np.array_equal(policies[b], sampled.policies[b]))
        assert len(rows) == 2
        chosen.add(rows)
    assert len(chosen) > 2 and any(3 in rows for rows in chosen)


def test_reanalysis_searches_the_stacked_frames_of_every_unroll_state():
    # Frames go to the model's device once and are stacked there: the stacks searched must be
    # the K + 1 overlapping windows [t + k, t + k + S) of each chosen row.
    c = make_preset("cartpole").replace(
        unroll_steps=2, td_steps=2, num_simulations=4, frame_stack=3, reanalyze_ratio=1.0,
        hidden_size=16, latent_dim=8, lstm_hidden_size=8, head_hidden_size=8, support_size=10,
    )  # fmt: skip
    net = build_network(c, (1,), 2)
    model = InferenceModel(net, lstm_horizon_len=c.lstm_horizon_len)
    replay = ReplayBuffer(100, frame_stack=3, unroll_steps=2, td_steps=2)
    replay.add(make_block(8, frame_stack=3, terminated=True))
    ids = np.array([0, 3, 5])
    sampled = replay.gather(ids, np.ones(3, np.float32), np.full(3, 2), np.random.default_rng(0))
    reanalyzer = Reanalyzer(c, model, seed=0)
    searched = []

    def recording(frames):
        searched.append(frames.clone())
        return np.zeros((len(frames), 2), np.float32), np.zeros(len(frames), np.float32)

    reanalyzer._search = recording
    reanalyzer.policy_targets(sampled, np.ones((3, 3), np.float32))
    (frames,) = searched
    expected = [sampled.frames[b, k : k + 3] for b in range(3) for k in range(3)]
    np.testing.assert_array_equal(frames.numpy(), np.stack(expected))


def test_batch_arrays_are_numpy_and_make_the_same_batch():
    """What a Ray reanalysis worker sends: numpy arrays only (the object store reads them in
    place), which ``Batch.from_arrays`` turns into the batch the local runtime makes."""
    _, _, reanalyzer, sampled = setup(reanalyze_ratio=0.0)
    arrays = reanalyzer.make_arrays(sampled)
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    batch = Batch.from_arrays(arrays, torch.device("cpu"))
    direct = reanalyzer.make_batch(sampled, torch.device("cpu"))
    for field in dataclasses.fields(Batch):
        a, b = getattr(batch, field.name), getattr(direct, field.name)
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and torch.equal(a, b), field.name
        else:
            np.testing.assert_array_equal(a, b)
