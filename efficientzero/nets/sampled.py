"""Continuous actions: the squashed-Gaussian policy, sampled children and their policy targets.

A Box action space (rescaled to [-1, 1]^D by the environment wrapper) is searched over K
actions sampled at every node (Hubert et al. 2021, "Learning and planning in complex action
spaces", Sampled MuZero; EfficientZero V2, Wang et al. 2024, §4). The policy head outputs
2D numbers per state: the mean and the raw standard deviation of a Gaussian over u in R^D; an
action is tanh(u). The search contract is unchanged: a node's K children are its samples, the
slot index is the "action" the tree sees, and the samples ride in the node's embedding (its
last tensor, ``[B, K, D]``), so the model turns a parent's slot into the action vector itself.

Prior over a node's samples, Sampled MuZero's rule: the samples come from a proposal beta, and
the prior of sample k is proportional to pi(a_k) / beta(a_k) (for distinct samples, beta-hat
is 1/K each). Interior nodes draw from pi itself (uniform prior); the root draws
``policy_std`` samples from pi and the rest at ``wide_std`` times its standard deviation
(EfficientZero V2's root), so beta is that mixture. The root is chosen by Gumbel top-k and
sequential halving (``search_algorithm = "gumbel"``, the ``continuous`` presets) or by pUCT.

Policy targets are stored per position as one flat record, ``[K]`` weights then ``[K, D]``
sampled actions (:func:`pack_policy`), so replay, reanalysis and batches carry them like the
discrete ``[A]`` policies. The policy loss is the cross-entropy between the weights and the
policy's log-density at the samples, -sum_k w_k log pi(a_k | s) (Sampled MuZero, §4), minus
``entropy_coef`` times the pre-squash Gaussian's entropy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from efficientzero.nets.inference import InferenceModel
from efficientzero.types import Embedding, RecurrentOutput, RootOutput

MIN_STD = 1e-3
"""Smallest standard deviation of the pre-squash Gaussian."""
_EDGE = 1.0 - 1e-6
"""Actions are clipped to [-_EDGE, _EDGE] before atanh (tanh(u) rounds to 1 in float32)."""
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def split_params(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Policy head output ``[..., 2D]`` -> (mean ``[..., D]``, standard deviation ``[..., D]``).

    std = softplus(raw) + MIN_STD: a zero-initialised head starts at mean 0, std 0.69.
    """
    mean, raw = params.float().chunk(2, dim=-1)
    return mean, F.softplus(raw) + MIN_STD


def gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(u; mean, diag(std^2)) summed over the last axis (broadcasting)."""
    z = (u - mean) / std
    return (-0.5 * z * z - std.log() - _LOG_SQRT_2PI).sum(-1)


def squashed_log_prob(actions: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log density of tanh(u), u ~ N(mean, std), at ``actions`` in (-1, 1)^D -> ``[...]``.

    log pi(a) = log N(atanh(a)) - sum_d log(1 - a_d^2) (the change of variables).
    """
    a = actions.float().clamp(-_EDGE, _EDGE)
    u = torch.atanh(a)
    return gaussian_log_prob(u, mean, std) - torch.log1p(-a * a).sum(-1)


def gaussian_entropy(std: torch.Tensor) -> torch.Tensor:
    """Entropy of N(mean, diag(std^2)) -> ``[...]`` (summed over the last axis)."""
    return (std.log() + 0.5 + _LOG_SQRT_2PI).sum(-1)


