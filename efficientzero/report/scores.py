"""Human-normalised scores and their aggregates with stratified-bootstrap confidence intervals.

The methodology is rliable's (Agarwal et al., 2021, "Deep RL at the Edge of the Statistical
Precipice"), as the Atari 100k protocol asks: scores form a matrix ``[R, G]`` (R runs per game, G games);
the mean and median are taken over per-game means, the IQM over all R * G scores (25% cut from
each end, as ``scipy.stats.trim_mean``); 95% intervals are percentile intervals of a stratified
bootstrap that resamples runs with replacement independently within each game.

Intervals come from ``rliable.library.get_interval_estimates`` when rliable imports, and
otherwise from ``_numpy_intervals``, which draws exactly the same resamples from the same seed
(rliable draws with ``np.random.choice`` on the global legacy generator), so both backends give
identical numbers; the test suite checks this where rliable is importable. The fallback exists
because rliable's dependency ``arch`` (7.x) fails to import next to pandas 3.

The bootstrap needs a rectangular matrix: ``rectangular_matrix`` trims every game to the
smallest number of runs of any game (keeping the first runs given, i.e. the lowest seeds) or
raises, and reports what it dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, Literal

import numpy as np

logger = logging.getLogger(__name__)

METRICS = ("mean", "median", "iqm")
"""The aggregate metrics, in the order ``aggregate_vector`` returns them."""

Backend = Literal["auto", "rliable", "numpy"]


def human_normalized(score: Any, random: float, human: float) -> Any:
    """(score - random) / (human - random); works on floats and arrays alike."""
    return (np.asarray(score, dtype=np.float64) - random) / (human - random)


# ---------------------------------------------------------------------------------- aggregates


def aggregate_mean(scores: np.ndarray) -> float:
    """Mean over games of the per-game mean over runs. ``scores``: [R, G]."""
    return float(np.mean(np.mean(scores, axis=0)))


def aggregate_median(scores: np.ndarray) -> float:
    """Median over games of the per-game mean over runs. ``scores``: [R, G]."""
    return float(np.median(np.mean(scores, axis=0)))


def aggregate_iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all R * G scores: int(0.25 * n) cut from each end (as trim_mean)."""
    return float(_iqm_batch(np.asarray(scores, dtype=np.float64).reshape(1, -1))[0])


def games_above_human(scores: np.ndarray) -> int:
    """Games whose mean human-normalised score over runs is >= 1. ``scores``: [R, G]."""
    return int(np.sum(np.mean(scores, axis=0) >= 1.0))


def aggregate_vector(scores: np.ndarray) -> np.ndarray:
    """[mean, median, IQM] of one score matrix [R, G] (the function rliable bootstraps)."""
    return np.array([aggregate_mean(scores), aggregate_median(scores), aggregate_iqm(scores)])


def _iqm_batch(flat: np.ndarray) -> np.ndarray:
    """IQM of each row of ``flat`` [S, n] -> [S]."""
    n = flat.shape[1]
    cut = int(0.25 * n)
    return np.sort(flat, axis=1)[:, cut : n - cut].mean(axis=1)


def _aggregate_batch(samples: np.ndarray) -> np.ndarray:
    """[mean, median, IQM] of each resampled matrix: ``samples`` [S, R, G] -> [S, 3]."""
    game_means = samples.mean(axis=1)  # [S, G]
    return np.stack(
        [
            game_means.mean(axis=1),
            np.median(game_means, axis=1),
            _iqm_batch(samples.reshape(samples.shape[0], -1)),
        ],
        axis=1,
    )


# ---------------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A point estimate with the bounds of its confidence interval."""

    point: float
    low: float
    high: float


