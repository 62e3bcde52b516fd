"""Batch norms folded into the inference networks (nets/folding.py): the same outputs as the
unfolded network, for both network families and the sampled model, after every weight load."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from efficientzero.envs import env_spec
from efficientzero.nets import build_inference, build_network
from efficientzero.nets.folding import FoldedNetwork, feeding_pairs
from efficientzero.presets import cartpole, minatar


def trained_like(net: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """``net``'s weights with every parameter and batch-norm statistic drawn at random (a fresh
    network's norms are near identity maps, which would hide a wrong fold)."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name, tensor in net.state_dict().items():
        if not tensor.is_floating_point():
            weights[name] = tensor.clone()
        elif name.endswith("running_var"):
            weights[name] = torch.rand(tensor.shape, generator=generator) + 0.5
        else:
            weights[name] = torch.randn(tensor.shape, generator=generator) * 0.3
    return weights


CONFIGS = {
    "resnet (minatar)": lambda: minatar("Breakout").replace(action_planes="one_hot"),
    "resnet, scalar action plane": lambda: minatar("SpaceInvaders"),
    "resnet, no value prefix": lambda: minatar("Breakout").replace(use_value_prefix=False),
    "resnet, sampled actions": lambda: minatar("Breakout"),  # with SAMPLED below
}
SAMPLED = SimpleNamespace(frame_shape=(4, 10, 10), num_actions=16, action_dim=2)
"""A 2-D Box action space on 10x10 images (no such environment is needed to build the model)."""
"""The configurations with batch norms in the search's path (the MLP family has LayerNorms)."""


def models(config, spec=None):
    """The folded and the unfolded inference model of ``config``, holding the same weights."""
    spec = spec or env_spec(config)
    net = build_network(config, spec.frame_shape, spec.num_actions, spec.action_dim)
    weights = trained_like(net, 1)
    folded, plain = (
        build_inference(
            config.replace(fold_batch_norms=fold),
            spec.frame_shape,
            spec.num_actions,
            weights,
            action_dim=spec.action_dim,
        )
        for fold in (True, False)
    )
    return spec, folded, plain


def search_outputs(model, spec, config, seed):
    generator = torch.Generator().manual_seed(seed)
    frames = torch.rand((6, config.frame_stack, *spec.frame_shape), generator=generator)
    root = model.root(frames)
    action = torch.randint(root.prior_logits.shape[1], (6,), generator=generator)
    step = model.recurrent(root.embedding, action)
    again = model.recurrent(step.embedding, action)
    first = [root.value, root.prior_logits, step.reward, step.value, step.prior_logits]
    return [
        *first,
        again.reward,
        again.value,
        *(t for t in again.embedding if t.is_floating_point()),
    ]


def assert_close_to_scale(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float rounding, measured against the tensor's largest magnitude: values and
    rewards pass through h^-1 (Pohlen et al. 2018), which grows with the square of its input and
    so scales up rounding in the larger entries (seen: 1.2e-4 on a reward of 8.4)."""
    scale = max(float(expected.abs().max()), 1.0)
    assert float((got - expected).abs().max()) <= 1e-4 * scale


def base(model):
    return getattr(model, "base", model)


@pytest.mark.parametrize("name", CONFIGS)
def test_folded_network_gives_the_unfolded_outputs(name):
    config = CONFIGS[name]()
    spec, folded, plain = models(config, SAMPLED if "sampled" in name else None)
    folding = base(folded).folding
    assert folding is not None and folding.valid and base(plain).folding is None
    # every batch norm the search runs is folded away
    norms = [m for m in base(folded).search_net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert folding.pairs and not norms
    torch.manual_seed(0)  # the sampled model draws actions
    got = search_outputs(folded, spec, config, 2)
    torch.manual_seed(0)
    expected = search_outputs(plain, spec, config, 2)
    for a, b in zip(got, expected, strict=True):
        assert_close_to_scale(a, b)


def test_the_mlp_family_has_nothing_to_fold():
    _, folded, _ = models(cartpole())
    assert folded.folding is None and folded.search_net is folded.net


@pytest.mark.parametrize("name", ["resnet (minatar)", "resnet, no value prefix"])
def test_a_weight_load_refolds(name):
    config = CONFIGS[name]()
    spec, folded, plain = models(config)
    weights = trained_like(plain.net, 7)
    before = search_outputs(folded, spec, config, 3)
    for model in (folded, plain):
        model.net.load_state_dict(weights)
    got, expected = (search_outputs(m, spec, config, 3) for m in (folded, plain))
    assert not torch.allclose(got[1], before[1])  # the new weights are in use
    for a, b in zip(got, expected, strict=True):
        assert_close_to_scale(a, b)
    # the original network keeps its layout: the same state_dict keys, norms included
    assert set(folded.net.state_dict()) == set(weights)


class SharedOutput(nn.Module):
    """A convolution whose output feeds a batch norm and is also added after it: folding the
    norm into the convolution would change the sum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.norm(y) + y


def test_a_fold_that_would_change_the_outputs_is_not_used():
    net = SharedOutput().eval()
    net.norm.running_mean.fill_(0.5)
    net.norm.running_var.fill_(4.0)
    x = torch.rand(3, 2, 4, 4)
    folding = FoldedNetwork(net, lambda module: module(x))
    assert folding.pairs == [("conv", "norm")]
    assert not folding.valid and folding.active is net


def test_pairs_are_the_layers_that_feed_norms_directly():
    net = nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2)
    ).eval()
    pairs = feeding_pairs(net, lambda module: module(torch.rand(2, 3)))
    assert pairs == [("0", "1")]  # the norm after the ReLU is not fed by a layer
