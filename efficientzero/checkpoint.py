"""Checkpoints: written atomically, loaded without executing pickled code.

A checkpoint is a ``torch.save`` file of plain containers, tensors and numbers only (numpy
arrays are stored as tensors), read back with ``torch.load(weights_only=True)``, which refuses
arbitrary pickled objects, so checkpoints shared between users cannot run code. Files are
written to a temporary name in the same directory and renamed into place, so a crash never
leaves a half-written checkpoint under the real name.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from efficientzero.config import Config, ConfigError, overrides_between

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or belongs to another configuration."""


def _to_torch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_torch(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_numpy(value: Any) -> Any:
    """Inverse of the conversion done at save time: tensors inside ``value`` become numpy arrays."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_numpy(v) for v in value]
    return value


def generator_state(rng: np.random.Generator) -> str:
    """A numpy generator's state as a JSON string (checkpoints hold no pickled objects)."""
    return json.dumps(rng.bit_generator.state)


def set_generator_state(rng: np.random.Generator, state: str) -> None:
    rng.bit_generator.state = json.loads(state)


def save_checkpoint(path: Path, state: dict[str, Any], config: Config) -> None:
    """Atomically write ``state`` (plus the config and a format version) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Arrays from Ray's object store are read-only views; they are only read here.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensors = _to_torch(state)
    payload = {"format_version": FORMAT_VERSION, "config": config.to_json(), **tensors}
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", mmap: bool = False
) -> tuple[dict[str, Any], Config]:
    """(state, config) of a checkpoint; CheckpointError names what is wrong.

    ``mmap`` maps the file instead of reading it: tensors are read from disk when first touched,
    so a reader that wants only the weights of a full checkpoint (replay included) does not read
    the replay. Writes to a mapped tensor stay private to the process.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:
        # torch's own message advises loading with weights_only=False, which would run whatever
        # code the file holds: never repeat that advice, say what is wrong and what to do.
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not an efficientzero checkpoint "
            f"({type(error).__name__}); use another checkpoint (a run keeps latest.pt and final.pt) "
            "or start a new run"
        ) from None
    if not isinstance(payload, dict) or "format_version" not in payload or "config" not in payload:
        raise CheckpointError(f"checkpoint {path} is not an efficientzero checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload['format_version']}, this library reads {FORMAT_VERSION}"
        )
    try:
        config = Config.from_dict(json.loads(payload.pop("config")))
    except (ConfigError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} holds an unreadable config: {error}") from error
    return payload, config


# Fields that may differ between a run and its resumption: budgets, logging, the runtime layout.
RESUMABLE_FIELDS = frozenset(
    {
        "device",
        "total_env_steps",
        "total_updates",
        "eval_interval",
        "checkpoint_interval",
        "log_interval",
        "eval_episodes",
        "runtime",
        "num_actors",
        "num_reanalyzers",
        "search_threads",
        "cuda_graphs",
        "num_threads",
        "ray_address",
        "learner_gpus",
        "actor_gpus",
        "reanalyzer_gpus",
        "object_store_memory",
        "ray_dashboard",
    }
)


def check_compatible(saved: Config, requested: Config, source: str) -> None:
    """Raise CheckpointError if ``requested`` differs from ``saved`` outside RESUMABLE_FIELDS."""
    diff = {
        k: v for k, v in overrides_between(saved, requested).items() if k not in RESUMABLE_FIELDS
    }
    if diff:
        shown = ", ".join(
            f"{k} (saved {a!r}, requested {b!r})" for k, (a, b) in sorted(diff.items())[:4]
        )
        raise CheckpointError(
            f"{source} was made with another config: {shown}; drop these overrides or start a new run directory"
        )
