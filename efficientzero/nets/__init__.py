"""Networks: support transforms, the EfficientZero network families and the search adapter."""

from __future__ import annotations

import torch

from efficientzero.config import Config, ConfigError
from efficientzero.nets.base import EfficientZeroNet
from efficientzero.nets.inference import InferenceModel, stack_frames
from efficientzero.nets.mlp import MLPNet
from efficientzero.nets.sampled import SampledInferenceModel

AgentModel = InferenceModel | SampledInferenceModel
"""The eval-mode network that acts, searches and reanalyses (``build_inference``)."""


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
    config: Config, frame_shape: tuple[int, ...], num_actions: int, action_dim: int = 0
) -> EfficientZeroNet:
    """The network for ``config`` given one frame's shape (``(D,)`` or ``(C, H, W)``);
    ``action_dim`` > 0 for continuous actions of that many dimensions."""
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
            action_dim=action_dim,
        )
    from efficientzero.nets.resnet import ResNetNet

    net = ResNetNet.from_config(config, frame_shape, num_actions, action_dim)
    return net.to_channels_last() if config.channels_last else net


def example_inputs(
    config: Config, frame_shape: tuple[int, ...], num_actions: int, action_dim: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random stacked frames ``[4, S, *F]`` and actions for one root and one recurrent step
    (what batch-norm folding runs the network on; a fixed seed, so every model gets the same)."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand((4, config.frame_stack, *frame_shape), generator=generator)
    if action_dim:
        return frames, torch.rand((4, action_dim), generator=generator) * 2 - 1
    return frames, torch.randint(num_actions, (4,), generator=generator)


def build_inference(
    config: Config,
    frame_shape: tuple[int, ...],
    num_actions: int,
    weights: dict[str, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
    action_dim: int = 0,
) -> InferenceModel | SampledInferenceModel:
    """An eval-mode network for search (self-play, reanalysis, evaluation, a loaded agent) on
    ``device``, holding ``weights`` (a fresh initialisation when None); for continuous actions
    (``action_dim`` > 0) the sampled-search model of ``nets/sampled.py``.

    Raises RuntimeError (torch's) when ``weights`` do not fit the config's network.
    """
    net = build_network(config, frame_shape, num_actions, action_dim).to(device)
    if weights is not None:
        net.load_state_dict(weights)
    model = InferenceModel(
        net,
        lstm_horizon_len=config.lstm_horizon_len,
        use_value_prefix=config.use_value_prefix,
        mixed_precision=config.mixed_precision,
        bf16_weights=config.inference_bf16_weights,
        example=example_inputs(config, frame_shape, num_actions, action_dim)
        if config.fold_batch_norms
        else None,
    )
    if not action_dim:
        return model
    return SampledInferenceModel(
        model,
        action_dim=action_dim,
        num_samples=num_actions,
        policy_std_samples=config.sampled_policy_std_actions,
        wide_std=config.sampled_wide_std,
    )


__all__ = [
    "AgentModel",
    "EfficientZeroNet",
    "InferenceModel",
    "MLPNet",
    "SampledInferenceModel",
    "build_inference",
    "build_network",
    "network_kind",
    "stack_frames",
]
