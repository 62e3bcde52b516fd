"""Known-answer tests of human-normalised scores, aggregates and bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from efficientzero.report import scores
from efficientzero.report.scores import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_scores,
    bootstrap_intervals,
    games_above_human,
    human_normalized,
    rectangular_matrix,
)

# [R=3 runs, G=3 games] of human-normalised scores.
#   game A: 0.0, 0.5, 1.0 -> mean 0.5
#   game B: 1.0, 2.0, 3.0 -> mean 2.0
#   game C: 0.2, 0.2, 0.5 -> mean 0.3
MATRIX = np.array(
    [
        [0.0, 1.0, 0.2],
        [0.5, 2.0, 0.2],
        [1.0, 3.0, 0.5],
    ]
)


def test_human_normalized_by_hand() -> None:
    # Breakout: random 1.7, human 30.5, so human - random = 28.8.
    assert human_normalized(1.7, 1.7, 30.5) == pytest.approx(0.0)
    assert human_normalized(30.5, 1.7, 30.5) == pytest.approx(1.0)
    assert human_normalized(16.1, 1.7, 30.5) == pytest.approx(14.4 / 28.8)  # 0.5
    # Below random is negative: (-5 - 1.7) / 28.8.
    assert human_normalized(-5.0, 1.7, 30.5) == pytest.approx(-6.7 / 28.8)
    np.testing.assert_allclose(human_normalized([1.7, 59.3], 1.7, 30.5), [0.0, 2.0])


def test_aggregates_by_hand() -> None:
    # Mean of the per-game means: (0.5 + 2.0 + 0.3) / 3.
    assert aggregate_mean(MATRIX) == pytest.approx(2.8 / 3)
    # Median of 0.5, 2.0, 0.3.
    assert aggregate_median(MATRIX) == pytest.approx(0.5)
    # IQM of all 9 scores: sorted 0.0 0.2 0.2 0.5 0.5 1.0 1.0 2.0 3.0; int(0.25 * 9) = 2 cut
    # from each end leaves 0.2 0.5 0.5 1.0 1.0, whose mean is 3.2 / 5.
    assert aggregate_iqm(MATRIX) == pytest.approx(0.64)
    # Only game B has a mean >= 1.
    assert games_above_human(MATRIX) == 1


def test_iqm_matches_scipy_trim_mean() -> None:
    from scipy.stats import trim_mean

    values = np.random.default_rng(0).normal(size=(5, 7))
    assert aggregate_iqm(values) == pytest.approx(trim_mean(values, 0.25, axis=None))


def test_games_above_human_threshold_is_inclusive() -> None:
    # The threshold is inclusive: a mean of exactly 1 is "at or above human".
    assert games_above_human(np.array([[0.5], [1.5]])) == 1
    assert games_above_human(np.array([[0.999]])) == 0


def test_intervals_bracket_point_and_are_deterministic() -> None:
    first = aggregate_scores(MATRIX, bootstrap_reps=500, seed=3)
    again = aggregate_scores(MATRIX, bootstrap_reps=500, seed=3)
    other = aggregate_scores(MATRIX, bootstrap_reps=500, seed=4)
    assert first == again
    assert first != other
    for metric in scores.METRICS:
        interval = getattr(first, metric)
        assert interval.low <= interval.point <= interval.high
        assert interval.low < interval.high  # the data vary, so the interval has width
    assert first.mean.point == pytest.approx(2.8 / 3)
    assert (first.num_games, first.runs_per_game, first.games_above_human) == (3, 3, 1)


def test_one_run_per_game_has_no_uncertainty() -> None:
    # With one run per game every resample is the data itself.
    points, bounds, _ = bootstrap_intervals(MATRIX[:1], reps=50, seed=0)
    np.testing.assert_allclose(bounds[0], points)
    np.testing.assert_allclose(bounds[1], points)


def test_bootstrap_resamples_within_each_game() -> None:
    # One game with runs 0 and 1: resampled means are 0, 0.5 or 1 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles are 0 and 1. A second, constant game
    # would stay constant only if runs are resampled within games (stratified).
    matrix = np.array([[0.0, 5.0], [1.0, 5.0]])
    points, bounds, _ = bootstrap_intervals(matrix, reps=2000, seed=0, backend="numpy")
    # Median of the game means (0.5 and 5) is their mean, 2.75, and moves only with game 1.
    assert points[1] == pytest.approx(2.75)
    assert bounds[0, 1] == pytest.approx(2.5)  # game 1 mean 0
    assert bounds[1, 1] == pytest.approx(3.0)  # game 1 mean 1


def test_bootstrap_leaves_global_random_state_alone() -> None:
    np.random.seed(5)  # noqa: NPY002
    expected = np.random.rand()  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    bootstrap_intervals(MATRIX, reps=100, seed=0)
    assert np.random.rand() == expected  # noqa: NPY002


@pytest.mark.skipif(scores._import_rliable() is None, reason="rliable does not import here")
def test_numpy_backend_equals_rliable() -> None:
    # Same seed, same resamples: the fallback reproduces rliable to the last bit.
    data = np.random.default_rng(1).uniform(0, 3, size=(3, 5))
    ours = bootstrap_intervals(data, reps=300, seed=11, backend="numpy")
    theirs = bootstrap_intervals(data, reps=300, seed=11, backend="rliable")
    assert theirs[2] == "rliable"
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="reps"):
        bootstrap_intervals(MATRIX, reps=0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        bootstrap_intervals(MATRIX, reps=10, seed=-1)
    with pytest.raises(ValueError, match="NaN"):
        aggregate_scores(np.array([[np.nan, 1.0]]), bootstrap_reps=10)
    with pytest.raises(ValueError, match="matrix"):
        aggregate_scores(np.zeros(3), bootstrap_reps=10)


def test_rectangular_matrix_trims_uneven_games() -> None:
    matrix, games, dropped = rectangular_matrix({"A": [1.0, 2.0, 3.0], "B": [4.0, 5.0]})
    assert games == ["A", "B"]
    np.testing.assert_array_equal(matrix, [[1.0, 4.0], [2.0, 5.0]])  # first runs kept
    assert dropped == {"A": 1}
    with pytest.raises(ValueError, match=r"A: 3, B: 2"):
        rectangular_matrix({"A": [1.0, 2.0, 3.0], "B": [4.0, 5.0]}, uneven="error")
    with pytest.raises(ValueError, match="without runs: B"):
        rectangular_matrix({"A": [1.0], "B": []})
