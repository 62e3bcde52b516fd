"""EfficientZero network for image observations (Atari): a downsampling ResNet.

The architecture of Ye et al. 2021, Appendix A (after MuZero's Atari network, Schrittwieser et
al. 2020, Appendix F); the choices the paper leaves open follow docs/fidelity.md.

Shapes for the Atari preset (4 stacked 96x96 RGB frames, 64 channels, 1 block per trunk):

- ``represent``: ``[B, 12, 96, 96]`` -> latent ``[B, 64, 6, 6]``
- ``dynamics``: latent + action plane ``[B, 65, 6, 6]`` -> next latent ``[B, 64, 6, 6]``, and
  the value-prefix logits ``[B, 601]`` from an LSTM over the reduced latent ``[B, 16*6*6]``
- ``predict``: latent -> value logits ``[B, 601]``, policy logits ``[B, A]``
- ``project``: latent ``[B, 2304]`` -> ``[B, 1024]`` (``with_head``: -> 512 -> 1024)

The latent side is ``ceil(side / 16)`` (four stride-2 stages), so other observation sizes
work too (64 -> 4x4, 84 -> 6x6, and non-square frames side by side). Small boards (MinAtar's
10x10) skip the downsampling: ``downsample=False`` gives a full-resolution representation (one
3x3 conv + BN + ReLU, then the residual blocks), the form MuZero used for board games
(Schrittwieser et al. 2020, Appendix F), so the latent keeps one cell per board cell.
Convolutions before BatchNorm carry no bias (BN has one).

Channels-last: ``net.to_channels_last()`` (or ``net.to(memory_format=torch.channels_last)``)
converts the convolution weights; ``represent`` then converts its input to match, and every
later op follows the input layout. The config field ``channels_last`` asks for it; it pays off on
GPUs with tensor cores, and on the CPU it measured within noise of the default layout
(docs/minatar.md), so no preset sets it.
"""

from __future__ import annotations

import torch
from torch import nn

from efficientzero.config import Config
from efficientzero.nets.base import (
    EfficientZeroNet,
    LSTMState,
    ValuePrefixHead,
    full_precision,
    mlp,
)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (always followed by BatchNorm)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def latent_side(obs_size: int) -> int:
    """Side of the latent for ``obs_size`` inputs: four stride-2 stages, each ceil(n / 2)."""
    side = obs_size
    for _ in range(4):
        side = (side + 1) // 2
    return side


MIN_SIDE = 4
"""Smallest frame side the networks take (3x3 convolutions over fewer cells see mostly padding)."""

DOWNSAMPLE_FROM = 32
"""``downsample="auto"``: frames whose smaller side is at least this go through the paper's
stride-2 trunk; smaller boards keep full resolution."""


def wants_downsampling(setting: str, height: int, width: int) -> bool:
    """Whether the representation downsamples frames of ``height x width`` (config ``downsample``)."""
    if setting == "auto":
        return min(height, width) >= DOWNSAMPLE_FROM
    return setting == "on"


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN + shortcut, then ReLU (He et al. 2016, post-activation).

    With ``stride`` 2 or a change of width the shortcut is, by ``shortcut``, a strided 1x1 conv +
    BN ("conv1x1_bn", the standard ResNet projection) or a plain strided 3x3 conv ("conv3x3", the
    EfficientZero reference code); the paper does not fix its form.
    ``[B, C_in, H, W] -> [B, C_out, ceil(H / stride), ceil(W / stride)]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        stride: int = 1,
        shortcut: str = "conv1x1_bn",
    ) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if (stride != 1 or in_channels != out_channels) and shortcut == "conv3x3":
            self.shortcut = conv3x3(in_channels, out_channels, stride)
        elif stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def residual_tower(channels: int, num_blocks: int) -> nn.Sequential:
    """``num_blocks`` same-width residual blocks (the trunks of ``g`` and ``f``)."""
    return nn.Sequential(*(ResidualBlock(channels) for _ in range(num_blocks)))


