"""The search adapter (``InferenceModel``): value-prefix rewards, LSTM horizon resets, fp32 heads."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

from efficientzero.nets import InferenceModel
from efficientzero.nets.base import EfficientZeroNet, LSTMState
from efficientzero.nets.resnet import ResNetNet
from efficientzero.nets.support import scalar_to_support

SUPPORT = 60


class CountingNet(EfficientZeroNet):
    """The LSTM state counts steps since its last reset; the value prefix is that count squared.

    The value head predicts ``2 * depth`` and the reward head (no value prefix) ``depth + 0.5``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.num_actions = 2
        self.support_size = SUPPORT
        self.lstm_hidden_size = 1
        self.dummy = nn.Parameter(torch.zeros(1))

    @staticmethod
    def _logits(x: torch.Tensor) -> torch.Tensor:
        """Logits whose softmax is the two-hot of ``x``: the support expectation gives ``x`` back."""
        return torch.log(scalar_to_support(x, SUPPORT).clamp(min=1e-30))

    def represent(self, observation: torch.Tensor) -> torch.Tensor:
        return torch.zeros(observation.shape[0], 1)

    def transition(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return latent + 1.0  # the latent holds the depth

    def value_prefix(
        self, next_latent: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState]:
        count = state[0] + 1.0
        return self._logits(count[:, 0] ** 2), (count, state[1])

    def predict(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._logits(2.0 * latent[:, 0]), torch.zeros(latent.shape[0], 2)

    def project(self, latent: torch.Tensor, with_head: bool = True) -> torch.Tensor:
        return latent


class RewardNet(CountingNet):
    def value_prefix(self, next_latent, state):
        return self._logits(next_latent[:, 0] + 0.5), state


def walk(model: InferenceModel, depth: int) -> list[tuple[float, float, float]]:
    """(reward, value, LSTM h after the step) along a chain of ``depth`` steps from one root."""
    embedding = model.root(torch.zeros(1, 1, 3)).embedding
    out = []
    for _ in range(depth):
        step = model.recurrent(embedding, torch.zeros(1, dtype=torch.int64))
        embedding = step.embedding
        h = float(embedding[1][0, 0]) if len(embedding) > 1 else float("nan")
        out.append((float(step.reward[0]), float(step.value[0]), h))
    return out


def test_value_prefix_rewards_and_horizon_resets() -> None:
    model = InferenceModel(CountingNet(), lstm_horizon_len=3)
    steps = walk(model, 7)
    # prefixes 1, 4, 9 | 1, 4, 9 | 1: depth 3 and 6 are reset nodes (their children start over,
    # and the reward of an edge out of a reset node is the child's prefix itself).
    rewards = [r for r, _, _ in steps]
    assert rewards == pytest.approx([1, 3, 5, 1, 3, 5, 1], abs=1e-3)
    assert [v for _, v, _ in steps] == pytest.approx([2, 4, 6, 8, 10, 12, 14], abs=1e-3)
    # the LSTM state handed on is zeroed at depths 3 and 6 only
    assert [h for _, _, h in steps] == [1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0]


def test_horizon_one_makes_every_node_a_reset_node() -> None:
    steps = walk(InferenceModel(CountingNet(), lstm_horizon_len=1), 4)
    assert [r for r, _, _ in steps] == pytest.approx([1, 1, 1, 1], abs=1e-3)


def test_without_value_prefix_the_head_predicts_the_reward() -> None:
    model = InferenceModel(RewardNet(), lstm_horizon_len=3, use_value_prefix=False)
    steps = walk(model, 4)
    assert [r for r, _, _ in steps] == pytest.approx([1.5, 2.5, 3.5, 4.5], abs=1e-3)


def _trained_like_resnet() -> ResNetNet:
    """A small ResNet whose zero-initialised output layers get random weights, so its heads
    give spread-out logits as a trained network's do."""
    torch.manual_seed(0)
    net = ResNetNet(
        4,
        32,
        6,
        num_channels=16,
        reduced_channels=4,
        head_hidden_size=16,
        lstm_hidden_size=32,
        projection_dim=32,
        projection_head_dim=16,
        support_size=300,
    )
    for head in (net.value_head.mlp, net.policy_head.mlp, net.value_prefix_head.head):
        nn.init.normal_(head[-1].weight, std=0.5)
    return net.eval()


def test_heads_run_in_float32_under_bf16_autocast() -> None:
    net = _trained_like_resnet()
    x = torch.rand(3, 4, 32, 32)
    action = torch.tensor([0, 2, 5])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        latent = net.represent(x)
        features = net.prediction_tower(latent)
        value_logits, policy_logits = net.predict(latent)
        next_latent = net.transition(latent, action)
        prefix_logits, _ = net.value_prefix(next_latent, net.initial_lstm_state(3))
    assert latent.dtype == torch.bfloat16  # the trunk does run in bf16
    assert value_logits.dtype == policy_logits.dtype == prefix_logits.dtype == torch.float32
    with torch.no_grad():  # the same heads in fp32 on the same (bf16) trunk outputs
        want_value = net.value_head(features.float())
        want_prefix, _ = net.value_prefix(next_latent.float(), net.initial_lstm_state(3))
    torch.testing.assert_close(value_logits, want_value, rtol=0, atol=1e-6)
    torch.testing.assert_close(prefix_logits, want_prefix, rtol=0, atol=1e-6)


def test_bf16_heads_would_move_the_scalar_by_more_than_fp32_heads() -> None:
    """Why the heads stay fp32: rounding the 601 logits to bf16 moves the support expectation."""
    from efficientzero.nets.support import support_to_scalar

    net = _trained_like_resnet()
    with torch.no_grad():
        logits = net.value_head(net.prediction_tower(net.represent(torch.rand(64, 4, 32, 32))))
    exact = support_to_scalar(logits, 300)
    rounded = support_to_scalar(logits.bfloat16(), 300)
    assert float((rounded - exact).abs().max()) > 1e-3
    assert np.isfinite(exact.numpy()).all()


def test_bf16_only_on_gpus_with_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    from efficientzero.nets.base import bf16_autocast, bf16_supported

    cuda = torch.device("cuda")
    asked: list[bool] = []

    def native(answer: bool):  # what torch.cuda.is_bf16_supported would say, without a GPU
        def is_bf16_supported(including_emulation: bool = True) -> bool:
            asked.append(including_emulation)
            return answer

        return is_bf16_supported

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", native(False))  # e.g. a V100 or T4
    assert not bf16_supported(cuda)
    assert isinstance(bf16_autocast(cuda, True), contextlib.nullcontext)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", native(True))  # A100, H100, H200
    assert bf16_supported(cuda)
    assert asked == [False, False, False]  # emulated bf16 does not count
    assert not bf16_supported(torch.device("cpu"))
    assert isinstance(bf16_autocast(torch.device("cpu"), True), contextlib.nullcontext)


def _outputs_under_bf16_autocast(net: EfficientZeroNet, x: torch.Tensor, action: torch.Tensor):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        latent = net.represent(x)
        value_logits, policy_logits = net.predict(latent)
        next_latent = net.transition(latent, action)
        prefix_logits, (h, _) = net.value_prefix(next_latent, net.initial_lstm_state(len(x)))
    return latent, value_logits, policy_logits, next_latent, prefix_logits, h


@pytest.mark.parametrize("family", ["resnet", "mlp"])
def test_cached_bf16_trunk_weights_give_what_autocast_gives(family) -> None:
    """inference_bf16_weights: weights cast once (and weights loaded later, rounded on load)
    give the same outputs under bf16 autocast as autocast casting fp32 weights on every call;
    the heads keep fp32 weights."""
    import copy

    from efficientzero.nets import MLPNet
    from efficientzero.nets.base import cast_trunk_to_bf16

    torch.manual_seed(0)
    if family == "resnet":
        net: EfficientZeroNet = _trained_like_resnet()
        x, action = torch.rand(3, 4, 32, 32), torch.tensor([0, 2, 5])
    else:
        net = MLPNet(8, 3, support_size=10)
        for p in net.parameters():
            nn.init.normal_(p, std=0.3)
        x, action = torch.rand(3, 8), torch.tensor([0, 2, 1])
    net.eval()
    want = _outputs_under_bf16_autocast(net, x, action)
    cached = cast_trunk_to_bf16(copy.deepcopy(net), net.full_precision_heads)
    dtypes = {name: p.dtype for name, p in cached.named_parameters()}
    assert torch.bfloat16 in dtypes.values()
    assert all(
        dtype == torch.float32
        for name, dtype in dtypes.items()
        if name.split(".")[0] in net.full_precision_heads
    )
    for got, expected in zip(_outputs_under_bf16_autocast(cached, x, action), want):
        assert got.dtype == expected.dtype and torch.equal(got, expected)
    fresh = cast_trunk_to_bf16(copy.deepcopy(net), net.full_precision_heads)
    for p in fresh.parameters():
        nn.init.zeros_(p)
    fresh.load_state_dict(net.state_dict())  # fp32 weights rounded into the bf16 copy
    for got, expected in zip(_outputs_under_bf16_autocast(fresh, x, action), want):
        assert torch.equal(got, expected)
