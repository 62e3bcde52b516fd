"""The network contract shared by the MLP (vector) and ResNet (image) EfficientZero networks.

Roles (Ye et al. 2021, §3 and Appendix A): representation ``h`` (observation -> latent),
dynamics ``g`` (latent, action -> next latent: ``transition``; plus the value prefix predicted by
an LSTM over the unrolled latents: ``value_prefix``), prediction ``f`` (latent -> value logits,
policy logits) and the consistency projector (latent -> projection, plus a prediction head on the
online branch only; §4.1, after SimSiam).

Heads run in float32 even under autocast (:func:`full_precision`): value, value-prefix and
policy logits over a 601-bin support rounded to bf16 move the scalar expectation by 0.02–0.07,
the size of the gaps between sibling Q values in the search (docs/fidelity.md, item 3).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def full_precision(fn: Callable[..., T], *inputs: torch.Tensor) -> T:
    """``fn(*inputs)`` in float32 with autocast off (a no-op cost when autocast is off)."""
    if not torch.is_autocast_enabled(inputs[0].device.type):
        return fn(*inputs)
    with torch.autocast(inputs[0].device.type, enabled=False):
        return fn(*(x.float() for x in inputs))


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with native bf16 (compute capability 8.0 and up); older
    GPUs would emulate it slowly, so ``mixed_precision`` stays fp32 there."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def cpu_bf16_supported() -> bool:
    """Whether this CPU multiplies bf16 matrices natively: Intel AMX, as torch detects it (the
    check is private to torch, so a torch without it answers no). Elsewhere oneDNN emulates
    bf16, which is slower than fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe is not None and probe())


def bf16_autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA GPU with native bf16 when ``enabled`` (``mixed_precision``);
    nothing otherwise."""
    if enabled and bf16_supported(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cast_trunk_to_bf16(net: nn.Module, heads: tuple[str, ...]) -> nn.Module:
    """``net`` with the weights of its convolution and linear layers in bf16, except inside the
    submodules named in ``heads`` (which run in float32, :func:`full_precision`); norms stay fp32.

    Under bf16 autocast the results are the same as with fp32 weights: autocast would cast
    each of those weights to bf16 on every call, and ``load_state_dict`` rounds fp32 weights
    into these bf16 parameters the same way. For inference networks only (no optimizer).
    """
    skip = {id(m) for name in heads for m in getattr(net, name).modules()}
    for module in net.modules():
        if id(module) not in skip and isinstance(module, nn.Conv2d | nn.Linear):
            module.to(torch.bfloat16)
    return net


LSTMState = tuple[torch.Tensor, torch.Tensor]
"""(h, c), each [B, lstm_hidden_size]."""


def mlp(
    sizes: list[int],
    norm: type[nn.Module] = nn.LayerNorm,
    zero_last: bool = False,
    final_norm: bool = False,
) -> nn.Sequential:
    """Linear layers with ``norm`` + ReLU between them; after the last only ``norm`` when
    ``final_norm`` (the consistency projector ends with BatchNorm, as in SimSiam)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers += [norm(sizes[i + 1]), nn.ReLU(inplace=True)]
    if final_norm:
        layers.append(norm(sizes[-1]))
    if zero_last:
        last = layers[-2] if final_norm else layers[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return nn.Sequential(*layers)


class ValuePrefixHead(nn.Module):
    """LSTM over the flattened latents -> norm -> ReLU -> MLP -> categorical logits.

    With ``use_lstm=False`` it is a per-step reward head (MuZero): an MLP on the latent, and
    the LSTM state passes through untouched.
    """

    def __init__(
        self,
        in_features: int,
        lstm_hidden_size: int,
        head_hidden_size: int,
        out_size: int,
        norm: type[nn.Module],
        use_lstm: bool = True,
    ) -> None:
        super().__init__()
        self.use_lstm = use_lstm
        if use_lstm:
            self.lstm = nn.LSTMCell(in_features, lstm_hidden_size)
            self.norm = norm(lstm_hidden_size)
            self.head = mlp([lstm_hidden_size, head_hidden_size, out_size], norm, zero_last=True)
        else:
            self.head = mlp([in_features, head_hidden_size, out_size], norm, zero_last=True)

    def forward(self, features: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """Always float32 (autocast is switched off inside; see :func:`full_precision`)."""
        if not self.use_lstm:
            return full_precision(self.head, features), state
        return full_precision(self._lstm_step, features, *state)

    def _lstm_step(
        self, features: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, LSTMState]:
        h, c = self.lstm(features, (h, c))
        return self.head(torch.relu(self.norm(h))), (h, c)


class EfficientZeroNet(nn.Module, abc.ABC):
    """Abstract EfficientZero network; subclasses define the four roles."""

    num_actions: int
    full_precision_heads: tuple[str, ...] = ("value_head", "policy_head", "value_prefix_head")
    """Submodules that run in float32 under autocast (:func:`full_precision`)."""
    action_dim: int = 0
    """D for continuous actions (the policy head outputs 2D Gaussian numbers), 0 for discrete."""
    support_size: int
    lstm_hidden_size: int

    @abc.abstractmethod
    def represent(self, observation: torch.Tensor) -> torch.Tensor:
        """Float observation ``[B, S*C, H, W]`` or ``[B, S*D]`` -> latent ``[B, *latent_shape]``."""

    @abc.abstractmethod
    def transition(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(latent, action [B] int64, or [B, D] float32 vectors when ``action_dim``) -> next
        latent (the dynamics trunk)."""

    @abc.abstractmethod
    def value_prefix(
        self, next_latent: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState]:
        """(next latent, LSTM state) -> (value-prefix logits [B, 2S+1], next LSTM state)."""

    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState, torch.Tensor]:
        """(latent, action [B] int64 or [B, D] float32, LSTM state) -> (next latent, next LSTM state, value-prefix logits [B, 2S+1]).

        ``transition`` then ``value_prefix``; the loss calls the two itself, so that the 0.5
        gradient scale sits on the latent that feeds the value-prefix branch too.
        """
        next_latent = self.transition(latent, action)
        logits, state = self.value_prefix(next_latent, state)
        return next_latent, state, logits

    @abc.abstractmethod
    def predict(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latent -> (value logits [B, 2S+1], policy logits [B, A])."""

    @abc.abstractmethod
    def project(self, latent: torch.Tensor, with_head: bool = True) -> torch.Tensor:
        """latent -> projection [B, P]; ``with_head`` adds the prediction head (online branch)."""

    def initial_lstm_state(self, batch_size: int, device: torch.device | None = None) -> LSTMState:
        zeros = torch.zeros(batch_size, self.lstm_hidden_size, device=device)
        return zeros, zeros.clone()

    @staticmethod
    def scale_latent(latent: torch.Tensor) -> torch.Tensor:
        """Min-max scale each sample's latent to [0, 1] (MuZero's hidden-state normalisation)."""
        flat = latent.flatten(1)
        low = flat.min(dim=1, keepdim=True).values
        high = flat.max(dim=1, keepdim=True).values
        scaled = (flat - low) / (high - low).clamp(min=1e-5)
        return scaled.view_as(latent)
