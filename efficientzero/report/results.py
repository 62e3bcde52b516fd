"""What a report holds: the runs of each game, grouped by preset, with their aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from efficientzero.envs.atari_games import AtariGame
from efficientzero.envs.dmc import DMCTask
from efficientzero.envs.minatar import MinAtarGame
from efficientzero.report.runs import RunRecord
from efficientzero.report.scores import AggregateScores


@dataclass(frozen=True)
class GameResult:
    """All runs of one game (or environment) within one preset, ordered by seed."""

    name: str
    """Short Atari name ("Breakout") or, for other environments, the env id."""
    game: AtariGame | None
    """None for environments outside the 26 Atari 100k games (no human-normalised score)."""
    runs: tuple[RunRecord, ...]
    minatar: MinAtarGame | None = None
    """The MinAtar game of v0 runs (DQN-normalised score); None otherwise."""
    dmc: DMCTask | None = None
    """The DeepMind Control task of proprioceptive runs with a published reference; None
    otherwise."""

    @property
    def scores(self) -> np.ndarray:
        return np.array([run.score for run in self.runs])

    @property
    def score_mean(self) -> float:
        return float(self.scores.mean())

    @property
    def score_std(self) -> float | None:
        """Sample standard deviation across seeds (None with one seed)."""
        return float(self.scores.std(ddof=1)) if len(self.runs) > 1 else None

    @property
    def hns(self) -> float | None:
        """Human-normalised score of the mean over seeds (equal to the mean of per-seed HNS)."""
        return None if self.game is None else float(self.game.human_normalized(self.score_mean))

    @property
    def dqn_normalized(self) -> float | None:
        """MinAtar: DQN-normalised score of the mean over seeds (see ``MinAtarGame``)."""
        return None if self.minatar is None else self.minatar.dqn_normalized(self.score_mean)

    @property
    def reference_fraction(self) -> float | None:
        """DeepMind Control: the mean score over EfficientZero V2's return at 100k steps."""
        return None if self.dmc is None else self.score_mean / self.dmc.ezv2_100k

    @property
    def reference_line(self) -> float | None:
        """The score the learning curves draw dashed: EfficientZero's published Atari score,
        DQN's 5M-frame return on a MinAtar game, or EfficientZero V2's return on a DeepMind
        Control task."""
        if self.minatar is not None:
            return self.minatar.dqn_5m
        if self.dmc is not None:
            return self.dmc.ezv2_100k
        return self.published

    @property
    def published(self) -> float | None:
        return None if self.game is None else self.game.published.get("efficientzero")

    @property
    def published_hns(self) -> float | None:
        if self.game is None or self.published is None:
            return None
        return float(self.game.human_normalized(self.published))

    @property
    def uses_fallback(self) -> bool:
        return any(run.is_fallback for run in self.runs)


@dataclass(frozen=True)
class PresetReport:
    """The games of one preset and, over its Atari games, the aggregates."""

    preset: str
    games: tuple[GameResult, ...]
    aggregates: AggregateScores | None
    left_out: tuple[Path, ...]
    """Runs not in the aggregates (uneven seed counts; see the module docstring)."""
    published_same_games: dict[str, float] | None
    """Published EfficientZero aggregates over the same games (None without Atari games)."""
    minatar_aggregates: AggregateScores | None = None
    """DQN-normalised aggregates over the MinAtar games (None without MinAtar v0 runs)."""
    minatar_left_out: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    files: list[Path]
    """Everything written: report.md / report.html, summary.json, plots/*.png."""
    groups: list[PresetReport]
    summary: dict[str, Any]
    """The content of summary.json."""
    warnings: list[str]
