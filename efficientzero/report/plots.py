"""PNG figures for reports: learning curves per game and aggregate bars.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot, so importing this module
neither changes the process's matplotlib backend nor keeps figures alive in pyplot's registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from efficientzero.report.scores import METRICS, AggregateScores


@dataclass(frozen=True)
class Curve:
    """One game's learning curves: one (steps [T_i], returns [T_i]) pair per seed."""

    title: str
    runs: Sequence[tuple[np.ndarray, np.ndarray]]
    reference: float | None = None
    """A published final score drawn as a dashed line (None: no line)."""
    reference_label: str = "EfficientZero (published)"


def mean_and_band(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """(grid [T], mean [T], low [T], high [T]) across seeds on the union of evaluation steps.

    Seeds evaluated at different steps are linearly interpolated onto the union grid, but
    never extrapolated: outside a seed's own range it does not count. The band is the min-max
    across seeds (with three seeds a standard deviation says little).
    """
    grid = np.unique(np.concatenate([steps for steps, _ in runs]))
    values = np.full((len(runs), len(grid)), np.nan)
    for i, (steps, returns) in enumerate(runs):
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        values[i, inside] = np.interp(grid[inside], steps, returns)
    return grid, np.nanmean(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0)


def plot_learning_curves(curves: Sequence[Curve], path: Path) -> Path:
    """A grid of subplots, one per game: mean over seeds with a min-max band."""
    columns = min(len(curves), 4)
    rows = math.ceil(len(curves) / columns)
    fig = _figure(4 * columns, 3 * rows)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, curve in zip(axes.flat, curves):
        runs = [(s, r) for s, r in curve.runs if len(s)]
        if runs:
            grid, mean, low, high = mean_and_band(runs)
            ax.plot(grid, mean, color="C0", label=f"mean of {len(runs)} seed(s)")
            if len(runs) > 1:
                ax.fill_between(grid, low, high, color="C0", alpha=0.25, label="min-max")
        else:
            ax.text(0.5, 0.5, "no periodic evaluations", ha="center", transform=ax.transAxes)
        if curve.reference is not None:
            ax.axhline(curve.reference, color="C3", linestyle="--", label=curve.reference_label)
        ax.set_title(curve.title)
        ax.set_xlabel("env steps")
        ax.set_ylabel("eval return")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(curves) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    return _save(fig, path)


def plot_aggregates(
    ours: AggregateScores,
    references: Mapping[str, Mapping[str, float]],
    path: Path,
    label: str = "this report",
    ylabel: str = "human-normalised score",
) -> Path:
    """Grouped bars of mean / median / IQM normalised scores: ours with CI error bars,
    references beside."""
    series = [(label, [getattr(ours, m).point for m in METRICS])]
    series += [(name, [values[m] for m in METRICS]) for name, values in references.items()]
    width = 0.8 / len(series)
    x = np.arange(len(METRICS))
    fig = _figure(7, 4)
    ax = fig.subplots()
    for i, (name, heights) in enumerate(series):
        offset = x + (i - (len(series) - 1) / 2) * width
        error = None
        if i == 0:
            intervals = [getattr(ours, m) for m in METRICS]
            error = np.array(
                [[iv.point - iv.low for iv in intervals], [iv.high - iv.point for iv in intervals]]
            )
        ax.bar(offset, heights, width, yerr=error, capsize=4, label=name, color=f"C{i}")
    ax.axhline(1.0, color="gray", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, ["Mean", "Median", "IQM"])
    ax.set_ylabel(ylabel)
    percent = round(100 * ours.confidence)
    ax.set_title(f"Aggregates over {ours.num_games} game(s), {percent}% bootstrap CIs")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


__all__ = ["Curve", "mean_and_band", "plot_aggregates", "plot_learning_curves"]
