"""The run directory: its layout, defined once for the code that writes it and the code that
reads it (training, ``efficientzero eval``, reports)::

    config.json            the resolved Config
    metrics.jsonl          one JSON object per evaluation during training (env_steps, updates,
                           wall_seconds, eval_return_mean, eval_return_std, eval_episodes,
                           eval_seconds, phase_seconds, training metrics, runtime
                           diagnostics)
    tensorboard/env_steps  TensorBoard scalars by env step (evaluations, episode returns)
    tensorboard/updates    TensorBoard scalars by update (losses, lr, runtime waits)
    checkpoints/latest.pt  full training state (weights, optimizer, counters, replay, RNG)
    checkpoints/final.pt   final weights and counters (what ``efficientzero eval`` reads)
    eval.json              written by ``efficientzero eval``: the final-protocol summary
    eval_episodes.csv      written by ``efficientzero eval``: one row per episode
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

from efficientzero.config import Config

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
EVAL_EPISODES_FILE = "eval_episodes.csv"


class RunDirectoryError(RuntimeError):
    """A directory cannot be used as asked (exists without --resume, is not a run, is unreadable)."""


def default_run_dir(config: Config) -> Path:
    """``runs/<preset>-<env>-s<seed>-<time>``."""
    env = re.sub(r"[^A-Za-z0-9]+", "-", config.env_id.replace("ALE/", "")).strip("-")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.preset}-{env}-s{config.seed}-{stamp}"


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.pt"

    @property
    def final(self) -> Path:
        return self.checkpoints / "final.pt"

    @property
    def eval_summary(self) -> Path:
        return self.path / EVAL_FILE

    def is_run(self) -> bool:
        return self.config_path.is_file()

    def create(self, config: Config) -> None:
        """Start a new run here; refuses a directory that already holds anything."""
        if self.path.exists() and any(self.path.iterdir()):
            raise RunDirectoryError(
                f"run directory {self.path} already exists; pass --resume to continue it or choose another --run-dir"
            )
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.write_config(config)

    def write_config(self, config: Config) -> None:
        self.config_path.write_text(config.to_json() + "\n")

    def saved_config(self) -> Config:
        if not self.is_run():
            raise RunDirectoryError(f"{self.path} is not a run directory (no {CONFIG_FILE})")
        return Config.from_dict(json.loads(self.config_path.read_text()))


def eval_episodes_path(summary: Path) -> Path:
    """Where the per-episode rows of an evaluation summary go (next to it): ``eval_episodes.csv``
    beside ``eval.json``, ``NAME_episodes.csv`` beside any other ``NAME.json`` (so that several
    summaries written to one folder with ``--out`` keep their own rows)."""
    if summary.name == EVAL_FILE:
        return summary.with_name(EVAL_EPISODES_FILE)
    return summary.with_name(f"{summary.stem}_episodes.csv")


__all__ = [
    "CONFIG_FILE",
    "EVAL_FILE",
    "METRICS_FILE",
    "RunDirectory",
    "RunDirectoryError",
    "default_run_dir",
    "eval_episodes_path",
]
