"""The network seen by the search: scalar values, value-prefix rewards and the LSTM horizon reset.

EfficientZero specifics live here, behind the search contract (``efficientzero.types``): a
node's embedding is ``(latent, lstm_h, lstm_c, value_prefix, depth)``. The edge reward is
``value_prefix(child) - value_prefix(parent)``, or ``value_prefix(child)`` when the parent is a
reset node; every ``lstm_horizon_len`` steps of depth (counted from the root, which is a reset
node) the LSTM state handed to the children is zeroed (Ye et al. 2021, §4.2 and Appendix A). Without the value prefix the
embedding is ``(latent,)`` and the reward head's prediction is the reward.
"""

from __future__ import annotations

import contextlib

import torch

from efficientzero.nets.base import (
    EfficientZeroNet,
    bf16_autocast,
    bf16_supported,
    cast_trunk_to_bf16,
)
from efficientzero.nets.folding import FoldedNetwork
from efficientzero.nets.support import support_to_scalar
from efficientzero.types import Embedding, RecurrentOutput, RootOutput


def stack_frames(frames: torch.Tensor) -> torch.Tensor:
    """Frames ``[B, S, *F]`` -> float network input ``[B, S*C, H, W]`` (images, /255) or ``[B, S*D]``."""
    if frames.dtype == torch.uint8:
        return (
            frames.flatten(1, 2).float().div_(255.0)
            if frames.dim() == 5
            else frames.flatten(1).float() / 255.0
        )
    return frames.flatten(1, 2).float() if frames.dim() == 5 else frames.flatten(1).float()


class InferenceModel:
    """Wraps an ``EfficientZeroNet`` (in eval mode, no gradients) for acting, search and reanalysis.

    Weights are loaded into ``net`` (``model.net.load_state_dict``). With ``example`` (frames
    ``[B, S, *F]`` and actions ``[B]`` or ``[B, action_dim]`` that run the root and a recurrent
    step) and no bf16 inference, the search runs a copy of ``net`` with its batch norms folded
    into the layers that feed them (``nets/folding.py``), refolded on every load.
    """

    def __init__(
        self,
        net: EfficientZeroNet,
        *,
        lstm_horizon_len: int,
        use_value_prefix: bool = True,
        mixed_precision: bool = False,
        bf16_weights: bool = True,
        example: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        # Inference only: no parameter needs a gradient (and autocast then caches no weight
        # casts, which a captured CUDA graph could not hold; search/graph.py).
        self.net = net.eval().requires_grad_(False)
        self.horizon = lstm_horizon_len
        self.use_value_prefix = use_value_prefix
        self.device = next(net.parameters()).device
        self.mixed_precision = mixed_precision and bf16_supported(self.device)
        if self.mixed_precision and bf16_weights:  # cast once, not by autocast on every call
            cast_trunk_to_bf16(self.net, net.full_precision_heads)
        self.folding: FoldedNetwork | None = None
        if example is not None and not self.mixed_precision:
            frames, actions = (t.to(self.device) for t in example)

            def exercise(module: torch.nn.Module) -> tuple[RootOutput, RecurrentOutput]:
                assert isinstance(module, EfficientZeroNet)
                root = self._root(module, frames)
                return root, self._recurrent(module, root.embedding, actions)

            self.folding = FoldedNetwork.of(self.net, exercise)

    @property
    def search_net(self) -> EfficientZeroNet:
        """The network root and recurrent run: ``net``, or its folded copy."""
        return self.folding.active if self.folding is not None else self.net  # type: ignore[return-value]

    def _autocast(self) -> contextlib.AbstractContextManager:
        return bf16_autocast(self.device, self.mixed_precision)

    @torch.inference_mode()
    def root(self, frames: torch.Tensor) -> RootOutput:
        """Root output for stacked frames ``[B, S, *F]`` (any device; moved to the model's)."""
        return self._root(self.search_net, frames)

    @torch.inference_mode()
    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        return self._recurrent(self.search_net, embedding, action)

    def _root(self, net: EfficientZeroNet, frames: torch.Tensor) -> RootOutput:
        frames = frames.to(self.device, non_blocking=True)
        with self._autocast():
            latent = net.represent(stack_frames(frames))
            value_logits, policy_logits = net.predict(latent)
        batch = latent.shape[0]
        value = support_to_scalar(value_logits, net.support_size)
        embedding: Embedding
        if self.use_value_prefix:
            h, c = net.initial_lstm_state(batch, self.device)
            zeros = torch.zeros(batch, device=self.device)
            depth = torch.zeros(batch, dtype=torch.int64, device=self.device)
            embedding = (latent.float(), h, c, zeros, depth)
        else:
            embedding = (latent.float(),)
        return RootOutput(prior_logits=policy_logits.float(), value=value, embedding=embedding)

    def _recurrent(
        self, net: EfficientZeroNet, embedding: Embedding, action: torch.Tensor
    ) -> RecurrentOutput:
        if not self.use_value_prefix:
            (latent,) = embedding
            with self._autocast():
                state = net.initial_lstm_state(latent.shape[0], self.device)
                next_latent, _, reward_logits = net.dynamics(latent, action, state)
                value_logits, policy_logits = net.predict(next_latent)
            reward = support_to_scalar(reward_logits, net.support_size)
            value = support_to_scalar(value_logits, net.support_size)
            return RecurrentOutput(reward, value, policy_logits.float(), (next_latent.float(),))

        latent, h, c, parent_prefix, depth = embedding
        with self._autocast():
            next_latent, (h, c), prefix_logits = net.dynamics(latent, action, (h, c))
            value_logits, policy_logits = net.predict(next_latent)
        prefix = support_to_scalar(prefix_logits, net.support_size)
        parent_is_reset = depth % self.horizon == 0
        reward = prefix - torch.where(
            parent_is_reset, torch.zeros_like(parent_prefix), parent_prefix
        )
        child_depth = depth + 1
        keep = (child_depth % self.horizon != 0).unsqueeze(1).to(h.dtype)
        value = support_to_scalar(value_logits, net.support_size)
        next_embedding = (
            next_latent.float(),
            h.float() * keep,
            c.float() * keep,
            prefix,
            child_depth,
        )
        return RecurrentOutput(reward, value, policy_logits.float(), next_embedding)
