"""The EfficientZero loss: value prefix, value, policy, consistency; returns priorities.

L = sum_k [ c_vp CE(value prefix) + c_v CE(value) + c_p CE(policy) + c_c consistency ] per sample
(Ye et al. 2021, Appendix A: weights 1, 0.25, 1, 2), weighted by importance weights,
averaged over the batch and scaled by 1 / K (reference code). The gradient flowing back into
each unrolled latent is halved (MuZero, Schrittwieser et al. 2020, Appendix G): the scale sits
on the latent the dynamics return, before *every* use of it — value prefix, value, policy,
projection and the next dynamics step — as the reference code's gradient hook does.
Consistency (§4.1) is the negative cosine similarity between the online projection (with
prediction head) of the unrolled latent and the stop-gradient projection (no head) of the
representation of the real observation t+k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from efficientzero.nets.base import EfficientZeroNet
from efficientzero.nets.inference import stack_frames
from efficientzero.nets.support import scalar_to_support, support_to_scalar
from efficientzero.types import Batch


@dataclass(frozen=True)
class LossWeights:
    value_prefix: float = 1.0
    value: float = 0.25
    policy: float = 1.0
    consistency: float = 2.0


PolicyLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(policy head output [B, *], policy target [B, *]) -> per-sample loss [B]."""


def _scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x * scale + x.detach() * (1.0 - scale)


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits.float(), dim=-1)).sum(-1)


def _observation(frames: torch.Tensor, k: int, stack: int) -> torch.Tensor:
    return stack_frames(frames[:, k : k + stack])


def compute_loss(
    net: EfficientZeroNet,
    batch: Batch,
    *,
    frame_stack: int,
    lstm_horizon_len: int,
    weights: LossWeights,
    use_consistency: bool = True,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    augment_targets_per_sequence: bool = False,
    policy_loss_fn: PolicyLoss | None = None,
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """(scalar loss, metrics, new priorities [B]) for one batch; ``net`` in train mode.

    ``augment`` draws once per leading index of its input: the online observation gets one
    draw per sample; the K consistency targets one draw each, or with
    ``augment_targets_per_sequence`` one draw per sample shared by its K targets.
    ``policy_loss_fn`` (policy head output [B, *], target [B, *]) -> [B] replaces the
    cross-entropy of discrete policies (continuous actions: ``nets.sampled.SampledPolicyLoss``).
    """
    B, K = batch.actions.shape[:2]
    _policy_loss = policy_loss_fn or _cross_entropy
    S = frame_stack
    support = net.support_size
    aug = augment or (lambda x: x)

    latent = net.represent(aug(_observation(batch.frames, 0, S)))
    value_logits, policy_logits = net.predict(latent)
    value_0 = support_to_scalar(value_logits.detach(), support)

    value_target = scalar_to_support(batch.target_values, support)  # [B, K+1, 2S+1]
    prefix_target = scalar_to_support(batch.target_value_prefixes, support)  # [B, K, 2S+1]
    value_mask = batch.value_mask
    mask = batch.mask
    consistency_mask = batch.consistency_mask

    value_loss = _cross_entropy(value_logits, value_target[:, 0]) * value_mask[:, 0]
    policy_loss = _policy_loss(policy_logits, batch.target_policies[:, 0]) * mask[:, 0]
    prefix_loss = torch.zeros(B, device=latent.device)
    consistency_loss = torch.zeros(B, device=latent.device)

    if use_consistency:
        with torch.no_grad():
            target_obs = torch.stack([_observation(batch.frames, k, S) for k in range(1, K + 1)], 1)
            if augment_targets_per_sequence and target_obs.dim() == 5:  # [B, K, S*C, H, W]
                target_obs = aug(target_obs.flatten(1, 2)).view(target_obs.shape)
                target_obs = target_obs.flatten(0, 1)
            else:
                target_obs = aug(target_obs.flatten(0, 1))
            target_proj = net.project(net.represent(target_obs), with_head=False).view(B, K, -1)

    state = net.initial_lstm_state(B, latent.device)
    for k in range(1, K + 1):
        latent = _scale_gradient(net.transition(latent, batch.actions[:, k - 1]), 0.5)
        prefix_logits, state = net.value_prefix(latent, state)
        if k % lstm_horizon_len == 0:  # horizon reset, aligned with the search
            state = (torch.zeros_like(state[0]), torch.zeros_like(state[1]))
        value_logits, policy_logits = net.predict(latent)
        value_loss = (
            value_loss + _cross_entropy(value_logits, value_target[:, k]) * value_mask[:, k]
        )
        policy_loss = (
            policy_loss + _policy_loss(policy_logits, batch.target_policies[:, k]) * mask[:, k]
        )
        prefix_loss = (
            prefix_loss + _cross_entropy(prefix_logits, prefix_target[:, k - 1]) * value_mask[:, k]
        )
        if use_consistency:
            online = net.project(latent, with_head=True)
            cosine = F.cosine_similarity(online.float(), target_proj[:, k - 1].float(), dim=-1)
            consistency_loss = consistency_loss - cosine * consistency_mask[:, k]

    per_sample = (
        weights.value_prefix * prefix_loss
        + weights.value * value_loss
        + weights.policy * policy_loss
        + weights.consistency * consistency_loss
    )
    loss = (batch.weights * per_sample).mean() / K
    priorities = (value_0 - batch.target_values[:, 0]).abs()
    names = (
        "loss",
        "value_prefix_loss",
        "value_loss",
        "policy_loss",
        "consistency_loss",
        "value_0",
        "target_value_0",
    )
    values = torch.stack(
        [
            loss.detach(),
            prefix_loss.detach().mean(),
            value_loss.detach().mean(),
            policy_loss.detach().mean(),
            consistency_loss.detach().mean(),
            value_0.mean(),
            batch.target_values[:, 0].mean(),
        ]
    ).tolist()  # one device sync for all metrics
    return loss, dict(zip(names, values)), priorities
