import itertools

import gymnasium as gym
import numpy as np

from efficientzero.actor import SelfPlayActor, TrajectoryBuilder, visit_temperature
from efficientzero.presets import make_preset


def run_episode(builder, length, block_length, pad):
    blocks = []
    builder.start(np.array([0.0], np.float32))
    for t in range(length):
        block = builder.add(
            t % 2, float(t), np.array([0.5, 0.5], np.float32), np.array([t + 1.0], np.float32)
        )
        if block is not None:
            blocks.append(block)
    blocks.append(builder.finish(terminated=True))
    return blocks


def test_blocks_cover_every_step_once_with_padding_from_the_next_block():
    block_length, pad = 4, 3
    builder = TrajectoryBuilder(
        frame_stack=2, block_length=block_length, pad_steps=pad, clip_rewards=False
    )
    blocks = run_episode(builder, 13, block_length, pad)
    assert [b.num_positions for b in blocks] == [4, 4, 5]
    assert [b.length for b in blocks] == [7, 7, 5]
    assert [b.episode_end for b in blocks] == [False, False, True]
    # positions cover steps 0..12 exactly once; rewards equal the step index
    covered = np.concatenate([b.rewards[: b.num_positions] for b in blocks])
    assert covered.tolist() == list(range(13))
    # the padding of block i equals the first steps of block i + 1
    for first, second in itertools.pairwise(blocks):
        shared = min(pad, second.length)
        assert np.array_equal(first.rewards[block_length:], second.rewards[:shared])
        assert np.array_equal(first.frames[block_length + 1 :], second.frames[1 : 1 + shared + 1])
    # frames: stack padding (1 frame) + a frame per step + the frame after the last step
    assert blocks[0].frames[:, 0].tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert blocks[1].frames[:, 0].tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert blocks[2].frames[-1, 0] == 13 and blocks[2].terminated


def test_rewards_are_sign_clipped_when_asked():
    builder = TrajectoryBuilder(frame_stack=1, block_length=10, pad_steps=2, clip_rewards=True)
    builder.start(np.zeros(1, np.float32))
    for r in (5.0, -0.2, 0.0):
        builder.add(0, r, np.ones(2, np.float32) / 2, np.zeros(1, np.float32))
    block = builder.finish(terminated=False)
    assert block.rewards.tolist() == [1.0, -1.0, 0.0] and not block.terminated


def test_temperature_schedule():
    c = make_preset("cartpole").replace(total_updates=100)
    assert [visit_temperature(c, u) for u in (0, 49, 50, 74, 75, 100)] == [
        1.0,
        1.0,
        0.5,
        0.5,
        0.25,
        0.25,
    ]


def test_temperature_milestones_are_fractions_of_the_collection_phase():
    """Atari 100k: T = 1 / 0.5 / 0.25 switch at 50k and 75k updates (of the 100k made while
    collecting, as the reference code's training steps), not at 60k and 90k of all 120k."""
    c = make_preset("atari100k")
    assert c.temperature_updates == 100_000
    got = [visit_temperature(c, u) for u in (49_999, 50_000, 74_999, 75_000, 119_999)]
    assert got == [1.0, 0.5, 0.5, 0.25, 0.25]
    assert make_preset("cartpole").temperature_updates == 5_000  # 20k steps x 0.25 = all updates


class _GameOverInReset(gym.Env):
    """Ends an episode at every step; the reset after it reports a finished game, as the Atari
    wrapper does when a game ends during the NOOP that continues it after a life loss."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {"episode": {"r": 7.0, "l": 3}}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}


def test_a_game_that_ends_in_reset_is_counted():
    c = make_preset("cartpole").replace(num_envs=2)
    actor = SelfPlayActor(c, None, [_GameOverInReset(), _GameOverInReset()], 2, seed=0)  # type: ignore[arg-type]
    result = actor.step(1.0, random_actions=True)
    assert result.episode_returns == [7.0, 7.0]
