"""Batched search: known answers by hand, and equivalence with the reference search."""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest
import reference_search as ref
import torch

from efficientzero.search import (
    Searcher,
    SearchRules,
    dirichlet_noise,
    kernels,
    masked_softmax,
    root_prior,
    search,
    select_actions,
    visit_policy,
)
from efficientzero.types import Embedding, RecurrentOutput, RootOutput

DISCOUNT = 0.997**4


class BanditModel:
    """One step: the edge out of the root pays ``rewards[a]``; deeper edges pay ``deep_reward``
    (0 by default); all values are 0."""

    def __init__(self, rewards: list[float], deep_reward: float = 0.0) -> None:
        self.rewards = torch.tensor(rewards)
        self.deep_reward = torch.tensor(deep_reward)

    def root(self, batch: int) -> RootOutput:
        depth = torch.zeros(batch, dtype=torch.int64)
        logits = torch.zeros(batch, len(self.rewards))
        return RootOutput(logits, torch.zeros(batch), (depth, torch.zeros(batch, 2)))

    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        depth, latent = embedding
        reward = torch.where(depth == 0, self.rewards[action], self.deep_reward)
        zeros = torch.zeros(len(action))
        logits = torch.zeros(len(action), len(self.rewards))
        return RecurrentOutput(reward, zeros, logits, (depth + 1, latent + 1))


class ChainModel:
    """One action; the node at depth d has reward ``rewards[d - 1]`` and value ``values[d - 1]``."""

    def __init__(self, rewards: list[float], values: list[float]) -> None:
        self.rewards, self.values = torch.tensor(rewards), torch.tensor(values)

    def root(self) -> RootOutput:
        return RootOutput(torch.zeros(1, 1), torch.zeros(1), (torch.zeros(1, dtype=torch.int64),))

    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        (depth,) = embedding
        logits = torch.zeros(1, 1)
        return RecurrentOutput(self.rewards[depth], self.values[depth], logits, (depth + 1,))


