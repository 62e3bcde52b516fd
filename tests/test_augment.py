"""Random shift and intensity augmentation (Ye et al. 2021, Appendix A): exact integer shifts, per-sample draws."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from efficientzero.nets.augment import augment_frames, random_intensity, random_shift

PAD = 4


def pattern(batch: int, channels: int = 3, size: int = 12) -> torch.Tensor:
    """Float frames where every (sample, channel, row, column) has a distinct value."""
    b, c, i, j = torch.meshgrid(
        *(torch.arange(n, dtype=torch.float32) for n in (batch, channels, size, size)),
        indexing="ij",
    )
    return b * 1e5 + c * 1e3 + i * size + j + 1


def recover_offsets(frames: torch.Tensor, shifted: torch.Tensor) -> list[tuple[int, int]]:
    """For each sample, the crop offset (dy, dx) in the replicate-padded input that equals it.

    Fails if no crop, or more than one, matches exactly.
    """
    padded = F.pad(frames, (PAD, PAD, PAD, PAD), mode="replicate")
    size = frames.shape[-1]
    offsets = []
    for b in range(frames.shape[0]):
        matches = [
            (dy, dx)
            for dy in range(2 * PAD + 1)
            for dx in range(2 * PAD + 1)
            if torch.equal(padded[b, :, dy : dy + size, dx : dx + size], shifted[b])
        ]
        assert len(matches) == 1, f"sample {b}: {len(matches)} matching crops"
        offsets.append(matches[0])
    return offsets


def test_shift_is_exact_crop_of_replicate_padded_input() -> None:
    frames = pattern(32)
    shifted = random_shift(frames, PAD, torch.Generator().manual_seed(0))
    assert shifted.shape == frames.shape and shifted.dtype == frames.dtype
    offsets = recover_offsets(frames, shifted)  # the whole sample (all channels) moves together
    assert len(set(offsets)) > 10, "samples should get different shifts"


def test_shift_covers_every_offset() -> None:
    size, center = 9, 4  # the centre pixel is never clamped, so its value names the offset
    frames = pattern(1, channels=1, size=size).expand(2000, 1, size, size) - 1  # i * size + j
    shifted = random_shift(frames, PAD, torch.Generator().manual_seed(1))
    value = shifted[:, 0, center, center].long()  # (center + sy) * size + (center + sx)
    offsets = {divmod(v, size) for v in value.tolist()}
    every = {
        (center + sy, center + sx) for sy in range(-PAD, PAD + 1) for sx in range(-PAD, PAD + 1)
    }
    assert offsets == every


def test_shift_uint8_and_leading_dims() -> None:
    frames = torch.randint(0, 256, (3, 5, 4, 16, 16), dtype=torch.uint8)
    shifted = random_shift(frames, PAD, torch.Generator().manual_seed(2))
    assert shifted.shape == frames.shape and shifted.dtype == torch.uint8
    # Each of the 15 leading indices is its own sample, with its own exact crop.
    flat_in, flat_out = frames.flatten(0, 1).float(), shifted.flatten(0, 1).float()
    assert len(recover_offsets(flat_in, flat_out)) == 15


def test_intensity_factor_per_sample_within_bounds() -> None:
    frames = torch.ones(10_000, 2, 3, 3)
    out = random_intensity(frames, 0.05, torch.Generator().manual_seed(3))
    factors = out[:, 0, 0, 0]
    assert torch.equal(out, factors.view(-1, 1, 1, 1).expand_as(out)), "one factor per sample"
    assert factors.min() >= 0.9 - 1e-6 and factors.max() <= 1.1 + 1e-6
    # clip(N(0,1), -2, 2): about 2.3% of samples sit exactly on each bound.
    assert (factors <= 0.9 + 1e-6).sum() > 100 and (factors >= 1.1 - 1e-6).sum() > 100
    assert abs(factors.mean().item() - 1.0) < 2e-3


def test_augment_frames_deterministic_with_seeded_generator() -> None:
    frames = torch.rand(8, 12, 96, 96)
    a = augment_frames(frames, torch.Generator().manual_seed(7))
    b = augment_frames(frames, torch.Generator().manual_seed(7))
    c = augment_frames(frames, torch.Generator().manual_seed(8))
    assert a.shape == frames.shape and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_frames_shift_then_intensity() -> None:
    frames = pattern(16) / 1e6  # keep values small, positive and distinct
    out = augment_frames(frames, torch.Generator().manual_seed(4))
    shifted = random_shift(frames, PAD, torch.Generator().manual_seed(4))  # same draws first
    ratio = out / shifted.clamp(min=1e-12)
    per_sample = ratio.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), rtol=1e-5)
    assert per_sample.min() >= 0.9 - 1e-5 and per_sample.max() <= 1.1 + 1e-5


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_augment_frames_output_is_float(dtype: torch.dtype) -> None:
    frames = torch.randint(0, 256, (4, 12, 96, 96)).to(dtype)
    if dtype == torch.float32:
        frames = frames / 255.0
    out = augment_frames(frames, torch.Generator().manual_seed(5))
    assert out.dtype == torch.float32 and out.shape == frames.shape
    assert out.min() >= 0.0 and out.max() <= 1.1 + 1e-6