class DownsampleTrunk(nn.Module):
    """The representation ``h``: ``[B, S*C, H, W] -> [B, num_channels, H/16, W/16]``.

    conv 3x3 s2 to C/2, block(C/2), block s2 to C, block(C), avg-pool s2, block(C), avg-pool s2,
    then ``num_blocks`` blocks (Ye et al. 2021, Appendix A). The pools use a 3x3 window with
    padding 1 (so odd sides round up); by default they average over real pixels only, so the
    border is not darkened by the zero padding (``pool_include_padding``: the reference code's
    torch default, which counts the padding).
    """

    def __init__(
        self,
        in_channels: int,
        num_channels: int,
        num_blocks: int,
        *,
        shortcut: str = "conv1x1_bn",
        pool_include_padding: bool = False,
    ) -> None:
        super().__init__()
        half = num_channels // 2
        self.stem = conv3x3(in_channels, half, stride=2)
        pad = pool_include_padding
        self.layers = nn.Sequential(
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            ResidualBlock(half),
            ResidualBlock(half, num_channels, stride=2, shortcut=shortcut),
            ResidualBlock(num_channels),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=pad),
            ResidualBlock(num_channels),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=pad),
            *residual_tower(num_channels, num_blocks),
        )

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(observation))


class FullResolutionTrunk(nn.Module):
    """The representation ``h`` for small boards: ``[B, S*C, H, W] -> [B, num_channels, H, W]``.

    conv 3x3 to ``num_channels`` + BN + ReLU, then ``num_blocks`` residual blocks (MuZero's
    board-game representation, Schrittwieser et al. 2020, Appendix F). ``stem`` is named as in
    :class:`DownsampleTrunk` so layout checks read the same weight.
    """

    def __init__(self, in_channels: int, num_channels: int, num_blocks: int) -> None:
        super().__init__()
        self.stem = conv3x3(in_channels, num_channels)
        self.layers = nn.Sequential(
            nn.BatchNorm2d(num_channels),
            nn.ReLU(inplace=True),
            *residual_tower(num_channels, num_blocks),
        )

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(observation))


