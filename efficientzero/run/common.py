"""What every runtime shares: the run directory, metric logs, devices, component construction.

Run directory layout::

    config.json          the resolved Config
    metrics.jsonl        one JSON object per evaluation (env_steps, updates, wall_seconds,
                         eval_return_mean, eval_return_std, eval_episodes, training metrics)
    tensorboard/         TensorBoard event files
    checkpoints/latest.pt  full training state (weights, optimizer, counters, replay, RNG)
    checkpoints/final.pt   final weights and counters (what ``efficientzero eval`` reads)
    eval.json, eval_episodes.csv   written by ``efficientzero eval``
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from efficientzero.config import Config, ConfigError
from efficientzero.envs import EnvSpec, make_env
from efficientzero.evaluate import evaluate
from efficientzero.nets import EfficientZeroNet, InferenceModel

LATEST = "latest.pt"
FINAL = "final.pt"


class RunDirectoryError(RuntimeError):
    """The run directory cannot be used as asked (exists without --resume, missing, ...)."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return torch.device(name)


def default_run_dir(config: Config) -> Path:
    env = re.sub(r"[^A-Za-z0-9]+", "-", config.env_id.replace("ALE/", "")).strip("-")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.preset}-{env}-s{config.seed}-{stamp}"


@dataclass
class RunDirectory:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def latest(self) -> Path:
        return self.checkpoints / LATEST

    @property
    def final(self) -> Path:
        return self.checkpoints / FINAL

    def create(self, config: Config) -> None:
        """Start a new run here; refuses a directory that already holds a run."""
        if self.path.exists() and any(self.path.iterdir()):
            raise RunDirectoryError(
                f"run directory {self.path} already exists; pass --resume to continue it or choose another --run-dir"
            )
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config.to_json() + "\n")

    def saved_config(self) -> Config:
        if not self.config_path.is_file():
            raise RunDirectoryError(f"{self.path} is not a run directory (no config.json)")
        return Config.from_dict(json.loads(self.config_path.read_text()))


class MetricsLogger:
    """metrics.jsonl (one line per evaluation) and TensorBoard scalars."""

    def __init__(self, run_dir: RunDirectory, tensorboard: bool = True) -> None:
        self.path = run_dir.metrics_path
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir.path / "tensorboard"))

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def evaluation(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.scalars(
            "eval",
            {k: v for k, v in record.items() if isinstance(v, (int, float))},
            int(record["env_steps"]),
        )
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def inference_copy(net: EfficientZeroNet, config: Config) -> InferenceModel:
    """An independent eval-mode copy of ``net`` wrapped for search (self-play, target, evaluation)."""
    return InferenceModel(
        copy.deepcopy(net),
        lstm_horizon_len=config.lstm_horizon_len,
        use_value_prefix=config.use_value_prefix,
        mixed_precision=config.mixed_precision,
    )


def rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: str) -> None:
    rng.bit_generator.state = json.loads(state)


def describe(spec: EnvSpec, net: EfficientZeroNet, device: torch.device) -> str:
    params = sum(p.numel() for p in net.parameters())
    return f"frames {spec.frame_shape} {spec.frame_dtype}, {spec.num_actions} actions, {params / 1e6:.2f}M parameters on {device}"


@dataclass
class Counters:
    """Progress of a run (saved in checkpoints; the same for every runtime)."""

    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    wall_seconds: float = 0.0
    next_eval: int = 0


def evaluation_record(
    config: Config,
    model: InferenceModel,
    weights: dict[str, torch.Tensor],
    counters: Counters,
    recent_returns: Iterable[float],
    last_metrics: dict[str, float],
) -> dict[str, Any]:
    """Evaluate ``weights`` during training and build the metrics.jsonl record.

    ``periodic_eval_episodes`` episodes (default ``eval_episodes``), seeds from ``env_steps``.
    """
    model.net.load_state_dict(weights)
    result = evaluate(
        config,
        model,
        lambda: make_env(config, evaluation=True),
        episodes=config.periodic_eval_episodes or config.eval_episodes,
        seed=10_000 + counters.env_steps,
    )
    recent = list(recent_returns)
    return {
        "env_steps": counters.env_steps,
        "updates": counters.updates,
        "wall_seconds": round(counters.wall_seconds, 2),
        "eval_return_mean": result.mean,
        "eval_return_std": result.std,
        "eval_episodes": len(result.returns),
        "train_return_mean": float(np.mean(recent)) if recent else None,
        "episodes": counters.episodes,
        **last_metrics,
    }


def checkpoint_state(
    *,
    learner: dict[str, Any],
    selfplay_net: dict[str, torch.Tensor],
    target_net: dict[str, torch.Tensor],
    replay: dict[str, Any],
    counters: Counters,
    rng: dict[str, Any],
    target_saved: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """The content of ``checkpoints/latest.pt``, the same for every runtime (so either resumes).

    ``rng`` holds the states of the self-play, reanalysis and sampling generators
    (``"actor"``, ``"reanalyzer"``, ``"sample"``) and torch's (``"torch"``). ``target_saved``
    holds the weights the next target refresh installs (``target_network_lag="previous"``).
    """
    return {
        "learner": learner,
        "selfplay_net": selfplay_net,
        "target_net": target_net,
        "target_saved": target_saved,
        "replay": replay,
        "counters": asdict(counters),
        "rng": rng,
    }
