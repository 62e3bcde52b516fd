import numpy as np
import pytest
from helpers import make_block

from efficientzero.replay import ReplayBuffer, SumTree


def test_sum_tree_samples_proportionally():
    tree = SumTree(5)
    tree.set(np.arange(5), np.array([1.0, 0.0, 3.0, 0.0, 6.0]))
    assert tree.total == pytest.approx(10.0)
    rng = np.random.default_rng(0)
    counts = np.bincount(np.concatenate([tree.sample(100, rng) for _ in range(200)]), minlength=5)
    assert counts[1] == 0 and counts[3] == 0
    assert np.allclose(counts / counts.sum(), [0.1, 0, 0.3, 0, 0.6], atol=0.01)


def make_replay(capacity=100, **kw):
    return ReplayBuffer(capacity, frame_stack=1, unroll_steps=2, td_steps=2, **kw)


def test_new_positions_get_max_priority_and_weights():
    replay = make_replay()
    replay.add(make_block(4))
    replay.update_priorities(np.array([0, 1, 2, 3]), np.array([1.0, 1.0, 1.0, 3.0]))
    replay.add(make_block(2, start=100))  # enters at the max priority (3)
    ids = np.arange(6)
    leaves = replay.tree.get(ids % replay.capacity)
    assert np.allclose(leaves, (np.array([1, 1, 1, 3, 3, 3]) + 1e-6) ** 0.6)
    rng = np.random.default_rng(1)
    sampled_ids, weights = replay.sample_ids(64, beta=1.0, rng=rng)
    probs = replay.tree.get(sampled_ids % replay.capacity) / replay.tree.total
    expected = (6 * probs) ** -1.0
    assert np.allclose(weights, expected / expected.max(), rtol=1e-5)


def test_uniform_option_has_unit_weights():
    replay = make_replay(use_priority=False)
    replay.add(make_block(5))
    replay.update_priorities(np.array([0]), np.array([100.0]))
    ids, weights = replay.sample_ids(1000, beta=0.4, rng=np.random.default_rng(0))
    assert np.all(weights == 1.0)
    assert np.allclose(np.bincount(ids, minlength=5) / 1000, 0.2, atol=0.05)


def test_eviction_keeps_capacity_and_ignores_stale_priorities():
    replay = make_replay(capacity=10)
    replay.add(make_block(6))
    replay.add(make_block(6, start=50))  # the first block is evicted whole
    assert replay.size == 6 and len(replay.blocks) == 1
    before = replay.tree.total
    replay.update_priorities(np.array([0, 1]), np.array([50.0, 50.0]))  # ids of the evicted block
    assert replay.tree.total == before
    ids, _ = replay.sample_ids(50, 0.4, np.random.default_rng(0))
    assert ids.min() >= 6


def test_gather_pads_past_termination():
    replay = make_replay()
    replay.add(make_block(3, terminated=True))
    ids = np.array([1, 2])
    sampled = replay.gather(ids, np.ones(2, np.float32), np.array([2, 2]), np.random.default_rng(0))
    # position 1: frames of steps 1, 2, 3 (3 is the final observation)
    assert sampled.frames[0, :, 0].tolist() == [1, 2, 3]
    # position 2: steps 2, 3 then the final frame repeated
    assert sampled.frames[1, :, 0].tolist() == [2, 3, 3]
    # rewards u_t .. u_{t+3}: zero past the end
    assert sampled.rewards[0].tolist() == [1, 2, 0, 0]
    assert sampled.rewards[1].tolist() == [2, 0, 0, 0]
    assert sampled.steps_to_end.tolist() == [2, 1]
    assert sampled.terminated.tolist() == [True, True]
    # terminated: no bootstrap once t+k+l reaches the end; steps are cut at the end
    assert sampled.bootstrap_mask.tolist() == [[False, False, False], [False, False, False]]
    assert sampled.bootstrap_steps.tolist() == [[2, 1, 0], [1, 0, 0]]
    assert sampled.policies[1, 1:].sum() == 0 and sampled.policies[1, 0].sum() == 1


def test_gather_bootstraps_from_final_observation_after_truncation():
    replay = make_replay()
    replay.add(make_block(5, terminated=False))
    sampled = replay.gather(
        np.array([2]), np.ones(1, np.float32), np.array([2]), np.random.default_rng(0)
    )
    # t = 2, l = 2, n = 5: k=0 -> obs 4 (2 steps), k=1 -> obs 5 (2 steps), k=2 -> obs 5 (1 step)
    assert sampled.bootstrap_mask.tolist() == [[True, True, True]]
    assert sampled.bootstrap_steps.tolist() == [[2, 2, 1]]
    assert sampled.bootstrap_frames[0, :, 0, 0].tolist() == [4, 5, 5]


def test_gather_uses_padding_of_an_unfinished_block():
    replay = make_replay()
    # 4 positions + 4 padding steps (unroll 2 + td 2) of an episode that goes on
    replay.add(make_block(8, num_positions=4, episode_end=False))
    sampled = replay.gather(
        np.array([3]), np.ones(1, np.float32), np.array([2]), np.random.default_rng(0)
    )
    assert sampled.frames[0, :, 0].tolist() == [3, 4, 5]
    assert sampled.rewards[0].tolist() == [3, 4, 5, 6]
    assert sampled.bootstrap_mask.all() and sampled.bootstrap_steps.tolist() == [[2, 2, 2]]
    assert sampled.bootstrap_frames[0, :, 0, 0].tolist() == [5, 6, 7]
    assert sampled.steps_to_end[0] > 1000


def test_frame_stacks_rebuilt_from_single_frames():
    replay = ReplayBuffer(100, frame_stack=3, unroll_steps=1, td_steps=1)
    replay.add(make_block(4, frame_stack=3, start=10))
    sampled = replay.gather(
        np.array([0]), np.ones(1, np.float32), np.array([1]), np.random.default_rng(0)
    )
    # step 0's stack repeats the first frame; frames window covers stacks of steps 0 and 1
    assert sampled.frames[0, :, 0].tolist() == [10, 10, 10, 11]
    assert sampled.bootstrap_frames[0, 0, :, 0].tolist() == [10, 10, 11]


def test_state_dict_round_trip():
    replay = make_replay(capacity=12)
    for i in range(3):
        replay.add(make_block(5, start=10 * i))
    replay.update_priorities(np.array([11, 12]), np.array([4.0, 0.5]))
    clone = make_replay(capacity=12)
    clone.load_state_dict(replay.state_dict())
    assert clone.size == replay.size and clone.num_added == replay.num_added
    assert np.allclose(clone.tree.tree, replay.tree.tree)
    a = replay.sample(8, 0.5, np.random.default_rng(3), None)
    b = clone.sample(8, 0.5, np.random.default_rng(3), None)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.frames, b.frames)
