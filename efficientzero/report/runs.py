"""Reading finished (or unfinished) run directories for reports (layout: ``run/directory.py``).

A run directory holds ``config.json`` (the run's Config), ``metrics.jsonl`` (one JSON object per
periodic evaluation: env_steps, eval_return_mean, ...) and, once ``efficientzero eval`` has run,
``eval.json`` with the final-protocol score (Ye et al. 2021, §5.1: the final weights, 32 episodes). The final score of a run is
``eval.json``'s ``return_mean``; without it the last ``metrics.jsonl`` evaluation stands in and
the run is flagged, because periodic evaluations use fewer episodes than the protocol.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from efficientzero.run.directory import (
    CONFIG_FILE,
    EVAL_FILE,
    METRICS_FILE,
    RunDirectory,
    RunDirectoryError,
)


@dataclass(frozen=True)
class RunRecord:
    """What a report needs from one run directory."""

    path: Path
    preset: str
    env_id: str
    seed: int
    total_env_steps: int
    score: float
    """Final score: eval.json's return_mean, or the last periodic evaluation (see score_source)."""
    score_source: Literal["eval.json", "metrics.jsonl"]
    env_steps: int | None
    """Agent steps of training behind the final score (None if the file does not say)."""
    eval_episodes: int | None
    curve_steps: np.ndarray = field(repr=False)
    """[T] env_steps of the periodic evaluations, increasing."""
    curve_returns: np.ndarray = field(repr=False)
    """[T] eval_return_mean at curve_steps."""
    action_repeat: int = 1
    """Environment steps per agent step (the config's ``action_repeat``; Atari's frame skip is
    not counted)."""
    pixels: bool = False
    """DeepMind Control from rendered frames (the config's ``pixels``)."""

    @property
    def is_fallback(self) -> bool:
        return self.score_source != EVAL_FILE


def is_run_dir(path: Path) -> bool:
    return RunDirectory(path).is_run()


def discover_run_dirs(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Run directories given directly or found below the given directories (any depth).

    Returns (run directories, warnings). A path that does not exist raises RunDirectoryError (likely
    a typo); a directory without any run directory below it is skipped with a warning.
    """
    found: dict[Path, None] = {}  # insertion-ordered set of resolved paths
    warnings = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunDirectoryError(f"{path}: no such directory")
        if is_run_dir(path):
            found.setdefault(path.resolve())
            continue
        below = sorted(p.parent.resolve() for p in path.rglob(CONFIG_FILE))
        # A run directory's own subfolders (checkpoints, ...) are not further runs.
        outer = [p for p in below if not any(q in p.parents for q in below)]
        if not outer:
            warnings.append(
                f"{path}: no run directory ({CONFIG_FILE}) found here or below; skipped"
            )
        for run in outer:
            found.setdefault(run)
    return list(found), warnings


def load_run(path: Path) -> tuple[RunRecord, list[str]]:
    """Read one run directory. Returns (record, warnings); raises RunDirectoryError when unusable."""
    path = Path(path)
    config = _read_config(path)
    steps, returns, curve_warnings = _read_curve(path / METRICS_FILE)
    warnings = list(curve_warnings)
    if (path / EVAL_FILE).is_file():
        final = _read_eval(path / EVAL_FILE)
        if final["env_id"] not in (None, config["env_id"]):
            warnings.append(
                f"{path}: {EVAL_FILE} is for {final['env_id']} but config.json for {config['env_id']}"
            )
    elif len(steps):
        final = {"score": float(returns[-1]), "env_steps": int(steps[-1]), "episodes": None}
        final["source"] = METRICS_FILE
        warnings.append(
            f"{path}: no {EVAL_FILE}; using the last periodic evaluation in {METRICS_FILE} "
            f"(env_steps {final['env_steps']}). Run `efficientzero eval --run-dir {path}` "
            "for the final protocol score"
        )
    else:
        raise RunDirectoryError(f"{path}: neither {EVAL_FILE} nor evaluations in {METRICS_FILE}")
    if final["env_steps"] is not None and final["env_steps"] < config["total_env_steps"]:
        warnings.append(
            f"{path}: final score taken at {final['env_steps']} of "
            f"{config['total_env_steps']} env steps (unfinished run?)"
        )
    record = RunRecord(
        path=path,
        preset=config["preset"],
        env_id=config["env_id"],
        seed=config["seed"],
        total_env_steps=config["total_env_steps"],
        score=final["score"],
        score_source=final["source"],
        env_steps=final["env_steps"],
        eval_episodes=final["episodes"],
        curve_steps=steps,
        curve_returns=returns,
        action_repeat=config["action_repeat"],
        pixels=config["pixels"],
    )
    return record, warnings


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunDirectoryError(f"{path}: cannot read JSON ({error})") from error


def _read_config(path: Path) -> dict[str, Any]:
    if not is_run_dir(path):
        raise RunDirectoryError(f"{path}: not a run directory (no {CONFIG_FILE})")
    data = _read_json(path / CONFIG_FILE)
    required = {"preset": str, "env_id": str, "seed": int, "total_env_steps": int}
    if not isinstance(data, dict):
        raise RunDirectoryError(f"{path / CONFIG_FILE}: expected a JSON object")
    for key, kind in required.items():
        if not isinstance(data.get(key), kind):
            raise RunDirectoryError(f"{path / CONFIG_FILE}: missing or invalid {key!r}")
    optional = {"action_repeat": 1, "pixels": False}  # runs written before these fields existed
    return {key: data[key] for key in required} | {k: data.get(k, v) for k, v in optional.items()}


def _read_eval(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("return_mean"), int | float):
        raise RunDirectoryError(f"{path}: no numeric 'return_mean'")
    episodes = data.get("episodes")
    if episodes is None and isinstance(data.get("returns"), list):
        episodes = len(data["returns"])
    return {
        "score": float(data["return_mean"]),
        "env_steps": data.get("env_steps"),
        "episodes": episodes,
        "env_id": data.get("env_id"),
        "source": EVAL_FILE,
    }


def _read_curve(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(env_steps [T], eval_return_mean [T], warnings) from metrics.jsonl; empty if absent."""
    if not path.is_file():
        return np.zeros(0, dtype=np.int64), np.zeros(0), []
    points: dict[int, float] = {}
    warnings = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            # A run killed mid-write leaves a truncated last line; the rest is still good.
            warnings.append(f"{path}:{number}: not valid JSON; line skipped")
            continue
        if isinstance(entry, dict) and "eval_return_mean" in entry and "env_steps" in entry:
            points[int(entry["env_steps"])] = float(entry["eval_return_mean"])
    steps = np.array(sorted(points), dtype=np.int64)
    returns = np.array([points[s] for s in steps.tolist()], dtype=np.float64)
    return steps, returns, warnings


__all__ = ["RunRecord", "discover_run_dirs", "is_run_dir", "load_run"]
