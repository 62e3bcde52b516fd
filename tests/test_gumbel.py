"""Gumbel root selection with sequential halving: schedule, completed Q and bandit answers."""

from __future__ import annotations

import numpy as np
from test_search import DISCOUNT, BanditModel, MLPModel

from efficientzero.search.gumbel import (
    completed_q,
    considered_visit_sequence,
    gumbel_search,
    sigma,
)


def test_considered_visit_sequence_by_hand() -> None:
    # 4 actions, 8 simulations: 2 phases; 4 x 1 visit, then the best 2 get 8 // (2 * 2) = 2 more.
    assert considered_visit_sequence(4, 8).tolist() == [0, 0, 0, 0, 1, 1, 2, 2]
    assert considered_visit_sequence(1, 5).tolist() == [0, 1, 2, 3, 4]
    assert considered_visit_sequence(2, 5).tolist() == [0, 0, 1, 1, 2]
    assert considered_visit_sequence(16, 16).tolist() == [0] * 16
    # 3 actions: 2 phases of 6 // (2 * 3) = 1 round, then the best 2 share the rest.
    assert considered_visit_sequence(3, 6).tolist() == [0, 0, 0, 1, 1, 2]
    # 5 actions, 15 simulations: 3 phases; 5 x 1, then 3 x 1 (15 // 9), then 2 x 2 (15 // 6),
    # then the last 2 share the rest.
    expected = [0] * 5 + [1] * 3 + [2, 2, 3, 3] + [4, 4, 5]
    assert considered_visit_sequence(5, 15).tolist() == expected


def test_completed_q_mixes_the_value_with_visited_q() -> None:
    visits = np.array([[2, 0, 1]])
    q = np.array([[0.5, 9.0, -1.0]])
    prior = np.array([[0.2, 0.5, 0.3]])
    value = np.array([0.4])
    # v_mix = (0.4 + 3 * (0.2 * 0.5 + 0.3 * -1) / (0.2 + 0.3)) / (1 + 3)
    v_mix = (0.4 + 3 * (0.1 - 0.3) / 0.5) / 4
    np.testing.assert_allclose(completed_q(visits, q, prior, value), [[0.5, v_mix, -1.0]])
    no_visits = completed_q(np.zeros((1, 3), int), q, prior, value)
    np.testing.assert_allclose(no_visits, [[0.4, 0.4, 0.4]])


def test_sigma_scales_normalised_q_by_visits() -> None:
    completed = np.array([[1.0, 3.0, 2.0, 100.0]])
    legal = np.array([[True, True, True, False]])
    visits = np.array([[1, 4, 0, 0]])
    np.testing.assert_allclose(sigma(completed, visits, legal, 50.0, 0.1)[0, :3], [0, 5.4, 2.7])


def test_bandit_sequential_halving_visits_the_best_half() -> None:
    model = BanditModel([0.1, 0.9, 0.5, 0.3])
    out = gumbel_search(
        model, model.root(3), num_simulations=8, discount=DISCOUNT,
        gumbel=np.zeros((3, 4)), rng=np.random.default_rng(0),
    )  # fmt: skip
    # One visit each, then the two best arms (Q = reward) get two more each.
    assert (out.search.visit_counts == [1, 3, 3, 1]).all()
    assert (out.actions == 1).all()
    assert (out.improved_policy.argmax(axis=1) == 1).all()
    np.testing.assert_allclose(out.improved_policy.sum(axis=1), 1.0, rtol=1e-6)


def test_the_choice_is_among_the_most_visited() -> None:
    # Second visits reveal a -10 reward below each arm. Schedule [0, 0, 0, 1, 1]: arms 0 and 1
    # (the best two after one visit) get their second visit and fall below arm 2, but the
    # decision is among the survivors of the last halving, where arm 0 is still the best.
    model = BanditModel([1.0, 0.5, 0.0], deep_reward=-10.0)
    out = gumbel_search(
        model, model.root(1), num_simulations=5, discount=DISCOUNT,
        gumbel=np.zeros((1, 3)), rng=np.random.default_rng(0),
    )  # fmt: skip
    assert out.search.visit_counts.tolist() == [[2, 2, 1]]
    assert out.actions.tolist() == [0]
    assert out.improved_policy.argmax() == 2  # the improved policy sees every Q


def test_gumbel_noise_picks_the_considered_actions() -> None:
    model = BanditModel([0.1, 0.9, 0.5, 0.3])
    gumbel = np.array([[5.0, 0.0, 0.0, 4.0]])
    out = gumbel_search(
        model, model.root(1), num_simulations=6, discount=DISCOUNT, max_considered_actions=2,
        gumbel=gumbel, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert out.search.visit_counts.tolist() == [[3, 0, 0, 3]]
    assert out.actions.tolist() == [3]  # the better of the two considered arms


def test_masks_and_mixed_numbers_of_legal_actions() -> None:
    model = MLPModel(6, seed=7)
    legal = np.ones((5, 6), bool)
    legal[0, 1:] = False  # a single legal action
    legal[1, ::2] = False
    legal[2, :4] = False
    out = gumbel_search(
        model, model.root(5), num_simulations=16, discount=DISCOUNT, legal_actions=legal,
        max_considered_actions=4, rng=np.random.default_rng(3),
    )  # fmt: skip
    visits = out.search.visit_counts
    assert (visits[~legal] == 0).all() and (visits.sum(axis=1) == 16).all()
    assert ((visits > 0).sum(axis=1) <= 4).all()
    assert legal[np.arange(5), out.actions].all()
    assert (out.improved_policy[~legal] == 0).all()
    assert visits[0].tolist() == [16, 0, 0, 0, 0, 0]


def test_same_rng_same_result() -> None:
    model = MLPModel(5, seed=8, coarse=True)
    kwargs = dict(num_simulations=12, discount=DISCOUNT)
    results = [
        gumbel_search(model, model.root(7), rng=np.random.default_rng(11), **kwargs)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(results[0].actions, results[1].actions)
    np.testing.assert_array_equal(results[0].search.visit_counts, results[1].search.visit_counts)
    np.testing.assert_array_equal(results[0].improved_policy, results[1].improved_policy)