def sample_actions(
    mean: torch.Tensor,
    std: torch.Tensor,
    num_samples: int,
    policy_std: int,
    wide_std: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(actions ``[B, K, D]``, prior logits ``[B, K]``) for B states.

    The first ``policy_std`` samples are drawn at ``std``, the rest at ``wide_std * std``
    (pre-squash); prior logits are log pi(u_k) - log beta(u_k) with beta the mixture that drew
    them (0 for every sample when all come from pi). The tanh Jacobian is the same under pi
    and beta, so the ratio is taken on u.
    """
    batch, dims = mean.shape
    scale = torch.ones(num_samples, 1, device=mean.device)
    scale[policy_std:] = wide_std
    noise = torch.randn(batch, num_samples, dims, device=mean.device)
    u = mean[:, None] + std[:, None] * scale * noise
    actions = torch.tanh(u)
    if policy_std >= num_samples or wide_std == 1.0:
        return actions, torch.zeros(batch, num_samples, device=mean.device)
    share = policy_std / num_samples
    log_pi = gaussian_log_prob(u, mean[:, None], std[:, None])
    log_wide = gaussian_log_prob(u, mean[:, None], wide_std * std[:, None])
    log_beta = torch.logaddexp(
        log_pi + math.log(share) if share > 0 else torch.full_like(log_pi, -math.inf),
        log_wide + math.log(1.0 - share),
    )
    return actions, log_pi - log_beta


def pack_policy(weights: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Policy record ``[B, K * (1 + D)]`` float32: the K weights ``[B, K]``, then the K x D
    sampled actions ``[B, K, D]``."""
    flat = actions.reshape(len(actions), -1)
    return np.concatenate([weights, flat], axis=1).astype(np.float32, copy=False)


def unpack_policy(record: torch.Tensor, action_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_policy`: (weights ``[..., K]``, actions ``[..., K, D]``)."""
    num_samples = record.shape[-1] // (1 + action_dim)
    weights = record[..., :num_samples]
    actions = record[..., num_samples:].unflatten(-1, (num_samples, action_dim))
    return weights, actions


def policy_record_size(num_samples: int, action_dim: int) -> int:
    return num_samples * (1 + action_dim)


class SampledPolicyLoss:
    """Policy loss of a continuous policy against stored (weights, sampled actions) records."""

    def __init__(self, action_dim: int, entropy_coef: float) -> None:
        self.action_dim = action_dim
        self.entropy_coef = entropy_coef

    def __call__(self, params: torch.Tensor, record: torch.Tensor) -> torch.Tensor:
        """``params`` [B, 2D] policy head output, ``record`` [B, K(1+D)] -> loss [B]."""
        weights, actions = unpack_policy(record, self.action_dim)
        mean, std = split_params(params)
        log_prob = squashed_log_prob(actions, mean[:, None], std[:, None])  # [B, K]
        loss = -(weights * log_prob).sum(-1)
        if self.entropy_coef > 0.0:
            loss = loss - self.entropy_coef * gaussian_entropy(std)
        return loss


class SampledInferenceModel:
    """An :class:`InferenceModel` for continuous actions: K sampled children per node.

    ``root`` and ``recurrent`` return prior logits over the node's K samples and append the
    samples ``[B, K, D]`` to the embedding; ``recurrent`` reads the parents' samples to turn the
    tree's slot indices into action vectors. Sampling uses torch's global generator (seeded by
    the run).
    """

    def __init__(
        self,
        base: InferenceModel,
        *,
        action_dim: int,
        num_samples: int,
        policy_std_samples: int,
        wide_std: float,
    ) -> None:
        self.base = base
        self.net = base.net
        self.device = base.device
        self.action_dim = action_dim
        self.num_samples = num_samples
        self.policy_std_samples = policy_std_samples
        self.wide_std = wide_std

    @torch.inference_mode()
    def root(self, frames: torch.Tensor) -> RootOutput:
        out = self.base.root(frames)
        mean, std = split_params(out.prior_logits)
        actions, logits = sample_actions(
            mean, std, self.num_samples, self.policy_std_samples, self.wide_std
        )
        return RootOutput(
            prior_logits=logits,
            value=out.value,
            embedding=(*out.embedding, actions),
            actions=actions,
        )

    @torch.inference_mode()
    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        *state, samples = embedding
        rows = torch.arange(samples.shape[0], device=samples.device)
        vectors = samples[rows, action.to(samples.device)]
        out = self.base.recurrent(tuple(state), vectors)
        mean, std = split_params(out.prior_logits)
        children, logits = sample_actions(mean, std, self.num_samples, self.num_samples, 1.0)
        return RecurrentOutput(out.reward, out.value, logits, (*out.embedding, children))
