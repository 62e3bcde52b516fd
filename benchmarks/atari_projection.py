"""What a full Atari 100k run of the atari100k preset costs on one GPU, projected from figures
measured on this CPU: the network's FLOPs and its number of kernels (non-view aten ops) per call,
and the search's own host time per simulation (the ``atari`` rows of ``efficientzero bench
search``), combined with GPU assumptions given as flags. docs/gpu_projection.md explains the model
and quotes a run of this script.

    python benchmarks/atari_projection.py --out benchmarks/results/atari_projection.json

What is measured here (CPU, fp32, batch sizes of the preset): FLOPs with
``torch.utils.flop_counter.FlopCounterMode``; kernels as the aten ops a ``TorchDispatchMode``
sees that are not views (on a GPU each is one kernel launch, give or take fusions); the tree
kernels' host time per simulation from the search benchmark's ``small`` rows (a 64-float
embedding: on a GPU the embeddings stay on the device, so the host does the tree work and little
copying) at the self-play batch (the preset's ``num_envs``) and the reanalysis batch. What is
assumed (flags): the eager host cost of one op (dispatch + launch), the GPU time floor of one
kernel, the bf16 throughput the GPU sustains on these layers (several values), and the host cost
of one CUDA-graph replay. Per simulation the device path adds 2 * K + 9 small ops around the
network call (K embedding tensors gathered and stored, 7 ops packing reward, value and prior, the
index copy down and the packed copy up).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from efficientzero.bench import bench_search
from efficientzero.envs import env_spec
from efficientzero.learner import Learner
from efficientzero.nets import build_inference, build_network
from efficientzero.presets import make_preset
from efficientzero.types import Batch


class KernelCount(TorchDispatchMode):
    """Counts the aten ops that are not views (each a kernel launch on a GPU, roughly)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if not func.is_view:
            self.count += 1
        return func(*args, **(kwargs or {}))


def cost(fn: Callable[[], Any]) -> dict[str, float]:
    """FLOPs and kernels of one call of ``fn``."""
    fn()  # warm-up (lazy initialisation outside the counts)
    with FlopCounterMode(display=False) as flops:
        fn()
    with KernelCount() as kernels:
        fn()
    return {"flops": float(flops.get_total_flops()), "kernels": kernels.count}


def learner_batch(config, frame_shape, dtype, num_actions) -> Batch:  # type: ignore[no-untyped-def]
    b, k, s = config.batch_size, config.unroll_steps, config.frame_stack
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (b, s + k, *frame_shape), generator=g).to(torch.uint8)
    policies = torch.rand(b, k + 1, num_actions, generator=g)
    return Batch(
        frames=frames if dtype == np.uint8 else frames.float(),
        actions=torch.randint(0, num_actions, (b, k), generator=g),
        target_value_prefixes=torch.rand(b, k, generator=g),
        target_values=torch.rand(b, k + 1, generator=g),
        target_policies=policies / policies.sum(-1, keepdim=True),
        mask=torch.ones(b, k + 1),
        value_mask=torch.ones(b, k + 1),
        consistency_mask=torch.ones(b, k + 1),
        weights=torch.ones(b),
        indices=np.arange(b),
    )


