"""How far bf16 inference moves search results from fp32: heads in fp32 (the library) vs all-bf16.

    python benchmarks/search_precision.py [--checkpoint RUN/checkpoints/final.pt] [--roots 32]

Runs the same batched searches three ways on one network — fp32; bf16 autocast with the value,
value-prefix and policy heads in fp32 (what the library does); bf16 autocast everywhere (the
heads included, as before docs/fidelity.md item 3 was fixed) — and prints, as JSON, per mode:
the mean and max |root value - fp32 root value|, the mean |model value - fp32| at the roots,
the mean total-variation distance of the visit distributions from fp32's, and the share of roots
whose most-visited action matches fp32's. CPU bf16 autocast emulates the rounding of a GPU run.

Without ``--checkpoint`` the network is an Atari-sized ResNet (12 x 96 x 96 input, 18 actions)
with random weights whose zero-initialised output layers are given random weights (std
``--head-std``), so that its logits are spread out as a trained network's are; the figures are
then indicative only. With a checkpoint of the atari100k preset, they are the real thing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from efficientzero.checkpoint import load_checkpoint
from efficientzero.config import atari100k
from efficientzero.nets import InferenceModel, build_network
from efficientzero.nets import base as nets_base
from efficientzero.nets import resnet as nets_resnet
from efficientzero.search import Searcher, search


@contextlib.contextmanager
def bf16_everywhere() -> Iterator[None]:
    """Heads under autocast too (the behaviour before the fix), by disabling full_precision."""

    def passthrough(fn, *inputs):
        return fn(*inputs)

    saved = nets_base.full_precision
    nets_base.full_precision = passthrough  # type: ignore[assignment]
    nets_resnet.full_precision = passthrough  # type: ignore[assignment]
    try:
        yield
    finally:
        nets_base.full_precision = saved
        nets_resnet.full_precision = saved


class CPUAutocastModel(InferenceModel):
    """InferenceModel whose bf16 autocast also runs on the CPU (the library keeps it CUDA-only)."""

    def __init__(self, net: nn.Module, bf16: bool) -> None:
        super().__init__(net, lstm_horizon_len=5)  # type: ignore[arg-type]
        self.bf16 = bf16

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def run(model: InferenceModel, frames: torch.Tensor, simulations: int) -> dict[str, np.ndarray]:
    root = model.root(frames)
    out = search(
        model,
        root,
        num_simulations=simulations,
        discount=0.997**4,
        rng=np.random.default_rng(0),
        searcher=Searcher(),
    )
    visits = out.visit_counts / out.visit_counts.sum(1, keepdims=True)
    return {"root": out.root_values, "value": root.value.float().numpy(), "visits": visits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--roots", type=int, default=32)
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--head-std", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    config = atari100k("Breakout")
    num_actions = 18
    if args.checkpoint:
        state, config = load_checkpoint(args.checkpoint)
        weights = state["net"] if "net" in state else state["learner"]["net"]
        num_actions = int(weights["policy_head.mlp.3.bias"].shape[0])
    net = build_network(config, (3, config.obs_size, config.obs_size), num_actions)
    if args.checkpoint:
        net.load_state_dict(weights)
    else:
        for head in (net.value_head.mlp, net.policy_head.mlp, net.value_prefix_head.head):
            nn.init.normal_(head[-1].weight, std=args.head_std)
            nn.init.normal_(head[-1].bias, std=args.head_std)
    frames = torch.randint(0, 256, (args.roots, 4, 3, 96, 96), dtype=torch.uint8)
    exact = run(CPUAutocastModel(net, bf16=False), frames, args.simulations)
    report = {
        "network": "checkpoint " + args.checkpoint
        if args.checkpoint
        else f"random, heads std {args.head_std}",
        "roots": args.roots,
        "simulations": args.simulations,
        "fp32_root_value_spread": float(exact["root"].std()),
    }
    for mode in ("bf16_fp32_heads", "bf16_all"):
        guard = bf16_everywhere() if mode == "bf16_all" else contextlib.nullcontext()
        with guard:
            got = run(CPUAutocastModel(net, bf16=True), frames, args.simulations)
        report[mode] = {
            "root_value_abs_err_mean": float(np.abs(got["root"] - exact["root"]).mean()),
            "root_value_abs_err_max": float(np.abs(got["root"] - exact["root"]).max()),
            "model_value_abs_err_mean": float(np.abs(got["value"] - exact["value"]).mean()),
            "visit_tv_distance_mean": float(
                0.5 * np.abs(got["visits"] - exact["visits"]).sum(1).mean()
            ),
            "argmax_agreement": float(
                (got["visits"].argmax(1) == exact["visits"].argmax(1)).mean()
            ),
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
