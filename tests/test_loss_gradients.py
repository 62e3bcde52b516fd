"""Known-answer tests of ``compute_loss``: values and gradients of a tiny hand-built model.

The model has one parameter, ``w``: the representation is ``s = w * o`` (1-D latent), the
dynamics are the identity, and every head is linear in the latent with fixed coefficients:
value logits ``s * a_v``, policy logits ``s * a_p``, value-prefix logits ``s * a_r``, projection
``[s, 1]`` (the prediction head is the identity). So every unrolled latent equals ``s_0`` in the
forward pass, and the gradient of each loss term with respect to ``w`` can be written by hand:
the cross-entropy gradient with respect to logits is ``softmax - target``, the cosine's is
elementary, and the 0.5 gradient scale multiplies unroll step k's terms by ``0.5 ** k``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from efficientzero.losses import LossWeights, compute_loss
from efficientzero.nets.base import EfficientZeroNet, LSTMState
from efficientzero.nets.support import scalar_to_support
from efficientzero.types import Batch

B, K, A, SUPPORT = 2, 2, 2, 1
A_VALUE = np.array([0.3, -0.2, 0.5])
A_POLICY = np.array([0.7, -0.4])
A_PREFIX = np.array([-0.6, 0.1, 0.4])


class TinyNet(EfficientZeroNet):
    def __init__(self, w: float) -> None:
        super().__init__()
        self.num_actions = A
        self.support_size = SUPPORT
        self.lstm_hidden_size = 1
        self.w = nn.Parameter(torch.tensor(float(w), dtype=torch.float64))
        self.transitions = 0

    @staticmethod
    def _linear(latent: torch.Tensor, coefficients: np.ndarray) -> torch.Tensor:
        return latent * torch.tensor(coefficients, dtype=latent.dtype)

    def represent(self, observation: torch.Tensor) -> torch.Tensor:
        return self.w * observation.double()

    def transition(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        self.transitions += 1
        return latent * 1.0

    def value_prefix(
        self, next_latent: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState]:
        return self._linear(next_latent, A_PREFIX), state

    def predict(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._linear(latent, A_VALUE), self._linear(latent, A_POLICY)

    def project(self, latent: torch.Tensor, with_head: bool = True) -> torch.Tensor:
        return torch.cat([latent, torch.ones_like(latent)], dim=1)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def make_batch(seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    policies = rng.random((B, K + 1, A))
    return Batch(
        frames=torch.tensor(rng.uniform(0.5, 1.5, (B, 1 + K, 1))),
        actions=torch.zeros(B, K, dtype=torch.int64),
        target_value_prefixes=torch.tensor(rng.uniform(-1, 1, (B, K)), dtype=torch.float32),
        target_values=torch.tensor(rng.uniform(-2, 2, (B, K + 1)), dtype=torch.float32),
        target_policies=torch.tensor(policies / policies.sum(-1, keepdims=True)),
        mask=torch.ones(B, K + 1),
        value_mask=torch.ones(B, K + 1),
        consistency_mask=torch.ones(B, K + 1),
        weights=torch.tensor([0.5, 1.0]),
        indices=np.arange(B),
    )


def hand_loss_and_gradient(w: float, batch: Batch, weights: LossWeights) -> tuple[float, float]:
    """The loss and dL/dw written out by hand (no autograd)."""
    obs = batch.frames.numpy()[:, :, 0]
    value_t = scalar_to_support(batch.target_values, SUPPORT).numpy()
    prefix_t = scalar_to_support(batch.target_value_prefixes, SUPPORT).numpy()
    policy_t = batch.target_policies.numpy()
    mask, value_mask = batch.mask.numpy(), batch.value_mask.numpy()
    consistency_mask = batch.consistency_mask.numpy()
    importance = batch.weights.numpy()
    loss = grad = 0.0
    for b in range(B):
        s = w * obs[b, 0]
        ds_dw = obs[b, 0]
        for k in range(K + 1):
            scale = 0.5**k  # the gradient reaching w from unroll step k
            terms = []  # (coefficient, mask, loss value, d loss / d s)
            for coef, m, a, target in (
                (weights.value, value_mask[b, k], A_VALUE, value_t[b, k]),
                (weights.policy, mask[b, k], A_POLICY, policy_t[b, k]),
            ):
                p = _softmax(s * a)
                terms.append((coef, m, -(target * np.log(p)).sum(), ((p - target) * a).sum()))
            if k >= 1:
                p = _softmax(s * A_PREFIX)
                t = prefix_t[b, k - 1]
                terms.append(
                    (
                        weights.value_prefix,
                        value_mask[b, k],
                        -(t * np.log(p)).sum(),
                        ((p - t) * A_PREFIX).sum(),
                    )
                )
                # consistency: -cos([s, 1], [y, 1]) with the target y = w * o_{t+k} held fixed
                y = w * obs[b, k]
                nx, ny = np.hypot(s, 1.0), np.hypot(y, 1.0)
                cos = (s * y + 1.0) / (nx * ny)
                dcos = y / (nx * ny) - cos * s / nx**2
                terms.append((weights.consistency, consistency_mask[b, k], -cos, -dcos))
            for coef, m, value, slope in terms:
                loss += importance[b] * coef * m * value / (B * K)
                grad += importance[b] * coef * m * slope * scale * ds_dw / (B * K)
    return loss, grad


def autograd_loss_and_gradient(
    w: float, batch: Batch, weights: LossWeights, **kwargs
) -> tuple[float, float]:
    net = TinyNet(w)
    loss, _, _ = compute_loss(
        net, batch, frame_stack=1, lstm_horizon_len=10, weights=weights, **kwargs
    )
    loss.backward()
    assert net.w.grad is not None
    return float(loss.detach()), float(net.w.grad)


@pytest.mark.parametrize(
    "weights",
    [
        LossWeights(),  # the paper's 1, 0.25, 1, 2
        LossWeights(1.0, 0.0, 0.0, 0.0),  # value prefix alone: its 0.5 scale included
        LossWeights(0.0, 1.0, 0.0, 0.0),
        LossWeights(0.0, 0.0, 1.0, 0.0),
        LossWeights(0.0, 0.0, 0.0, 1.0),  # consistency alone: no gradient through the target
        LossWeights(0.3, 0.7, 1.9, 0.4),
    ],
)
def test_loss_and_gradient_match_the_hand_computation(weights: LossWeights) -> None:
    batch = make_batch()
    loss, grad = autograd_loss_and_gradient(0.8, batch, weights)
    want_loss, want_grad = hand_loss_and_gradient(0.8, batch, weights)
    assert loss == pytest.approx(want_loss, rel=2e-5)
    assert grad == pytest.approx(want_grad, rel=2e-5)


def test_each_unroll_step_reaches_the_trunk_at_half_the_previous_strength() -> None:
    """Masking all but step k: the gradient per unit loss slope is 0.5 ** k (value prefix too)."""
    for term in ("value_prefix", "value", "policy", "consistency"):
        weights = LossWeights(**{f: float(f == term) for f in LossWeights.__dataclass_fields__})
        for k in range(1 if term in ("value_prefix", "consistency") else 0, K + 1):
            batch = make_batch(1)
            only_k = torch.zeros(B, K + 1)
            only_k[:, k] = 1
            batch.mask, batch.value_mask, batch.consistency_mask = only_k, only_k, only_k
            _, grad = autograd_loss_and_gradient(0.8, batch, weights)
            _, want = hand_loss_and_gradient(0.8, batch, weights)
            assert grad == pytest.approx(want, rel=2e-5), (term, k)
            unscaled = want / 0.5**k
            assert grad == pytest.approx(unscaled * 0.5**k, rel=2e-5)
            assert abs(grad) > 1e-6  # the step does contribute


def test_masks_and_importance_weights_enter_as_written() -> None:
    batch = make_batch(2)
    batch.value_mask[0, 2] = 0  # past a truncation: no value / value-prefix target
    batch.mask[1, 1:] = 0  # past the episode end: no policy
    batch.consistency_mask[1, 2] = 0
    batch.weights = torch.tensor([0.25, 2.0])
    loss, grad = autograd_loss_and_gradient(1.3, batch, LossWeights())
    want_loss, want_grad = hand_loss_and_gradient(1.3, batch, LossWeights())
    assert loss == pytest.approx(want_loss, rel=2e-5)
    assert grad == pytest.approx(want_grad, rel=2e-5)


def test_loss_is_scaled_by_one_over_k() -> None:
    """The same batch with K terms: L = (1 / (B K)) sum of weighted terms (reference code)."""
    batch = make_batch(3)
    loss, _ = autograd_loss_and_gradient(0.8, batch, LossWeights())
    unnormalised, _ = hand_loss_and_gradient(0.8, batch, LossWeights())
    assert loss * B * K == pytest.approx(unnormalised * B * K, rel=2e-5)
    assert loss == pytest.approx(unnormalised, rel=2e-5)


def test_no_consistency_means_no_consistency_gradient() -> None:
    batch = make_batch(4)
    weights = LossWeights(0.0, 0.0, 0.0, 2.0)
    net = TinyNet(0.8)
    loss, metrics, _ = compute_loss(
        net, batch, frame_stack=1, lstm_horizon_len=10, weights=weights, use_consistency=False
    )
    assert metrics["consistency_loss"] == 0.0 and float(loss.detach()) == 0.0
    assert net.transitions == K


def test_priorities_are_value_errors_at_step_zero() -> None:
    batch = make_batch(5)
    net = TinyNet(0.8)
    _, _, priorities = compute_loss(
        net, batch, frame_stack=1, lstm_horizon_len=10, weights=LossWeights()
    )
    obs = batch.frames.numpy()[:, 0, 0]
    support = np.arange(-SUPPORT, SUPPORT + 1)
    from efficientzero.nets.support import h_inv

    predicted = [
        float(h_inv(torch.tensor((_softmax(0.8 * o * A_VALUE) * support).sum()))) for o in obs
    ]
    want = np.abs(np.array(predicted) - batch.target_values.numpy()[:, 0])
    assert np.allclose(priorities.detach().numpy(), want, atol=1e-4)