def reduce_conv(channels: int, reduced_channels: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU: ``[B, C, L, L] -> [B, reduced_channels, L, L]`` before a head's flatten."""
    return nn.Sequential(
        nn.Conv2d(channels, reduced_channels, 1, bias=False),
        nn.BatchNorm2d(reduced_channels),
        nn.ReLU(inplace=True),
    )


class ReducedHead(nn.Module):
    """1x1 conv to ``reduced_channels`` + BN + ReLU, flatten, MLP: ``[B, C, L, L] -> [B, out]``.

    The last linear layer is zero-initialised (Ye et al. 2021, Appendix A): at init every input gives the same
    logits (uniform policy, value expectation 0), so early search is not misled by noise.
    """

    def __init__(
        self, channels: int, reduced_channels: int, cells: int, hidden: int, out_size: int
    ) -> None:
        super().__init__()
        self.reduce = reduce_conv(channels, reduced_channels)
        self.mlp = mlp([reduced_channels * cells, hidden, out_size], nn.BatchNorm1d, zero_last=True)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Always float32 (see :func:`~efficientzero.nets.base.full_precision`)."""
        return full_precision(self._forward, latent)

    def _forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.reduce(latent).flatten(1))


class ResNetNet(EfficientZeroNet):
    """EfficientZero image network (representation, dynamics + value prefix, prediction, projector).

    Args:
        in_channels: stacked input channels ``S * C`` (12 for 4 RGB frames, 4 for gray).
        obs_size: input side ``H = W``, or ``(H, W)``; the latent is ``num_channels x ceil(H / 16)
            x ceil(W / 16)`` (``num_channels x H x W`` with ``downsample=False``).
        num_actions: ``A``, the size of the discrete action set.
        action_dim: ``D`` for continuous actions (D action planes in, a Gaussian's 2D numbers
            out of the policy head; ``nets/sampled.py``), 0 for discrete ones.
    """

    full_precision_heads = ("value_head", "policy_head", "value_prefix_head", "value_prefix_reduce")
    action_codes: torch.Tensor  # 0 .. |A|-1, a buffer compared against for one-hot action planes

    def __init__(
        self,
        in_channels: int,
        obs_size: int | tuple[int, int],
        num_actions: int,
        *,
        num_channels: int = 64,
        num_blocks: int = 1,
        reduced_channels: int = 16,
        head_hidden_size: int = 32,
        lstm_hidden_size: int = 512,
        projection_dim: int = 1024,
        projection_head_dim: int = 512,
        support_size: int = 300,
        use_value_prefix: bool = True,
        scale_latent: bool = False,
        downsample_shortcut: str = "conv1x1_bn",
        pool_include_padding: bool = False,
        downsample: bool = True,
        action_dim: int = 0,
        one_hot_actions: bool = False,
    ) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.action_dim = action_dim
        self.one_hot_actions = one_hot_actions and not action_dim
        self.support_size = support_size
        self.lstm_hidden_size = lstm_hidden_size
        self.use_scale = scale_latent
        height, width = (obs_size, obs_size) if isinstance(obs_size, int) else obs_size
        if downsample:
            height, width = latent_side(height), latent_side(width)
        self.latent_shape = (num_channels, height, width)
        cells = height * width
        out = 2 * support_size + 1

        self.representation: DownsampleTrunk | FullResolutionTrunk
        if downsample:
            self.representation = DownsampleTrunk(
                in_channels,
                num_channels,
                num_blocks,
                shortcut=downsample_shortcut,
                pool_include_padding=pool_include_padding,
            )
        else:
            self.representation = FullResolutionTrunk(in_channels, num_channels, num_blocks)

        # Dynamics (Ye et al. 2021, Appendix A): the action enters as one constant plane a / |A|, and the first conv
        # is residual around the incoming latent, which keeps a short gradient path through the
        # unroll (MuZero's dynamics are a ResNet over the latent for the same reason).
        # Continuous actions enter as D planes, one per action dimension; with one_hot_actions
        # a discrete action enters as |A| planes, 1 on the taken action's (config.action_planes).
        action_planes = action_dim or (num_actions if self.one_hot_actions else 1)
        # The action indices a one-hot plane is compared against, made once and moved with the
        # module (not saved: checkpoints stay as they were).
        self.register_buffer("action_codes", torch.arange(num_actions), persistent=False)
        self.dynamics_conv = conv3x3(num_channels + action_planes, num_channels)
        self.dynamics_bn = nn.BatchNorm2d(num_channels)
        self.dynamics_tower = residual_tower(num_channels, num_blocks)
        self.value_prefix_reduce = reduce_conv(num_channels, reduced_channels)
        self.value_prefix_head = ValuePrefixHead(
            reduced_channels * cells,
            lstm_hidden_size,
            head_hidden_size,
            out,
            nn.BatchNorm1d,
            use_lstm=use_value_prefix,
        )

        self.prediction_tower = residual_tower(num_channels, num_blocks)
        self.value_head = ReducedHead(num_channels, reduced_channels, cells, head_hidden_size, out)
        self.policy_head = ReducedHead(
            num_channels,
            reduced_channels,
            cells,
            head_hidden_size,
            2 * action_dim if action_dim else num_actions,
        )

        # SimSiam projector and predictor (Ye et al. 2021, §4.1 and Appendix A):
        # 2304 -> 1024 -> 1024 -> 1024 ending in BatchNorm (as SimSiam and the reference code),
        # then 1024 -> 512 -> 1024 on the online branch only.
        flat = num_channels * cells
        self.projector = mlp(
            [flat, projection_dim, projection_dim, projection_dim], nn.BatchNorm1d, final_norm=True
        )
        self.projection_head = mlp(
            [projection_dim, projection_head_dim, projection_dim], nn.BatchNorm1d
        )

    @classmethod
    def from_config(
        cls, config: Config, frame_shape: tuple[int, ...], num_actions: int, action_dim: int = 0
    ) -> ResNetNet:
        """The network for ``config`` and frames of shape ``(C, H, W)`` (one frame, before stacking)."""
        channels, height, width = frame_shape
        return cls(
            channels * config.frame_stack,
            (height, width),
            num_actions,
            num_channels=config.num_channels,
            num_blocks=config.num_blocks,
            reduced_channels=config.reduced_channels,
            head_hidden_size=config.head_hidden_size,
            lstm_hidden_size=config.lstm_hidden_size,
            projection_dim=config.projection_dim,
            projection_head_dim=config.projection_head_dim,
            support_size=config.support_size,
            use_value_prefix=config.use_value_prefix,
            scale_latent=config.scale_latent,
            downsample_shortcut=config.downsample_shortcut,
            pool_include_padding=config.pool_include_padding,
            downsample=wants_downsampling(config.downsample, height, width),
            action_dim=action_dim,
            one_hot_actions=config.action_planes == "one_hot",
        )

    @property
    def channels_last(self) -> bool:
        """Whether the convolution weights are channels-last (``net.to(memory_format=...)``)."""
        weight = self.representation.stem.weight
        return (
            weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
        )

    def to_channels_last(self) -> ResNetNet:
        """Convert the convolution weights to channels-last in place (worth it on tensor-core GPUs).

        The same as ``net.to(memory_format=torch.channels_last)``, which torch's type stubs omit.
        """
        return self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def _finish(self, latent: torch.Tensor) -> torch.Tensor:
        return self.scale_latent(latent) if self.use_scale else latent

    def represent(self, observation: torch.Tensor) -> torch.Tensor:
        """Observation ``[B, S*C, H, W]`` in [0, 1] -> latent ``[B, num_channels, L, L]``."""
        if self.channels_last:
            observation = observation.contiguous(memory_format=torch.channels_last)
        return self._finish(self.representation(observation))

    def transition(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(latent ``[B, C, L, L]``, action ``[B]``) -> next latent ``[B, C, L, L]``."""
        batch, _, height, width = latent.shape
        if self.action_dim:
            planes = action.to(latent.dtype).view(batch, self.action_dim, 1, 1)
        elif self.one_hot_actions:
            # A comparison, not F.one_hot: its range check reads the device (no CUDA graphs).
            planes = torch.eq(action.view(batch, 1), self.action_codes).to(latent.dtype)
            planes = planes.view(batch, -1, 1, 1)
        else:
            planes = (action.to(latent.dtype) / self.num_actions).view(batch, 1, 1, 1)
        x = torch.cat([latent, planes.expand(batch, -1, height, width)], dim=1)
        x = torch.relu(self.dynamics_bn(self.dynamics_conv(x)) + latent)
        return self._finish(self.dynamics_tower(x))

    def value_prefix(
        self, next_latent: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState]:
        """(next latent, LSTM state) -> (value-prefix logits ``[B, 2S+1]`` float32, next state)."""
        features = full_precision(self.value_prefix_reduce, next_latent).flatten(1)
        return self.value_prefix_head(features, state)

    def predict(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent ``[B, C, L, L]`` -> (value logits ``[B, 2S+1]``, policy logits ``[B, A]``)."""
        x = self.prediction_tower(latent)
        return self.value_head(x), self.policy_head(x)

    def project(self, latent: torch.Tensor, with_head: bool = True) -> torch.Tensor:
        """Latent ``[B, C, L, L]`` -> projection ``[B, projection_dim]`` (online branch: ``with_head``)."""
        projection = self.projector(latent.flatten(1))
        return self.projection_head(projection) if with_head else projection