class MLPModel:
    """A deterministic random MLP; embedding (latent [B, 8], hidden [B, 4], depth [B] int64).

    ``coarse`` rounds its outputs to a few levels, so that pUCT ties happen inside the tree too.
    """

    def __init__(self, num_actions: int, seed: int = 0, coarse: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.num_actions, self.coarse = num_actions, coarse
        width = 8 + num_actions + 4
        self.w_latent = torch.randn(width, 8, generator=g)
        self.w_hidden = torch.randn(width, 4, generator=g)
        self.w_heads = torch.randn(8, 2 + num_actions, generator=g)
        self.root_latent = torch.randn(64, 8, generator=g)

    def root(self, batch: int) -> RootOutput:
        latent = self.root_latent[:batch]
        heads = self._heads(latent)
        embedding = (latent, torch.zeros(batch, 4), torch.zeros(batch, dtype=torch.int64))
        return RootOutput(heads[:, 2:], heads[:, 1], embedding)

    def _heads(self, latent: torch.Tensor) -> torch.Tensor:
        heads = latent @ self.w_heads
        return torch.round(heads) / 2 if self.coarse else heads

    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        latent, hidden, depth = embedding
        onehot = torch.nn.functional.one_hot(action, self.num_actions).float()
        x = torch.cat((latent, onehot, hidden), dim=1)
        new_latent = torch.tanh(x @ self.w_latent)
        heads = self._heads(new_latent)
        embedding = (new_latent, torch.tanh(x @ self.w_hidden), depth + 1)
        return RecurrentOutput(heads[:, 0], heads[:, 1], heads[:, 2:], embedding)


def run(
    model,
    root,
    num_simulations,
    legal=None,
    noise=None,
    fraction=0.0,
    seeds=None,
    searcher=None,
    **constants,
):
    batch, num_actions = root.prior_logits.shape
    constants = {"discount": DISCOUNT} | constants
    legal = np.ones((batch, num_actions), bool) if legal is None else legal
    prior = root_prior(root.prior_logits.numpy(), legal, noise, fraction)
    seeds = np.arange(batch, dtype=np.uint64) * 7919 + 1 if seeds is None else seeds
    return (searcher or Searcher()).run(
        model,
        root,
        prior=prior,
        legal=legal,
        seeds=seeds,
        num_simulations=num_simulations,
        **constants,
    )


# ------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("rewards", [[0.0, 1.0], [1.0, 0.0]])
def test_bandit_visit_counts_by_hand(rewards: list[float]) -> None:
    # Uniform prior P = 1/2, Q(best) = 1, Q(other) = 0 (min-max range 1). After one visit each,
    # the other action is taken again only once P * c(N) * sqrt(N) * (1/2 - 1/(1 + n_best)) > 1
    # with n_best = N - 1: first at N = 14 (1.003 > 1; at N = 13 it is 0.954). So 14
    # simulations give 13 + 1 visits, and the 15th goes to the other action.
    model = BanditModel(rewards)
    best = int(np.argmax(rewards))
    for sims, expected in ((14, (13, 1)), (15, (13, 2))):
        out = run(model, model.root(8), sims)
        assert (out.visit_counts[:, best] == expected[0]).all()
        assert (out.visit_counts[:, 1 - best] == expected[1]).all()
        # Only the best edge pays (1 per visit); nothing below pays or has value.
        np.testing.assert_allclose(out.root_values, expected[0] / sims, rtol=1e-6)
        np.testing.assert_allclose(out.q_values[:, best], 1.0)
        np.testing.assert_allclose(out.q_values[:, 1 - best], 0.0)


def test_bandit_prefers_the_best_arm() -> None:
    rewards = [0.2, 0.9, 0.5, 0.1]
    model = BanditModel(rewards)
    out = run(model, model.root(4), 50)
    assert (out.visit_counts.argmax(axis=1) == 1).all()
    assert (out.visit_counts.sum(axis=1) == 50).all()
    visited = out.visit_counts > 0
    np.testing.assert_allclose(out.q_values[visited], np.broadcast_to(rewards, (4, 4))[visited])


def test_first_choice_at_the_root_is_a_random_tie_break() -> None:
    model = BanditModel([0.0] * 5)
    out = run(model, model.root(64), 1, seeds=np.arange(64, dtype=np.uint64))
    first = out.visit_counts.argmax(axis=1)
    assert (out.visit_counts.sum(axis=1) == 1).all()
    assert len(set(first.tolist())) == 5


def test_discount_and_reward_bookkeeping_on_a_chain() -> None:
    r, v, g = [0.5, -1.0, 2.0], [3.0, 1.5, -0.5], DISCOUNT
    model = ChainModel(r, v)
    out = run(model, model.root(), 3)
    # Values backed up to the root by simulations 1..3 (leaf at depth 1, 2, 3).
    backed = [
        r[0] + g * v[0],
        r[0] + g * (r[1] + g * v[1]),
        r[0] + g * (r[1] + g * (r[2] + g * v[2])),
    ]
    np.testing.assert_allclose(out.root_values, [np.mean(backed)], rtol=1e-6)
    depth1_values = [v[0], r[1] + g * v[1], r[1] + g * (r[2] + g * v[2])]
    np.testing.assert_allclose(out.q_values, [[r[0] + g * np.mean(depth1_values)]], rtol=1e-6)
    assert out.visit_counts.tolist() == [[3]]


def test_no_simulations_returns_the_model_value() -> None:
    model = MLPModel(3)
    root = model.root(2)
    out = run(model, root, 0)
    assert (out.visit_counts == 0).all()
    np.testing.assert_allclose(out.root_values, root.value.numpy())


def test_illegal_actions_get_no_prior_and_no_visits() -> None:
    model = MLPModel(6, seed=3)
    legal = np.random.default_rng(0).random((5, 6)) < 0.5
    legal[:, 0] = True
    out = search(
        model,
        model.root(5),
        num_simulations=40,
        discount=DISCOUNT,
        legal_actions=legal,
        exploration_fraction=0.25,
        rng=np.random.default_rng(1),
    )
    assert (out.visit_counts[~legal] == 0).all()
    assert (out.root_prior[~legal] == 0).all()
    assert (out.visit_counts.sum(axis=1) == 40).all()


def test_noise_changes_the_prior_only_over_legal_actions() -> None:
    model = MLPModel(5, seed=1)
    root = model.root(4)
    legal = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0], [1, 0, 1, 0, 1]], bool)
    kwargs = dict(num_simulations=4, discount=DISCOUNT, legal_actions=legal)
    clean = search(model, root, rng=np.random.default_rng(0), **kwargs)
    noisy = search(model, root, rng=np.random.default_rng(0), exploration_fraction=0.25, **kwargs)
    np.testing.assert_allclose(clean.root_prior, masked_softmax(root.prior_logits.numpy(), legal))
    assert (noisy.root_prior[~legal] == 0).all()
    np.testing.assert_allclose(noisy.root_prior.sum(axis=1), 1.0, rtol=1e-6)
    changed = ~np.isclose(noisy.root_prior, clean.root_prior)
    assert changed[[0, 1, 3]].any(axis=1).all() and not changed[~legal].any()
    np.testing.assert_allclose(noisy.root_prior[2], [0, 0, 0, 1, 0])  # one legal action: no room


