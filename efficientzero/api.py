"""The Python API: train, resume, evaluate, and load a trained agent to act with.

    from efficientzero import Config, presets, train, evaluate, load_agent

    config = presets.cartpole().replace(total_env_steps=5_000, total_updates=1_250)
    result = train(config, "runs/cartpole")        # a run directory, as the CLI writes it
    summary = evaluate(result.run_dir)             # final weights -> eval.json
    agent = load_agent(result.run_dir)
    env = agent.make_env()
    observation, _ = env.reset(seed=0)
    action = agent.act(observation)

The command line (``efficientzero train | eval``) calls the same functions.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from efficientzero.checkpoint import CheckpointError, check_compatible, load_checkpoint
from efficientzero.config import Config, ConfigError
from efficientzero.envs import env_spec, make_env
from efficientzero.evaluation import evaluate_episodes
from efficientzero.nets import AgentModel, build_inference, network_kind
from efficientzero.planning import Plan, choose_actions, env_actions, plan
from efficientzero.run.directory import (
    EVAL_FILE,
    RunDirectory,
    RunDirectoryError,
    default_run_dir,
    eval_episodes_path,
)
from efficientzero.run.placement import resolve_device
from efficientzero.search import Searcher


@dataclass(frozen=True)
class TrainResult:
    """A finished training run."""

    run_dir: Path
    """The run directory (config.json, metrics.jsonl, checkpoints/, tensorboard/)."""
    record: dict[str, Any]
    """The final evaluation row (the last line of metrics.jsonl)."""

    @property
    def final_checkpoint(self) -> Path:
        return RunDirectory(self.run_dir).final


def train(
    config: Config | None = None,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``config`` into ``run_dir`` (default ``runs/<preset>-<env>-s<seed>-<time>``).

    With ``resume=True`` continue the run in ``run_dir`` from its last checkpoint; ``config``
    is then optional (the saved one) and may change only budgets, logging and the runtime
    layout (``checkpoint.RESUMABLE_FIELDS``). ``config.runtime`` picks the runtime: "local"
    (this process) or "ray" (actors; needs the ``ray`` extra).
    """
    if resume:
        if run_dir is None:
            raise RunDirectoryError("resuming needs the run directory to continue")
        directory = RunDirectory(Path(run_dir))
        saved = directory.saved_config()
        if not directory.latest.is_file():
            raise RunDirectoryError(
                f"{directory.path} has no checkpoint to resume from ({directory.latest} is missing)"
            )
        config = saved if config is None else config.validate()
        check_compatible(saved, config, f"run {directory.path}")
        if config != saved:
            directory.write_config(config)
    else:
        if config is None:
            raise ConfigError("train needs a config (for example presets.cartpole())")
        config = config.validate()
        # Unknown or unsuitable environments and networks fail before anything is written.
        network_kind(config, env_spec(config).frame_shape)
        directory = RunDirectory(Path(run_dir) if run_dir is not None else default_run_dir(config))
        directory.create(config)
    if config.runtime == "ray":
        from efficientzero.run.ray import train_ray

        record = train_ray(config, directory, resume=resume, progress=progress)
    else:
        from efficientzero.run.local import train_local

        record = train_local(config, directory, resume=resume, progress=progress)
    return TrainResult(directory.path, record)


# ---------------------------------------------------------------------------------- loading


def _checkpoint_of(path: Path) -> Path:
    """A checkpoint file, or a finished run directory's ``checkpoints/final.pt``."""
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    directory = RunDirectory(path)
    directory.saved_config()  # a clear error if this is not a run directory
    if not directory.final.is_file():
        raise RunDirectoryError(
            f"{path} has no finished checkpoint ({directory.final} is missing): the run has not "
            f"finished; use {directory.latest} to load its last checkpoint"
        )
    return directory.final


def _load_model(
    checkpoint: Path, device: torch.device
) -> tuple[AgentModel, Config, dict[str, Any]]:
    """(search model, config, counters) of a final or full training checkpoint.

    Replay and optimizer state in a full checkpoint stay on the CPU, mapped and never read;
    only weights move.
    """
    state, config = load_checkpoint(checkpoint, map_location="cpu", mmap=True)
    if "net" in state:
        weights = state["net"]
    elif "learner" in state:
        weights = state["learner"]["net"]
    else:
        raise CheckpointError(f"checkpoint {checkpoint} holds no network weights")
    spec = env_spec(config)
    try:
        model = build_inference(
            config, spec.frame_shape, spec.num_actions, weights, device, spec.action_dim
        )
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint weights do not fit the network of its config: {str(error).splitlines()[0]}"
        ) from None
    return model, config, dict(state.get("counters", {}))


