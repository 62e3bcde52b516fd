import numpy as np

from efficientzero.targets import state_masks, value_horizon, value_prefix_targets, value_targets


def test_value_prefix_resets_every_horizon():
    rewards = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
    # horizon 5: one running sum over the whole unroll
    assert value_prefix_targets(rewards, 5).tolist() == [[1, 3, 6, 10, 15]]
    # horizon 2: resets after unroll steps 2 and 4 (aligned with search depth 2, 4)
    assert value_prefix_targets(rewards, 2).tolist() == [[1, 3, 3, 7, 5]]
    # no value prefix: per-step rewards
    assert value_prefix_targets(rewards, 5, use_value_prefix=False).tolist() == [[1, 2, 3, 4, 5]]


def test_value_targets_by_hand():
    g = 0.9
    # K = 1 (two unroll steps), td = 3; rewards u_t .. u_{t+3}
    rewards = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    boot = np.array([[10.0, 20.0]], dtype=np.float32)
    steps = np.array([[3, 2]])
    z = value_targets(rewards, boot, steps, g)
    # z_0 = 1 + .9*2 + .81*3 + .729*10 = 12.52 ; z_1 = 2 + .9*3 + .81*20 = 20.9
    assert np.allclose(z, [[12.52, 20.9]], atol=1e-5)


def test_value_targets_zero_steps_is_pure_bootstrap():
    z = value_targets(
        np.zeros((1, 3), np.float32), np.array([[7.0, 0.0]], np.float32), np.array([[0, 0]]), 0.5
    )
    assert np.allclose(z, [[7.0, 0.0]])


def test_masks_after_termination_and_truncation():
    steps_to_end = np.array([2, 2, 100])
    terminated = np.array([True, False, False])
    mask, value_mask, _ = state_masks(steps_to_end, terminated, 3)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    # terminated: absorbing (value 0) everywhere; truncated: the final observation (k = 2) is known
    assert value_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]


def test_off_policy_horizon_shrinks_with_age():
    ages = np.array([1, 29_999, 30_000, 61_000, 500_000])
    assert value_horizon(ages, 5, 30_000).tolist() == [5, 5, 4, 3, 1]
