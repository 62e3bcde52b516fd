"""Image augmentation for the learner (Ye et al. 2021, Appendix A, after SPR / DrQ): random shift and intensity, batched on the device.

Both are drawn once per sample and shared by all stacked channels of that sample, so the frames
of one stacked observation move together (as in DrQ / SPR, which EfficientZero follows).

The shift is "replicate-pad by ``pad`` pixels, crop back at a random offset in [0, 2*pad]".
Reading the padded image at ``(i + dy, j + dx)`` is the same as reading the original at
``(clamp(i + dy - pad), clamp(j + dx - pad))``, so the padding is never materialised: one
``gather`` with clamped indices does an exact integer translation, for any dtype (uint8 too).
"""

from __future__ import annotations

import torch


def _sampling_device(frames: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    """Random numbers are drawn where the generator lives (a CPU generator may serve GPU frames)."""
    return frames.device if generator is None else generator.device


def random_shift(
    frames: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Shift each sample by a random integer offset in [-pad, pad]^2 with replicated borders.

    Args:
        frames: ``[..., C, H, W]`` of any dtype; every leading index is one sample.
        pad: the replicate padding (4 px in EfficientZero).
        generator: optional seeded generator (on the frames' device or on the CPU).

    Returns:
        ``[..., C, H, W]``, same dtype: ``out[b, c, i, j] = frames[b, c, clamp(i + sy), clamp(j + sx)]``
        with ``(sy, sx)`` drawn uniformly per sample.
    """
    *lead, channels, height, width = frames.shape
    flat = frames.reshape(-1, channels, height * width)
    batch = flat.shape[0]
    device = _sampling_device(frames, generator)
    offsets = torch.randint(-pad, pad + 1, (batch, 2), generator=generator, device=device)
    offsets = offsets.to(frames.device)  # [B, 2]: (sy, sx)
    rows = (torch.arange(height, device=frames.device) + offsets[:, :1]).clamp_(
        0, height - 1
    )  # [B, H]
    cols = (torch.arange(width, device=frames.device) + offsets[:, 1:]).clamp_(
        0, width - 1
    )  # [B, W]
    index = (rows.unsqueeze(2) * width + cols.unsqueeze(1)).view(batch, 1, height * width)
    shifted = flat.gather(2, index.expand(batch, channels, height * width))
    return shifted.view(*lead, channels, height, width)


def random_intensity(
    frames: torch.Tensor, scale: float = 0.05, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Multiply each sample by ``1 + scale * clip(N(0, 1), -2, 2)`` (in [0.9, 1.1] for scale 0.05).

    Args:
        frames: float ``[..., C, H, W]``; every leading index is one sample.

    Returns:
        ``[..., C, H, W]``, same dtype. Not clipped to [0, 1] (the paper gives no clip).
    """
    lead = frames.shape[:-3]
    device = _sampling_device(frames, generator)
    noise = (
        torch.randn(lead, generator=generator, device=device).to(frames.device).clamp_(-2.0, 2.0)
    )
    factor = (1.0 + scale * noise).to(frames.dtype)
    return frames * factor.view(*lead, 1, 1, 1)


def augment_frames(
    frames: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    pad: int = 4,
    intensity_scale: float = 0.05,
) -> torch.Tensor:
    """Random shift then random intensity (Ye et al. 2021, Appendix A, after SPR / DrQ) for stacked observations ``[..., C, H, W]``.

    A float input (in [0, 1]) stays float. A uint8 input is shifted as uint8 (a quarter of the
    memory traffic of float32) and then converted to float in [0, 1] before the intensity
    factor, so the result is float either way.
    """
    shifted = random_shift(frames, pad, generator)
    if shifted.dtype == torch.uint8:
        shifted = shifted.float().div_(255.0)
    return random_intensity(shifted, intensity_scale, generator)