class Agent:
    """A trained network with its search, acting greedily (argmax of visits, no root noise).

    ``act`` takes one observation of an environment made by ``make_env`` and keeps the last
    ``frame_stack`` frames itself; call ``reset`` when an episode starts. ``last_plan`` is the
    search behind the last action (its ``visit_counts``, ``policy`` and ``root_values``, each
    with a batch dimension of one), None before the first.
    """

    def __init__(self, model: AgentModel, config: Config, seed: int = 0) -> None:
        self.model = model
        self.config = config.for_evaluation()  # eval_num_simulations / eval_pb_c_init, where set
        self.rng = np.random.default_rng(seed)
        self.searcher = Searcher(threads=config.search_threads, graphs=config.cuda_graphs)
        self.frames: list[np.ndarray] = []
        self.last_plan: Plan | None = None

    def make_env(self, *, render_mode: str | None = None) -> gym.Env:
        """An evaluation environment of the agent's task (unclipped rewards, no life loss)."""
        return make_env(self.config, evaluation=True, render_mode=render_mode)

    def reset(self) -> None:
        """Forget the frames of the last episode."""
        self.frames = []

    def act(self, observation: np.ndarray) -> int | np.ndarray:
        """The action for ``observation`` (the first call after ``reset`` starts an episode): an
        int, or for continuous actions a float32 vector in [-1, 1]^D (the environment of
        ``make_env`` rescales it to the task's bounds)."""
        if not self.frames:  # the first frame pads the first stack, as in training
            self.frames = [observation] * self.config.frame_stack
        else:
            self.frames = [*self.frames[1:], observation]
        frames = torch.from_numpy(np.stack(self.frames)[None])
        root = self.model.root(frames)
        result = plan(self.config, self.model, root, self.rng, self.searcher, explore=False)
        self.last_plan = result
        action = env_actions(result, choose_actions(result, 0.0, self.rng))[0]
        return action if result.samples is not None else int(action)


def load_agent(path: str | Path, *, device: str = "auto", seed: int = 0) -> Agent:
    """The agent of a finished run directory (its final weights) or of a checkpoint file."""
    torch_device = resolve_device(device)
    model, config, _ = _load_model(_checkpoint_of(Path(path)), torch_device)
    return Agent(model, config.replace(device=device), seed)


# ---------------------------------------------------------------------------------- evaluation


def evaluate(
    path: str | Path,
    *,
    episodes: int | None = None,
    seed: int = 0,
    video: str | Path | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    num_threads: int | None = None,
    num_simulations: int | None = None,
    pb_c_init: float | None = None,
) -> dict[str, Any]:
    """Evaluate a finished run (its final weights) or a checkpoint file; returns the summary.

    ``episodes`` (default the config's ``eval_episodes``) run in parallel with environment
    seeds ``seed .. seed + episodes - 1``; ``video`` records the first one as mp4. The summary
    is written to ``out`` (default ``eval.json`` in the run directory, or next to the
    checkpoint) and one row per episode beside it (``eval_episodes.csv``; for an ``out`` of
    another name, ``NAME_episodes.csv``). ``num_threads``: torch's intra-op threads (default
    the run's ``num_threads``, as in training; 0 leaves torch's default), so an evaluation
    beside another run keeps to the core it trained on.
    ``num_simulations``: simulations per search (default the run's ``eval_num_simulations``, or
    its ``num_simulations`` where that is None), to see what the same weights do with a larger
    or smaller search; ``pb_c_init`` the same for the pUCT exploration constant (default the
    run's ``eval_pb_c_init``, else its ``pb_c_init``). The summary records both.
    """
    if num_threads is not None and num_threads < 0:
        raise ConfigError(f"num_threads must be >= 0, got {num_threads}")
    if num_simulations is not None and num_simulations < 1:
        raise ConfigError(f"num_simulations must be >= 1, got {num_simulations}")
    if pb_c_init is not None and pb_c_init < 0:
        raise ConfigError(f"pb_c_init must be >= 0, got {pb_c_init}")
    path = Path(path)
    checkpoint = _checkpoint_of(path)
    torch_device = resolve_device(device)
    model, config, counters = _load_model(checkpoint, torch_device)
    config = config.replace(device=device)
    if num_simulations is not None:
        config = config.replace(eval_num_simulations=num_simulations)
    if pb_c_init is not None:
        config = config.replace(eval_pb_c_init=pb_c_init)
    threads = config.num_threads if num_threads is None else num_threads
    if threads > 0:
        torch.set_num_threads(threads)
    count = episodes if episodes is not None else config.eval_episodes
    if count <= 0:
        raise ConfigError(f"episodes must be positive, got {count}")
    render = "rgb_array" if video is not None else None
    result = evaluate_episodes(
        config,
        model,
        lambda: make_env(config, evaluation=True, render_mode=render),
        episodes=count,
        seed=seed,
        video_path=Path(video) if video is not None else None,
    )
    searched = config.for_evaluation()
    summary = {
        "env_id": config.env_id,
        "preset": config.preset,
        "checkpoint": str(checkpoint),
        "env_steps": counters.get("env_steps"),
        "updates": counters.get("updates"),
        "num_simulations": searched.num_simulations,
        "pb_c_init": searched.pb_c_init,
        "episodes": len(result.returns),
        "seeds": result.seeds,
        "returns": result.returns,
        "lengths": result.lengths,
        "return_mean": result.mean,
        "return_std": result.std,
        "return_median": float(np.median(result.returns)),
        "video": result.video_path,
    }
    if out is not None:
        summary_path = Path(out)
    elif path.is_dir():
        summary_path = RunDirectory(path).eval_summary
    else:
        summary_path = checkpoint.parent / EVAL_FILE
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    with open(eval_episodes_path(summary_path), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["episode", "seed", "return", "length"])
        for i, (s, r, n) in enumerate(zip(result.seeds, result.returns, result.lengths)):
            writer.writerow([i, s, r, n])
    return summary


__all__ = ["Agent", "TrainResult", "evaluate", "load_agent", "train"]
