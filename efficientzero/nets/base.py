"""The network contract shared by the MLP (vector) and ResNet (image) EfficientZero networks.

Roles (SPEC §2): representation ``h`` (observation -> latent), dynamics ``g`` (latent, action ->
next latent, plus the value prefix predicted by an LSTM over the unrolled latents), prediction
``f`` (latent -> value logits, policy logits) and the consistency projector (latent ->
projection, plus a prediction head on the online branch only).
"""

from __future__ import annotations

import abc

import torch
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]
"""(h, c), each [B, lstm_hidden_size]."""


def mlp(
    sizes: list[int], norm: type[nn.Module] = nn.LayerNorm, zero_last: bool = False
) -> nn.Sequential:
    """Linear layers with ``norm`` + ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers += [norm(sizes[i + 1]), nn.ReLU(inplace=True)]
    if zero_last:
        last = layers[-1]
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
        if not self.use_lstm:
            return self.head(features), state
        h, c = self.lstm(features, state)
        return self.head(torch.relu(self.norm(h))), (h, c)


class EfficientZeroNet(nn.Module, abc.ABC):
    """Abstract EfficientZero network; subclasses define the four roles."""

    num_actions: int
    support_size: int
    lstm_hidden_size: int

    @abc.abstractmethod
    def represent(self, observation: torch.Tensor) -> torch.Tensor:
        """Float observation ``[B, S*C, H, W]`` or ``[B, S*D]`` -> latent ``[B, *latent_shape]``."""

    @abc.abstractmethod
    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState, torch.Tensor]:
        """(latent, action [B] int64, LSTM state) -> (next latent, next LSTM state, value-prefix logits [B, 2S+1])."""

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
