"""The learner: optimizer, learning-rate schedule, one update per batch, the target network.

Optimisation as in Ye et al. 2021, Appendix A (SGD, momentum 0.9, weight decay 1e-4, lr 0.2 with
warm-up and a x0.1 step, gradient-norm clip 5); docs/fidelity.md lists the reference code's
variants (warm-up length and formula, decay step, target-network lag).

It knows nothing about replay or distribution: ``step(batch)`` returns metrics and the new
priorities of the batch's positions; the caller writes them back to replay (Acme's pattern).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from efficientzero.config import Config
from efficientzero.losses import LossWeights, compute_loss
from efficientzero.nets.base import EfficientZeroNet, bf16_supported, cpu_bf16_supported
from efficientzero.nets.sampled import SampledPolicyLoss
from efficientzero.types import Batch

logger = logging.getLogger(__name__)


def learning_rate(config: Config, updates: int) -> float:
    """The learning rate of update ``updates`` (0-based) under ``config.lr_schedule``.

    "paper": ``lr (u + 1) / W`` during the W warm-up updates, then ``lr``, and ``lr x
    lr_decay_rate`` from ``lr_decay_updates`` on. "reference" (the EfficientZero code):
    ``lr u / W`` during warm-up, then ``lr x lr_decay_rate ** ((u - W) // lr_decay_updates)``.
    """
    lr = config.lr
    warmup = config.warmup_updates
    if config.lr_schedule == "reference":
        if updates < warmup:
            return lr * updates / warmup
        return lr * config.lr_decay_rate ** ((updates - warmup) // config.lr_decay_updates)
    if updates < warmup:
        return lr * (updates + 1) / warmup
    if updates >= config.lr_decay_updates:
        return lr * config.lr_decay_rate
    return lr


def make_optimizer(config: Config, net: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD or Adam over ``net``'s parameters, with torch's fused kernels (one kernel per update
    for all tensors instead of a dozen small ops per tensor) where the parameters' device has them.
    """
    params = list(net.parameters())
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            fused=fused,
        )
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


def cpu_state_dict(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the weights (what self-play and the target network receive)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


class TargetNetwork:
    """Which weights the target network gets at each refresh (every ``interval`` updates).

    ``lag="copy"``: the current weights, so the target is 0..interval updates old. ``"previous"``
    (the reference code): the weights saved at the previous refresh (the initial ones at the
    first), so it is interval..2 x interval updates old.
    """

    def __init__(
        self, interval: int, lag: str, initial: dict[str, torch.Tensor] | None = None
    ) -> None:
        self.interval = interval
        self.lag = lag
        self.saved = initial

    def refresh(
        self, updates: int, current: Callable[[], dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor] | None:
        """The weights to install after update ``updates`` (None: no refresh is due)."""
        if updates % self.interval != 0:
            return None
        weights = current()
        if self.lag == "copy":
            return weights
        installed = self.saved if self.saved is not None else weights
        self.saved = weights
        return installed

    def state_dict(self) -> dict[str, torch.Tensor] | None:
        """The weights saved for the next refresh (None with ``lag="copy"``)."""
        return self.saved if self.lag == "previous" else None

    def load_state_dict(self, saved: dict[str, torch.Tensor] | None) -> None:
        if saved is not None:
            self.saved = saved


class Learner:
    def __init__(self, config: Config, net: EfficientZeroNet, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.net = net.to(device).train()
        self.optimizer = make_optimizer(config, self.net)
        self.updates = 0
        self.loss_weights = LossWeights(
            config.value_prefix_coef, config.value_coef, config.policy_coef, config.consistency_coef
        )
        self.augment: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.policy_loss = (
            SampledPolicyLoss(net.action_dim, config.policy_entropy_coef)
            if net.action_dim
            else None
        )
        self.mixed_precision = config.mixed_precision and bf16_supported(device)
        if device.type == "cpu" and config.cpu_mixed_precision:
            self.mixed_precision = cpu_bf16_supported()
            if not self.mixed_precision:
                logger.warning(
                    "cpu_mixed_precision: this CPU has no native bf16 (Intel AMX), where bf16 "
                    "is slower than fp32; the learner stays fp32"
                )
        # Compiled once per learner; the batch's shapes are fixed, so one graph serves the run.
        self.loss_fn = torch.compile(compute_loss, dynamic=False) if config.compile_loss else None
        self.compiled = False

    def step(self, batch: Batch) -> tuple[dict[str, float], np.ndarray]:
        """One gradient update; returns (metrics, new priorities [B])."""
        c = self.config
        lr = learning_rate(c, self.updates)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.augment is None and c.augment and batch.frames.dim() == 5:
            from efficientzero.nets.augment import augment_frames

            self.augment = augment_frames
        with self._autocast():
            loss, metrics, priorities = self._loss(
                self.net,
                batch,
                frame_stack=c.frame_stack,
                lstm_horizon_len=c.lstm_horizon_len,
                weights=self.loss_weights,
                use_consistency=c.use_consistency,
                augment=self.augment,
                augment_targets_per_sequence=c.target_augmentation == "per_sequence",
                policy_loss_fn=self.policy_loss,
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        metrics["lr"] = lr
        metrics["grad_norm"] = float(grad_norm)
        return metrics, priorities.detach().float().cpu().numpy()

    def _autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast where ``mixed_precision`` (a GPU with native bf16) or
        ``cpu_mixed_precision`` (a CPU with AMX) turned it on; nothing otherwise."""
        if self.mixed_precision:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _loss(
        self, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """``compute_loss``, compiled with ``compile_loss``; a compile that fails names the way out."""
        if self.loss_fn is None:
            return compute_loss(*args, **kwargs)
        if self.compiled:
            return self.loss_fn(*args, **kwargs)
        try:
            out = self.loss_fn(*args, **kwargs)
        except Exception as error:
            compute_loss(*args, **kwargs)  # an error of the loss itself is raised here, as is
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise RuntimeError(
                f"compile_loss: torch.compile failed ({type(error).__name__}: {first}); "
                "train with --compile-loss False, or install a C++ compiler (torch's CPU backend "
                "needs one)"
            ) from error
        self.compiled = True
        return out

    def weights(self) -> dict[str, torch.Tensor]:
        return cpu_state_dict(self.net)

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
