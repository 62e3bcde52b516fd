import itertools

import numpy as np

from efficientzero.actor import TrajectoryBuilder, visit_temperature
from efficientzero.config import make_preset


def run_episode(builder, length, block_length, pad):
    blocks = []
    builder.start(np.array([0.0], np.float32))
    for t in range(length):
        block = builder.add(
            t % 2, float(t), 0.0, np.array([0.5, 0.5], np.float32), np.array([t + 1.0], np.float32)
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
        builder.add(0, r, 0.0, np.ones(2, np.float32) / 2, np.zeros(1, np.float32))
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