def test_root_prior_mixes_the_given_noise() -> None:
    logits = np.array([[0.0, 1.0, 2.0]], np.float32)
    legal = np.array([[True, False, True]])
    noise = np.array([[0.3, 0.5, 0.7]])
    p = np.exp([0.0, 2.0]) / np.exp([0.0, 2.0]).sum()
    expected = [0.75 * p[0] + 0.25 * 0.3, 0.0, 0.75 * p[1] + 0.25 * 0.7]
    np.testing.assert_allclose(root_prior(logits, legal, noise, 0.25)[0], expected, rtol=1e-6)


def test_dirichlet_noise_is_a_distribution_over_legal_actions() -> None:
    legal = np.random.default_rng(0).random((100, 7)) < 0.6
    legal[:, 3] = True
    noise = dirichlet_noise(np.random.default_rng(1), legal, 0.3)
    assert (noise[~legal] == 0).all() and (noise >= 0).all()
    np.testing.assert_allclose(noise.sum(axis=1), 1.0)


# ------------------------------------------------------------------------- acting


def test_select_actions_temperature_zero_is_argmax_with_random_ties() -> None:
    counts = np.array([[1, 5, 2], [3, 0, 3]] * 200)
    actions = select_actions(counts, 0.0, np.random.default_rng(0))
    assert (actions[0::2] == 1).all()
    assert set(actions[1::2].tolist()) == {0, 2}


def test_select_actions_samples_visits_to_the_power_one_over_t() -> None:
    counts = np.tile([0, 1, 3], (20000, 1))
    rng = np.random.default_rng(0)
    for temperature, p_last in ((1.0, 0.75), (0.5, 0.9)):
        actions = select_actions(counts, temperature, rng)
        assert (actions != 0).all()
        assert abs((actions == 2).mean() - p_last) < 0.015
    assert (select_actions(counts, 0.01, rng) == 2).all()


def test_visit_policy_normalises_rows() -> None:
    np.testing.assert_allclose(visit_policy(np.array([[1, 3], [0, 0]])), [[0.25, 0.75], [0, 0]])


# ------------------------------------------------------------------------- equivalence


def test_tie_hash_matches_the_reference() -> None:
    for seed, sim, node in ((0, 0, 0), (2**64 - 1, 49, 12), (123456789, 7, 3)):
        assert int(kernels.tie_hash(np.uint64(seed), sim, node)) == ref.tie_hash(seed, sim, node)


def reference_results(model, root, sims, legal, noise, fraction, seeds, **constants):
    constants = {"discount": DISCOUNT} | constants
    results = []
    for b in range(root.prior_logits.shape[0]):
        results.append(
            ref.reference_search(
                model,
                root.prior_logits[b].numpy(),
                tuple(e[b : b + 1] for e in root.embedding),
                legal[b],
                None if noise is None else noise[b],
                fraction,
                int(seeds[b]),
                sims,
                **constants,
            )
        )
    return results


