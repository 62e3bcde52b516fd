"""Batch norms folded into the layer that feeds them, for the inference networks.

In eval mode a batch norm is a fixed per-channel affine map, ``y = (x - mean) * s + beta`` with
``s = gamma / sqrt(var + eps)``; after a convolution or linear layer ``x = W u + b`` it folds
into that layer: ``W' = W * s`` (per output channel) and ``b' = (b - mean) * s + beta``. The
search calls the recurrent network once per simulation at small batches (8 roots in MinAtar
self-play), where each batch norm is a separate call costing about as much as a small
convolution: folded, a self-play step of the ``minatar`` preset (8 boards, 16 simulations)
took about a fifth less time on one CPU core (docs/minatar.md, "Batch norms folded for the
search").

:class:`FoldedNetwork` keeps a second copy of the network with each foldable batch norm replaced
by ``nn.Identity`` and the layer before it carrying the folded weights. The original network
stays the one that weights are loaded into (its layout and ``state_dict`` are unchanged); a
``load_state_dict`` post-hook refolds the copy in place after every load, so captured CUDA
graphs (which hold parameters by address) see the new weights.

Which batch norm is fed by which layer is found by running the network once with forward hooks:
a batch norm whose input is the very tensor a convolution or linear layer returned is folded
into that layer. The refolded copy is checked against the original on that same input at every
refold; should a layer's output also be used elsewhere (the fold would then change it), the
outputs differ and the copy is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

BatchNorm = nn.BatchNorm1d | nn.BatchNorm2d
Feeder = nn.Conv2d | nn.Linear

TOLERANCE = 1e-3
"""Largest difference allowed between folded and original outputs, relative to each output's
largest magnitude: float rounding, amplified by h^-1 in values and rewards, reached 3e-5 in the
tests; a wrong fold changes outputs by their own size."""


def feeding_pairs(net: nn.Module, exercise: Callable[[nn.Module], Any]) -> list[tuple[str, str]]:
    """(feeding layer, batch norm) module names of ``net`` found by running ``exercise(net)``."""
    names = {id(module): name for name, module in net.named_modules()}
    produced: dict[int, str] = {}
    alive: list[Any] = []  # every output seen stays alive, so no later tensor reuses its id
    pairs: dict[str, str] = {}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        alive.append(output)
        if isinstance(module, Feeder):
            produced[id(output)] = names[id(module)]
        elif isinstance(module, BatchNorm) and inputs and id(inputs[0]) in produced:
            pairs.setdefault(names[id(module)], produced[id(inputs[0])])

    handles = [
        module.register_forward_hook(hook)
        for module in net.modules()
        if isinstance(module, Feeder | BatchNorm)
    ]
    try:
        with torch.inference_mode():
            exercise(net)
    finally:
        for handle in handles:
            handle.remove()
    alive.clear()
    foldable = []
    for norm_name, layer_name in pairs.items():
        norm = net.get_submodule(norm_name)
        if norm.affine and norm.track_running_stats:
            foldable.append((layer_name, norm_name))
    # A layer feeding two norms cannot hold both folds.
    layers = [layer for layer, _ in foldable]
    return [(layer, norm) for layer, norm in foldable if layers.count(layer) == 1]


class FoldedNetwork:
    """An eval-mode copy of ``net`` with its batch norms folded, refolded on every weight load.

    ``exercise(module)`` runs a forward pass through every path the search uses (the root and a
    recurrent step) with ``module`` as the network and returns its outputs (tensors, or tuples
    and dataclasses of them); it finds the pairs and checks each refold.
    """

    def __init__(
        self,
        net: nn.Module,
        exercise: Callable[[nn.Module], Any],
        pairs: list[tuple[str, str]] | None = None,
    ) -> None:
        self.source = net
        self.exercise = exercise
        self.pairs = feeding_pairs(net, exercise) if pairs is None else pairs
        self.net = _copy_without_norms(net, self.pairs)
        self.valid = False
        self._hook = net.register_load_state_dict_post_hook(lambda module, keys: self.refold())
        self.refold()

    @classmethod
    def of(cls, net: nn.Module, exercise: Callable[[nn.Module], Any]) -> FoldedNetwork | None:
        """The folded copy of ``net``, or None when no batch norm can be folded (the MLP
        family normalises with LayerNorm, which depends on its input)."""
        pairs = feeding_pairs(net, exercise)
        return cls(net, exercise, pairs) if pairs else None

    @property
    def active(self) -> nn.Module:
        """The folded copy when its last refold checked out, else the original network."""
        return self.net if self.valid else self.source

    @torch.no_grad()
    def refold(self) -> None:
        """Copy the original's current weights into the folded copy, folding each pair."""
        folded = dict(self.net.named_parameters()) | dict(self.net.named_buffers())
        source = dict(self.source.named_parameters()) | dict(self.source.named_buffers())
        for name, tensor in folded.items():
            if name in source:
                tensor.copy_(source[name])
        for layer_name, norm_name in self.pairs:
            layer = self.source.get_submodule(layer_name)
            norm = self.source.get_submodule(norm_name)
            target = self.net.get_submodule(layer_name)
            assert isinstance(layer, Feeder) and isinstance(target, Feeder)
            assert isinstance(norm, BatchNorm)
            mean, var = norm.running_mean, norm.running_var
            assert mean is not None and var is not None and target.bias is not None
            scale = norm.weight.float() / torch.sqrt(var.float() + norm.eps)
            shape = (-1,) + (1,) * (layer.weight.dim() - 1)
            target.weight.copy_(layer.weight.float() * scale.view(shape))
            bias = layer.bias.float() if layer.bias is not None else 0.0
            target.bias.copy_((bias - mean.float()) * scale + norm.bias.float())
        self.valid = bool(self.pairs) and self.matches()

    def matches(self) -> bool:
        """Whether the folded copy gives the original's outputs on the exercise's input."""
        with torch.inference_mode():
            expected = _tensors(self.exercise(self.source))
            got = _tensors(self.exercise(self.net))
        if len(expected) != len(got):
            return False
        for a, b in zip(expected, got, strict=True):
            if a.shape != b.shape:
                return False
            if a.is_floating_point():
                scale = max(float(a.abs().max()), 1.0) if a.numel() else 1.0
                if a.numel() and float((a - b).abs().max()) > TOLERANCE * scale:
                    return False
            elif not torch.equal(a, b):
                return False
        return True


def _copy_without_norms(net: nn.Module, pairs: list[tuple[str, str]]) -> nn.Module:
    import copy

    folded = copy.deepcopy(net)
    for layer_name, norm_name in pairs:
        parent_name, _, child = norm_name.rpartition(".")
        parent = folded.get_submodule(parent_name) if parent_name else folded
        setattr(parent, child, nn.Identity())
        layer = folded.get_submodule(layer_name)
        if layer.bias is None:
            out_features = layer.weight.shape[0]
            layer.bias = nn.Parameter(
                torch.zeros(out_features, dtype=layer.weight.dtype, device=layer.weight.device),
                requires_grad=False,
            )
    return folded.eval().requires_grad_(False)


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in ``value`` (a tensor, tuple/list, dict or dataclass of them), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    if hasattr(value, "__dataclass_fields__"):
        return [t for name in value.__dataclass_fields__ for t in _tensors(getattr(value, name))]
    return []