def project(args, config, measured, host_us, tflops, graphs) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Hours of host time, GPU busy time and wall time per phase of one run, and the run's
    hours run sequentially (the local runtime) and overlapped (self-play, reanalysis workers
    and the learner side by side sharing the GPU, as the Ray runtime runs them)."""
    sims = config.num_simulations
    glue = measured["glue_kernels_per_simulation"]

    def gpu_us(c: dict[str, float]) -> float:
        """GPU busy time of one call: kernels back to back, each at least the floor."""
        return max(c["kernels"] * args.kernel_floor_us, c["flops"] / (tflops * 1e6))

    def search(initial: dict[str, float], recurrent: dict[str, float], batch: int, count: float):  # type: ignore[no-untyped-def]
        """``count`` searches of ``batch`` roots: one initial inference, then per simulation the
        tree kernels, the glue ops and one recurrent call."""
        if graphs:  # the recurrent call and its glue captured as one graph
            launch = initial["kernels"] * args.op_host_us + sims * args.graph_replay_us
        else:
            launch = (initial["kernels"] + sims * (recurrent["kernels"] + glue)) * args.op_host_us
        host = (launch + sims * host_us[batch]) / args.host_speed
        gpu = gpu_us(initial) + sims * (gpu_us(recurrent) + glue * args.kernel_floor_us)
        # Within one search, host and GPU work alternate (each simulation needs the last).
        return {"host": count * host, "gpu": count * gpu, "wall": count * (host + gpu)}

    m = measured
    updates = config.total_updates
    selfplay = search(
        m["selfplay_initial"],
        m["selfplay_recurrent"],
        config.num_envs,
        config.total_env_steps / config.num_envs,
    )
    reanalysis_batch = int(next(k for k in host_us if k != config.num_envs))
    reanalysis = search(
        m["reanalysis_initial"], m["reanalysis_recurrent"], reanalysis_batch, updates
    )
    boot, learn = m["bootstrap_initial"], m["learner_update"]
    bootstrap = {
        "host": updates * boot["kernels"] * args.op_host_us / args.host_speed,
        "gpu": updates * gpu_us(boot),
    }
    learner = {
        "host": updates * learn["kernels"] * args.op_host_us / args.host_speed,
        "gpu": updates * gpu_us(learn),
    }
    for part in (bootstrap, learner):
        part["wall"] = part["host"] + part["gpu"]
    phases = {
        "selfplay": selfplay,
        "reanalysis_search": reanalysis,
        "value_bootstrap": bootstrap,
        "learner": learner,
    }
    gpu_total = sum(p["gpu"] for p in phases.values())
    sequential = sum(p["wall"] for p in phases.values())
    # Overlapped: self-play, the learner and (the cores left) reanalysis workers in processes of
    # their own; the run takes the longest of the GPU's busy time and each process's own path.
    workers = max(1, args.cores - 2)
    overlapped = max(
        gpu_total,
        selfplay["wall"],
        learner["wall"],
        (reanalysis["wall"] + bootstrap["wall"]) / workers,
    )
    hours = 1e-6 / 3600
    return {
        **{name: {k: round(v * hours, 3) for k, v in p.items()} for name, p in phases.items()},
        "gpu_busy_hours": round(gpu_total * hours, 2),
        "sequential_hours": round(sequential * hours, 2),
        "overlapped_hours": round(overlapped * hours, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--game", default="Breakout")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--search-repeats", type=int, default=10)
    a = parser.add_argument_group("GPU assumptions (not measured here)")
    a.add_argument(
        "--op-host-us",
        type=float,
        default=8.0,
        help="eager PyTorch host cost of one op: dispatch + launch",
    )
    a.add_argument(
        "--kernel-floor-us", type=float, default=3.0, help="GPU time of the smallest kernel"
    )
    a.add_argument(
        "--tflops",
        type=float,
        nargs="+",
        default=[50.0, 150.0, 300.0],
        help="bf16 TFLOP/s sustained on these layers (H200 dense peak ~990)",
    )
    a.add_argument(
        "--graph-replay-us", type=float, default=15.0, help="host cost of one CUDA-graph replay"
    )
    a.add_argument("--cores", type=int, default=16, help="CPU cores of the GPU machine")
    a.add_argument(
        "--host-speed",
        type=float,
        default=1.0,
        help="the GPU machine's per-core speed relative to this CPU",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = make_preset("atari100k", args.game)
    spec = env_spec(config)
    frame_shape, num_actions = spec.frame_shape, spec.num_actions
    sims = config.num_simulations
    selfplay_batch = config.num_envs
    steps = config.unroll_steps + 1
    reanalysis_roots = round(config.reanalyze_ratio * config.batch_size) * steps
    bootstrap_rows = config.batch_size * steps  # value bootstraps: one initial inference each

    model = build_inference(config, frame_shape, num_actions)
    stack = (config.frame_stack, *frame_shape)

    def initial(batch: int) -> Callable[[], Any]:
        frames = torch.randint(0, 256, (batch, *stack)).to(torch.uint8)
        return lambda: model.root(frames)

    def recurrent(batch: int) -> Callable[[], Any]:
        root = model.root(torch.randint(0, 256, (batch, *stack)).to(torch.uint8))
        actions = torch.randint(0, num_actions, (batch,))
        return lambda: model.recurrent(root.embedding, actions)

    net = build_network(config, frame_shape, num_actions)
    learner = Learner(config.replace(mixed_precision=False), net, torch.device("cpu"))
    batch = learner_batch(config, frame_shape, spec.frame_dtype, num_actions)

    measured: dict[str, Any] = {
        "selfplay_initial": cost(initial(selfplay_batch)),
        "selfplay_recurrent": cost(recurrent(selfplay_batch)),
        "reanalysis_initial": cost(initial(reanalysis_roots)),
        "reanalysis_recurrent": cost(recurrent(reanalysis_roots)),
        "bootstrap_initial": cost(initial(bootstrap_rows)),
        "learner_update": cost(lambda: learner.step(batch)),
    }
    start = time.perf_counter()
    grid = bench_search(
        batches=(selfplay_batch, reanalysis_roots),
        actions=(num_actions,),
        simulations=sims,
        repeats=args.search_repeats,
        states=("small",),
    )["results"]
    host_us = {r["batch"]: 1e6 * r["seconds_per_search"] / sims for r in grid}
    measured["tree_host_us_per_simulation"] = {str(k): v for k, v in host_us.items()}
    measured["search_bench_seconds"] = time.perf_counter() - start
    glue = 2 * 5 + 9  # the EfficientZero embedding has 5 tensors
    measured["glue_kernels_per_simulation"] = glue
    calls_per_run = {
        "selfplay_initial": config.total_env_steps / selfplay_batch,
        "selfplay_recurrent": config.total_env_steps / selfplay_batch * sims,
        "reanalysis_initial": config.total_updates,
        "reanalysis_recurrent": config.total_updates * sims,
        "bootstrap_initial": config.total_updates,
        "learner_update": config.total_updates,
    }
    total_flops = sum(measured[k]["flops"] * n for k, n in calls_per_run.items())
    projection = {
        f"{mode}_{tflops:g}_tflops": project(
            args, config, measured, host_us, tflops, mode == "graphs"
        )
        for mode in ("eager", "graphs")
        for tflops in args.tflops
    }

    result = {
        "preset": "atari100k",
        "game": config.env_id,
        "frame_shape": list(frame_shape),
        "num_actions": num_actions,
        "counts": {
            "env_steps": config.total_env_steps,
            "updates": config.total_updates,
            "simulations": sims,
            "selfplay_batch": selfplay_batch,
            "selfplay_searches": config.total_env_steps / selfplay_batch,
            "reanalysis_roots_per_update": reanalysis_roots,
            "bootstrap_rows_per_update": bootstrap_rows,
        },
        "measured_on_this_cpu": measured,
        "flops_per_run": total_flops,
        "assumed": {
            k: getattr(args, k)
            for k in (
                "op_host_us",
                "kernel_floor_us",
                "tflops",
                "graph_replay_us",
                "cores",
                "host_speed",
            )
        },
        "projection_hours": projection,
        "note": "projection_hours: per phase, hours of host time, GPU busy time and wall time",
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
