"""EfficientZero network for vector observations (classic control, proprioceptive states).

The same roles as the image network (Ye et al. 2021, Appendix A) with MLPs: LayerNorm between layers (no
train/eval mismatch in small-batch self-play), a residual dynamics trunk with a one-hot action,
the value-prefix LSTM, zero-initialised output layers, and a BatchNorm projector as in SimSiam.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from efficientzero.nets.base import (
    EfficientZeroNet,
    LSTMState,
    ValuePrefixHead,
    full_precision,
    mlp,
)


class MLPNet(EfficientZeroNet):
    def __init__(
        self,
        observation_size: int,
        num_actions: int,
        *,
        latent_dim: int = 64,
        hidden_size: int = 128,
        head_hidden_size: int = 64,
        lstm_hidden_size: int = 64,
        projection_dim: int = 128,
        projection_head_dim: int = 64,
        support_size: int = 25,
        use_value_prefix: bool = True,
        scale_latent: bool = False,
        action_dim: int = 0,
    ) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.action_dim = action_dim
        self.support_size = support_size
        self.lstm_hidden_size = lstm_hidden_size
        self.use_scale = scale_latent
        out = 2 * support_size + 1
        self.representation = mlp([observation_size, hidden_size, hidden_size, latent_dim])
        action_width = action_dim or num_actions  # the action vector, or a one-hot
        self.dynamics_trunk = mlp([latent_dim + action_width, hidden_size, hidden_size, latent_dim])
        self.value_prefix_head = ValuePrefixHead(
            latent_dim,
            lstm_hidden_size,
            head_hidden_size,
            out,
            nn.LayerNorm,
            use_lstm=use_value_prefix,
        )
        self.prediction_trunk = mlp([latent_dim, hidden_size, hidden_size])
        self.prediction_norm = nn.LayerNorm(hidden_size)
        self.value_head = mlp([hidden_size, head_hidden_size, out], zero_last=True)
        policy_width = 2 * action_dim if action_dim else num_actions  # Gaussian or logits
        self.policy_head = mlp([hidden_size, head_hidden_size, policy_width], zero_last=True)
        self.projector = mlp(
            [latent_dim, projection_dim, projection_dim], nn.BatchNorm1d, final_norm=True
        )
        self.projection_head = mlp(
            [projection_dim, projection_head_dim, projection_dim], nn.BatchNorm1d
        )

    def _finish(self, latent: torch.Tensor) -> torch.Tensor:
        return self.scale_latent(latent) if self.use_scale else latent

    def represent(self, observation: torch.Tensor) -> torch.Tensor:
        return self._finish(self.representation(observation.flatten(1)))

    def transition(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if self.action_dim:
            encoded = action.to(latent.dtype).view(-1, self.action_dim)
        else:
            encoded = F.one_hot(action.long(), self.num_actions).to(latent.dtype)
        return self._finish(latent + self.dynamics_trunk(torch.cat([latent, encoded], dim=1)))

    def value_prefix(
        self, next_latent: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState]:
        return self.value_prefix_head(next_latent, state)

    def predict(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.prediction_norm(self.prediction_trunk(latent)))
        return full_precision(self.value_head, x), full_precision(self.policy_head, x)

    def project(self, latent: torch.Tensor, with_head: bool = True) -> torch.Tensor:
        projection = self.projector(latent.flatten(1))
        return self.projection_head(projection) if with_head else projection
