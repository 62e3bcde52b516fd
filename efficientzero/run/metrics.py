"""A run's logs: ``metrics.jsonl`` (one row per evaluation) and TensorBoard scalars on two step
axes, env steps and updates (``run/directory.py`` has the layout).

A resumed run reads as if it had not been interrupted: rows of metrics.jsonl written after the
checkpoint are dropped, and TensorBoard hides the scalars logged after it (a purge step on
each axis).
"""

from __future__ import annotations

import json
import os
from typing import Any

from efficientzero.run.directory import RunDirectory
from efficientzero.run.schedule import Counters


class MetricsLogger:
    """metrics.jsonl and TensorBoard; ``resumed_from`` truncates both to a checkpoint's counters."""

    def __init__(
        self,
        run_dir: RunDirectory,
        *,
        resumed_from: Counters | None = None,
        tensorboard: bool = True,
    ) -> None:
        self.path = run_dir.metrics_path
        if resumed_from is not None:
            keep_rows(self.path, resumed_from)
        self.writers: dict[str, Any] = {}
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            for axis in ("env_steps", "updates"):
                reached = None
                if resumed_from is not None:
                    reached = getattr(resumed_from, axis) + 1  # later events are hidden
                self.writers[axis] = SummaryWriter(
                    str(run_dir.tensorboard / axis), purge_step=reached
                )

    def scalars(
        self, prefix: str, values: dict[str, float], *, env_steps: int = -1, updates: int = -1
    ) -> None:
        """``values`` as ``prefix/key`` at ``env_steps`` or at ``updates`` (give one of them)."""
        axis, step = ("env_steps", env_steps) if env_steps >= 0 else ("updates", updates)
        writer = self.writers.get(axis)
        if writer is not None:
            for key, value in values.items():
                writer.add_scalar(f"{prefix}/{key}", value, step)

    def evaluation(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        numbers = {k: v for k, v in record.items() if isinstance(v, int | float)}
        self.scalars("eval", numbers, env_steps=int(record["env_steps"]))
        for writer in self.writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def keep_rows(path: os.PathLike[str], counters: Counters) -> None:
    """Cut metrics.jsonl back to the ``counters.evaluations`` rows a checkpoint counted."""
    if not os.path.isfile(path):
        return
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    kept = lines[: counters.evaluations]
    with open(path, "w") as f:
        f.writelines(line + "\n" for line in kept)
