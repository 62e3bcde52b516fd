"""``efficientzero eval``: evaluate a run's final weights (or any checkpoint) and write a summary.

Writes ``eval.json`` (summary) and ``eval_episodes.csv`` (one row per episode) next to the run
(or next to the checkpoint with ``--checkpoint``) and prints the summary as JSON.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from efficientzero.checkpoint import CheckpointError, load_checkpoint
from efficientzero.config import Config
from efficientzero.envs import env_spec, make_env
from efficientzero.evaluate import evaluate
from efficientzero.nets import InferenceModel, build_network
from efficientzero.run.common import RunDirectory, RunDirectoryError, resolve_device


def load_weights(
    path: Path, device: torch.device
) -> tuple[dict[str, torch.Tensor], Config, dict[str, Any]]:
    """(network weights, config, counters) from a final or a full training checkpoint."""
    state, config = load_checkpoint(path, map_location=device)
    if "net" in state:
        weights = state["net"]
    elif "learner" in state:
        weights = state["learner"]["net"]
    else:
        raise CheckpointError(f"checkpoint {path} holds no network weights")
    return weights, config, dict(state.get("counters", {}))


def build_inference(
    config: Config, weights: dict[str, torch.Tensor], device: torch.device
) -> InferenceModel:
    spec = env_spec(config)
    net = build_network(config, spec.frame_shape, spec.num_actions).to(device)
    try:
        net.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint weights do not fit the network of its config: {str(error).splitlines()[0]}"
        ) from error
    return InferenceModel(
        net,
        lstm_horizon_len=config.lstm_horizon_len,
        use_value_prefix=config.use_value_prefix,
        mixed_precision=config.mixed_precision,
    )


def eval_command(
    run_dir: Path | None,
    checkpoint: Path | None,
    *,
    episodes: int | None,
    seed: int,
    video: Path | None,
    out: Path | None,
    device: str,
) -> int:
    if run_dir is not None:
        rd = RunDirectory(run_dir)
        rd.saved_config()  # a clear error if this is not a run directory
        if not rd.final.is_file():
            raise RunDirectoryError(
                f"{run_dir} has no finished checkpoint ({rd.final} is missing): the run has not finished; "
                f"use --checkpoint {rd.latest} to evaluate its last checkpoint"
            )
        checkpoint = rd.final
        out_dir = run_dir
    else:
        assert checkpoint is not None
        out_dir = checkpoint.parent
    torch_device = resolve_device(device)
    weights, config, counters = load_weights(checkpoint, torch_device)
    config = config.replace(device=device)
    model = build_inference(config, weights, torch_device)
    count = episodes if episodes is not None else config.eval_episodes
    if count <= 0:
        raise RunDirectoryError(f"--episodes must be positive, got {count}")
    render = "rgb_array" if video is not None else None
    result = evaluate(
        config,
        model,
        lambda: make_env(config, evaluation=True, render_mode=render),
        episodes=count,
        seed=seed,
        video_path=video,
    )
    summary = {
        "env_id": config.env_id,
        "preset": config.preset,
        "checkpoint": str(checkpoint),
        "env_steps": counters.get("env_steps"),
        "updates": counters.get("updates"),
        "episodes": len(result.returns),
        "seeds": result.seeds,
        "returns": result.returns,
        "lengths": result.lengths,
        "return_mean": result.mean,
        "return_std": result.std,
        "return_median": float(np.median(result.returns)),
        "video": result.video_path,
    }
    summary_path = out or out_dir / "eval.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    with open(summary_path.with_name("eval_episodes.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["episode", "seed", "return", "length"])
        for i, (s, r, n) in enumerate(zip(result.seeds, result.returns, result.lengths)):
            writer.writerow([i, s, r, n])
    print(json.dumps(summary))
    return 0
