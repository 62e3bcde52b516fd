"""Networks: support transforms, the EfficientZero network families and the search adapter."""

from __future__ import annotations

import torch

from efficientzero.config import Config, ConfigError
from efficientzero.nets.base import EfficientZeroNet
from efficientzero.nets.inference import InferenceModel, stack_frames
from efficientzero.nets.mlp import MLPNet


def network_kind(config: Config, frame_shape: tuple[int, ...]) -> str:
    """ "mlp" or "resnet": the family ``config.network`` picks for frames of ``frame_shape``.

    Raises ConfigError when the family cannot take such frames (checked before a run starts).
    """
    kind = config.network
    if kind == "auto":
        kind = "mlp" if len(frame_shape) == 1 else "resnet"
    if kind == "mlp" and len(frame_shape) != 1:
        raise ConfigError(
            f"network 'mlp' needs vector observations, got image frames of shape {frame_shape}; "
            "use --network resnet (the default for images)"
        )
    if kind == "resnet":
        from efficientzero.nets.resnet import MIN_SIDE

        if len(frame_shape) != 3:
            raise ConfigError(
                f"network 'resnet' needs image observations (C, H, W), got frames of shape "
                f"{frame_shape}; use --network mlp"
            )
        if min(frame_shape[1:]) < MIN_SIDE:
            raise ConfigError(
                f"frames of {frame_shape[1]}x{frame_shape[2]} are too small for the convolutional "
                f"networks (each side must be at least {MIN_SIDE}); resize them with a wrapper, or "
                "flatten them and use --network mlp"
            )
    return kind


def build_network(
    config: Config, frame_shape: tuple[int, ...], num_actions: int
) -> EfficientZeroNet:
    """The network for ``config`` given one frame's shape (``(D,)`` or ``(C, H, W)``)."""
    if network_kind(config, frame_shape) == "mlp":
        return MLPNet(
            frame_shape[0] * config.frame_stack,
            num_actions,
            latent_dim=config.latent_dim,
            hidden_size=config.hidden_size,
            head_hidden_size=config.head_hidden_size,
            lstm_hidden_size=config.lstm_hidden_size,
            projection_dim=config.projection_dim,
            projection_head_dim=config.projection_head_dim,
            support_size=config.support_size,
            use_value_prefix=config.use_value_prefix,
            scale_latent=config.scale_latent,
        )
    from efficientzero.nets.resnet import ResNetNet

    net = ResNetNet.from_config(config, frame_shape, num_actions)
    return net.to_channels_last() if config.channels_last else net


def build_inference(
    config: Config,
    frame_shape: tuple[int, ...],
    num_actions: int,
    weights: dict[str, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> InferenceModel:
    """An eval-mode network for search (self-play, reanalysis, evaluation, a loaded agent) on
    ``device``, holding ``weights`` (a fresh initialisation when None).

    Raises RuntimeError (torch's) when ``weights`` do not fit the config's network.
    """
    net = build_network(config, frame_shape, num_actions).to(device)
    if weights is not None:
        net.load_state_dict(weights)
    return InferenceModel(
        net,
        lstm_horizon_len=config.lstm_horizon_len,
        use_value_prefix=config.use_value_prefix,
        mixed_precision=config.mixed_precision,
    )


__all__ = [
    "EfficientZeroNet",
    "InferenceModel",
    "MLPNet",
    "build_inference",
    "build_network",
    "network_kind",
    "stack_frames",
]