@pytest.mark.parametrize("batch", [1, 3, 16])
@pytest.mark.parametrize("num_actions, coarse", [(2, False), (5, True), (9, False), (9, True)])
@pytest.mark.parametrize("masked, fraction", [(False, 0.0), (True, 0.0), (True, 0.25)])
def test_matches_reference_search(batch, num_actions, coarse, masked, fraction) -> None:
    rng = np.random.default_rng(batch * 100 + num_actions)
    model = MLPModel(num_actions, seed=num_actions, coarse=coarse)
    root = model.root(batch)
    legal = rng.random((batch, num_actions)) < (0.6 if masked else 2.0)
    legal[np.arange(batch), rng.integers(num_actions, size=batch)] = True
    noise = dirichlet_noise(rng, legal, 0.3) if fraction else None
    seeds = rng.integers(0, 2**63, size=batch).astype(np.uint64)
    sims = 25
    out = run(model, root, sims, legal, noise, fraction, seeds)
    expected = reference_results(model, root, sims, legal, noise, fraction, seeds)
    np.testing.assert_array_equal(out.visit_counts, [e["visit_counts"] for e in expected])
    np.testing.assert_allclose(
        out.root_values, [e["root_value"] for e in expected], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        out.q_values, [e["q_values"] for e in expected], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(out.root_prior, [e["prior"] for e in expected], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("coarse", [False, True])
def test_matches_reference_with_other_constants(coarse: bool) -> None:
    # A small pb_c_base makes c(N) grow visibly within 40 simulations.
    constants = {"discount": 0.9, "pb_c_base": 3.0, "pb_c_init": 0.7}
    model = MLPModel(6, seed=11, coarse=coarse)
    root = model.root(8)
    legal = np.ones((8, 6), bool)
    seeds = np.arange(8, dtype=np.uint64) * 1000003
    out = run(model, root, 40, legal, seeds=seeds, **constants)
    expected = reference_results(model, root, 40, legal, None, 0.0, seeds, **constants)
    np.testing.assert_array_equal(out.visit_counts, [e["visit_counts"] for e in expected])
    np.testing.assert_allclose(
        out.root_values, [e["root_value"] for e in expected], rtol=1e-5, atol=1e-6
    )


def test_search_draws_noise_then_seeds_from_rng() -> None:
    model = MLPModel(4, seed=2, coarse=True)
    root = model.root(6)
    legal = np.ones((6, 4), bool)
    legal[0, 1] = False
    out = search(
        model,
        root,
        num_simulations=20,
        discount=DISCOUNT,
        legal_actions=legal,
        exploration_fraction=0.25,
        dirichlet_alpha=0.3,
        rng=np.random.default_rng(5),
    )
    rng = np.random.default_rng(5)
    noise = dirichlet_noise(rng, legal, 0.3)
    seeds = rng.integers(0, np.iinfo(np.uint64).max, size=6, dtype=np.uint64, endpoint=True)
    expected = reference_results(model, root, 20, legal, noise, 0.25, seeds)
    np.testing.assert_array_equal(out.visit_counts, [e["visit_counts"] for e in expected])


@pytest.mark.parametrize("host_kernels,graphs", [(True, False), (False, False), (False, True)])
def test_host_kernels_match_the_torch_path(host_kernels: bool, graphs: bool) -> None:
    # host_kernels=False runs the torch gathers, stores and softmax that other devices use;
    # graphs=True their fixed-buffer step (search/graph.py; captured on CUDA, eager here).
    model = MLPModel(7, seed=4)
    root = model.root(16)
    legal = np.random.default_rng(2).random((16, 7)) < 0.7
    legal[:, 2] = True
    seeds = np.arange(16, dtype=np.uint64)
    searcher = Searcher(host_kernels=host_kernels, graphs=graphs)
    out = run(model, root, 30, legal, seeds=seeds, searcher=searcher)
    expected = reference_results(model, root, 30, legal, None, 0.0, seeds)
    np.testing.assert_array_equal(out.visit_counts, [e["visit_counts"] for e in expected])
    np.testing.assert_allclose(
        out.root_values, [e["root_value"] for e in expected], rtol=1e-5, atol=1e-6
    )


def test_embedding_dtypes_numpy_lacks_fall_back_to_torch() -> None:
    model = MLPModel(3, seed=5)
    root = model.root(4)
    latent, hidden, depth = root.embedding
    bf16_root = RootOutput(root.prior_logits, root.value, (latent, hidden.bfloat16(), depth))

    class HalfHidden:
        def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
            latent, hidden, depth = embedding
            out = model.recurrent((latent, hidden.float(), depth), action)
            new_latent, new_hidden, new_depth = out.embedding
            return RecurrentOutput(
                out.reward, out.value, out.prior_logits.bfloat16(),
                (new_latent, new_hidden.bfloat16(), new_depth),
            )  # fmt: skip

    out = run(HalfHidden(), bf16_root, 10)
    assert out.visit_counts.sum() == 40


def test_searcher_reuses_buffers_across_shapes() -> None:
    searcher = Searcher()
    small, big = MLPModel(3, coarse=True), MLPModel(7)
    first = run(small, small.root(3), 10, searcher=searcher)
    run(big, big.root(16), 30, searcher=searcher)
    run(small, small.root(3), 12, searcher=searcher)
    again = run(small, small.root(3), 10, searcher=searcher)
    np.testing.assert_array_equal(first.visit_counts, again.visit_counts)
    np.testing.assert_array_equal(first.root_values, again.root_values)
    assert not math.isnan(float(again.root_values.sum()))


@pytest.mark.parametrize("rules", [SearchRules(), SearchRules(True, True, True)])
def test_parallel_kernels_give_the_serial_results(rules: SearchRules) -> None:
    model = MLPModel(5, seed=6)
    root = model.root(12)
    legal = np.random.default_rng(3).random((12, 5)) < 0.8
    legal[:, 0] = True
    seeds = np.arange(12, dtype=np.uint64)
    serial = run(model, root, 25, legal, seeds=seeds, searcher=Searcher(), rules=rules)
    parallel = run(model, root, 25, legal, seeds=seeds, searcher=Searcher(threads=2), rules=rules)
    np.testing.assert_array_equal(serial.visit_counts, parallel.visit_counts)
    np.testing.assert_array_equal(serial.root_values, parallel.root_values)


# ------------------------------------------------------------------------- host kernels


class PassThroughModel:
    """``MLPModel`` whose latent is the very tensor it was given (the search's parent buffer),
    halved in place, with contiguous, strided and other-dtype outputs mixed: what the host path
    must copy before it gathers the next parents into that buffer, or convert before it takes
    an address. The heads still depend on the path (through the hidden state), and the latent
    on the depth."""

    def __init__(self, model: MLPModel) -> None:
        self.model = model

    def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
        out = self.model.recurrent(embedding, action)
        latent = embedding[0].mul_(0.5)
        _, new_hidden, new_depth = out.embedding
        logits = torch.cat([out.prior_logits, out.prior_logits], dim=1)[:, ::2]  # strided
        strided_hidden = new_hidden.t().contiguous().t()
        embedding = (latent, strided_hidden, new_depth)
        return RecurrentOutput(out.reward.double(), out.value, logits, embedding)


def test_host_kernels_copy_aliased_strided_and_cast_outputs() -> None:
    base = MLPModel(5, seed=8)
    model = PassThroughModel(base)
    root = base.root(6)
    latent, _, depth = root.embedding
    root = RootOutput(root.prior_logits, root.value, (latent, torch.randn(6, 4), depth))
    legal = np.ones((6, 5), bool)
    seeds = np.arange(6, dtype=np.uint64)
    host = run(model, root, 20, legal, seeds=seeds, searcher=Searcher())
    torch_path = run(model, root, 20, legal, seeds=seeds, searcher=Searcher(host_kernels=False))
    np.testing.assert_array_equal(host.visit_counts, torch_path.visit_counts)
    np.testing.assert_allclose(host.root_values, torch_path.root_values, rtol=1e-6)
    np.testing.assert_allclose(host.q_values, torch_path.q_values, rtol=1e-6, atol=1e-7)


def test_host_kernels_store_the_prior_softmax_and_the_embeddings() -> None:
    model = MLPModel(4, seed=9)
    root = model.root(3)
    seen: list[tuple[Embedding, torch.Tensor, RecurrentOutput]] = []

    class Recording:
        def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
            out = model.recurrent(embedding, action)
            seen.append((tuple(e.clone() for e in embedding), action.clone(), out))
            return out

    searcher = Searcher()
    run(Recording(), root, 6, searcher=searcher)
    tree = searcher.tree
    assert tree is not None
    for sim, (parents, action, out) in enumerate(seen):
        node = sim + 1
        expected = torch.softmax(out.prior_logits.double(), dim=1).numpy()
        np.testing.assert_allclose(tree.prior[:, node], expected, rtol=1e-5)
        np.testing.assert_array_equal(tree.action[:, node], action.numpy())
        np.testing.assert_allclose(tree.reward[:, node], out.reward.numpy())
        # The parents handed to the model are the embeddings stored for the parent nodes.
        for b in range(3):
            parent = tree.parent[b, node]
            source = root.embedding if parent == 0 else seen[parent - 1][2].embedding
            for got, want in zip(parents, source):
                torch.testing.assert_close(got[b], want[b])


def test_host_search_keeps_the_model_outputs_only_while_it_runs() -> None:
    # Nodes are the model's output tensors themselves (no copy): alive during the search, let
    # go after it, so that a Searcher kept between searches holds no embeddings.
    model = MLPModel(4, seed=3)
    outputs: list[weakref.ref] = []
    alive_during: list[int] = []

    class Watching:
        def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
            alive_during.append(sum(ref() is not None for ref in outputs))
            out = model.recurrent(embedding, action)
            outputs.extend(weakref.ref(e) for e in out.embedding)
            return out

    searcher = Searcher()
    run(Watching(), model.root(5), 8, searcher=searcher)
    assert alive_during == [3 * sim for sim in range(8)]
    gc.collect()
    assert all(ref() is None for ref in outputs)


@pytest.mark.parametrize("host_kernels", [True, False])
def test_forced_root_actions_of_any_int_dtype_and_the_wrong_length(host_kernels: bool) -> None:
    # The kernels are called without numba's per-call typing (kernels.direct), so the searcher
    # converts forced root actions to its own exact type and refuses a wrong length.
    model = MLPModel(3, seed=6)
    root = model.root(4)
    legal = np.ones((4, 3), bool)
    searcher = Searcher(host_kernels=host_kernels)
    prior = root_prior(root.prior_logits.numpy(), legal, None, 0.0)
    seeds = np.arange(4, dtype=np.uint64)

    def search_with(actions):
        return searcher.run(
            model, root, prior=prior, legal=legal, seeds=seeds, num_simulations=6,
            discount=DISCOUNT, root_action_fn=lambda tree, sim: actions,
        )  # fmt: skip

    strided = np.array([[2, 0], [2, 0], [2, 0], [2, 0]], np.int32)[:, 0]  # int32, not contiguous
    assert (search_with(strided).visit_counts[:, 2] == 6).all()
    with pytest.raises(ValueError, match=r"root actions have shape \(5,\); expected \(4,\)"):
        search_with(np.full(5, 2))


def test_host_kernels_refuse_an_output_of_the_wrong_shape() -> None:
    model = MLPModel(3, seed=1)
    root = model.root(2)

    class Wrong:
        def recurrent(self, embedding: Embedding, action: torch.Tensor) -> RecurrentOutput:
            out = model.recurrent(embedding, action)
            latent, hidden, depth = out.embedding
            return RecurrentOutput(
                out.reward, out.value, out.prior_logits, (latent[:, :4], hidden, depth)
            )

    with pytest.raises(ValueError, match=r"tensor 0 has shape \(2, 4\); expected \(2, 8\)"):
        run(Wrong(), root, 3)