@dataclass(frozen=True)
class AggregateScores:
    """Mean, median and IQM with confidence intervals, and the games above human."""

    mean: Interval
    median: Interval
    iqm: Interval
    games_above_human: int
    num_games: int
    runs_per_game: int
    bootstrap_reps: int
    seed: int
    confidence: float
    backend: str
    """Which implementation computed the intervals: "rliable" or "numpy"."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def aggregate_scores(
    scores: np.ndarray,
    bootstrap_reps: int = 50_000,
    seed: int = 0,
    confidence: float = 0.95,
    backend: Backend = "auto",
) -> AggregateScores:
    """Aggregates of a human-normalised score matrix ``scores`` [R, G] with bootstrap CIs."""
    scores = _check_matrix(scores)
    points, bounds, used = bootstrap_intervals(scores, bootstrap_reps, seed, confidence, backend)
    intervals = [
        Interval(float(points[i]), float(bounds[0, i]), float(bounds[1, i])) for i in range(3)
    ]
    return AggregateScores(
        mean=intervals[0],
        median=intervals[1],
        iqm=intervals[2],
        games_above_human=games_above_human(scores),
        num_games=scores.shape[1],
        runs_per_game=scores.shape[0],
        bootstrap_reps=bootstrap_reps,
        seed=seed,
        confidence=confidence,
        backend=used,
    )


def bootstrap_intervals(
    scores: np.ndarray,
    reps: int,
    seed: int,
    confidence: float = 0.95,
    backend: Backend = "auto",
) -> tuple[np.ndarray, np.ndarray, str]:
    """Point estimates [3] and percentile intervals [2, 3] (low row, high row) of METRICS.

    Returns the backend used as third element. "auto" uses rliable when it imports.
    """
    scores = _check_matrix(scores)
    if reps < 1:
        raise ValueError(f"bootstrap reps must be >= 1, got {reps}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"bootstrap seed must be in [0, 2**32), got {seed}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rliable = _import_rliable() if backend in ("auto", "rliable") else None
    if backend == "rliable" and rliable is None:
        raise RuntimeError("rliable is not importable in this environment (see the log)")
    if rliable is not None:
        return (*_rliable_intervals(rliable, scores, reps, seed, confidence), "rliable")
    return (*_numpy_intervals(scores, reps, seed, confidence), "numpy")


def _check_matrix(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(
            f"scores must be a non-empty [runs, games] matrix, got shape {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    return scores


@lru_cache(maxsize=1)
def _import_rliable() -> ModuleType | None:
    # Any exception, not only ImportError: arch 7 raises TypeError on import under pandas 3.
    try:
        from rliable import library
    except Exception as error:
        logger.info(
            "rliable unavailable (%s: %s); using the numpy bootstrap", type(error).__name__, error
        )
        return None
    return library


def _rliable_intervals(
    library: ModuleType, scores: np.ndarray, reps: int, seed: int, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    # rliable's StratifiedBootstrap draws from the global legacy generator (np.random.choice),
    # so the legacy API is the only way to seed it; the caller's state is put back afterwards.
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        points, intervals = library.get_interval_estimates(
            {"scores": scores},
            aggregate_vector,
            reps=reps,
            confidence_interval_size=confidence,
        )
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return np.asarray(points["scores"], dtype=np.float64), np.asarray(intervals["scores"])


def _numpy_intervals(
    scores: np.ndarray, reps: int, seed: int, confidence: float, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    num_runs, num_games = scores.shape
    # Same draws as rliable: one choice(R, (R, G)) per replicate from RandomState(seed); the
    # run index of entry (r, g) is resampled within game g only (stratified by game).
    rng = np.random.RandomState(seed)
    columns = np.arange(num_games)
    stats = []
    for start in range(0, reps, chunk):
        count = min(chunk, reps - start)
        indices = np.stack([rng.choice(num_runs, (num_runs, num_games)) for _ in range(count)])
        stats.append(_aggregate_batch(scores[indices, columns]))
    replicates = np.concatenate(stats)  # [reps, 3]
    tail = 100.0 * (1.0 - confidence) / 2.0
    bounds = np.percentile(replicates, [tail, 100.0 - tail], axis=0)
    return aggregate_vector(scores), bounds


# ---------------------------------------------------------------------------------- uneven runs


def rectangular_matrix(
    per_game: Mapping[str, Sequence[float]],
    uneven: Literal["trim", "error"] = "trim",
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Stack per-game score lists into a [R, G] matrix for the bootstrap.

    Games keep their mapping order. With different run counts, "trim" keeps the first R of
    each game, R being the smallest count (callers order runs by seed, so the lowest seeds are
    kept); "error" raises ValueError naming the counts. Returns (matrix, games, dropped) where
    ``dropped[game]`` is how many runs of that game were left out (only games that lost runs).
    """
    if not per_game:
        raise ValueError("no games to aggregate")
    counts = {game: len(values) for game, values in per_game.items()}
    if min(counts.values()) == 0:
        empty = [game for game, n in counts.items() if n == 0]
        raise ValueError(f"games without runs: {', '.join(empty)}")
    runs = min(counts.values())
    if uneven == "error" and max(counts.values()) != runs:
        listed = ", ".join(f"{game}: {n}" for game, n in counts.items())
        raise ValueError(
            f"games have different numbers of runs ({listed}); the bootstrap needs the same number"
        )
    matrix = np.array([list(values)[:runs] for values in per_game.values()], dtype=np.float64).T
    dropped = {game: n - runs for game, n in counts.items() if n > runs}
    return matrix, list(per_game), dropped


__all__ = [
    "METRICS",
    "AggregateScores",
    "Interval",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "aggregate_scores",
    "aggregate_vector",
    "bootstrap_intervals",
    "games_above_human",
    "human_normalized",
    "rectangular_matrix",
]
