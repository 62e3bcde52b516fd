"""Each reference-code choice (docs/fidelity.md, items 5–14) changes exactly what it names."""

from __future__ import annotations

import numpy as np
import pytest
import reference_search as ref
import torch
from test_search import DISCOUNT, MLPModel

from efficientzero.learner import TargetNetwork, learning_rate
from efficientzero.losses import LossWeights, compute_loss
from efficientzero.nets import build_network
from efficientzero.nets.resnet import DownsampleTrunk, ResidualBlock
from efficientzero.planning import search_rules
from efficientzero.presets import make_preset
from efficientzero.replay import ReplayBuffer
from efficientzero.search import Searcher, SearchRules
from efficientzero.search.root import root_prior
from efficientzero.targets import state_masks
from efficientzero.types import Batch, TrajectoryBlock

# ------------------------------------------------------------------ search (items 5-7)

RULE_SETS = [
    (True, False, False),
    (False, True, False),
    (False, False, True),
    (True, True, True),
]


def _search(model, root, sims, seeds, rules):
    batch, num_actions = root.prior_logits.shape
    legal = np.ones((batch, num_actions), bool)
    prior = root_prior(root.prior_logits.numpy(), legal, None, 0.0)
    return Searcher().run(
        model,
        root,
        prior=prior,
        legal=legal,
        seeds=seeds,
        num_simulations=sims,
        discount=DISCOUNT,
        rules=SearchRules(*rules),
    )


@pytest.mark.parametrize("rules", RULE_SETS)
@pytest.mark.parametrize("num_actions, coarse", [(3, False), (6, True)])
def test_compiled_rules_match_the_reference_search(rules, num_actions, coarse) -> None:
    model = MLPModel(num_actions, seed=3 + num_actions, coarse=coarse)
    root = model.root(6)
    seeds = np.arange(6, dtype=np.uint64) * 104729 + 5
    out = _search(model, root, 30, seeds, rules)
    for b in range(6):
        want = ref.reference_search(
            model,
            root.prior_logits[b].numpy(),
            tuple(e[b : b + 1] for e in root.embedding),
            np.ones(num_actions, bool),
            None,
            0.0,
            int(seeds[b]),
            30,
            DISCOUNT,
            rules=rules,
        )
        np.testing.assert_array_equal(out.visit_counts[b], want["visit_counts"])
        np.testing.assert_allclose(out.root_values[b], want["root_value"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rules", RULE_SETS)
def test_each_rule_changes_the_search(rules) -> None:
    model = MLPModel(5, seed=21)
    root = model.root(32)
    seeds = np.arange(32, dtype=np.uint64) * 7 + 1
    plain = _search(model, root, 40, seeds, (False, False, False)).visit_counts
    varied = _search(model, root, 40, seeds, rules).visit_counts
    assert not np.array_equal(plain, varied)


def test_children_visits_makes_the_first_pass_through_a_node_ignore_the_prior() -> None:
    """With N = visits - 1 = 0 at a fresh node the prior term vanishes: every child ties."""

    class Model:
        def recurrent(self, embedding, action):
            (depth,) = embedding
            n = len(action)
            logits = torch.tensor([[5.0, 0.0, 0.0]]).repeat(n, 1)  # child prior favours action 0
            return ref_output(torch.zeros(n), torch.zeros(n), logits, (depth + 1,))

    from efficientzero.types import RecurrentOutput as ref_output
    from efficientzero.types import RootOutput

    root = RootOutput(torch.zeros(1, 3), torch.zeros(1), (torch.zeros(1, dtype=torch.int64),))
    second_level = {False: set(), True: set()}
    for children_visits in (False, True):
        for seed in range(40):
            searcher = Searcher()
            _search_with(
                searcher, Model(), root, 2, seed, SearchRules(children_visits=children_visits)
            )
            tree = searcher.tree
            assert tree is not None and tree.parent[0, 2] == 1  # simulation 2 went below node 1
            second_level[children_visits].add(int(tree.action[0, 2]))
    assert second_level[False] == {0}  # the prior decides
    assert second_level[True] == {0, 1, 2}  # a uniform tie-break


def _search_with(searcher, model, root, sims, seed, rules):
    legal = np.array([[True, False, False]])  # the root's only action leads to node 1
    prior = root_prior(root.prior_logits.numpy(), legal, None, 0.0)
    return searcher.run(
        model,
        root,
        prior=prior,
        legal=legal,
        seeds=np.array([seed], np.uint64),
        num_simulations=sims,
        discount=DISCOUNT,
        rules=rules,
    )


def test_search_rules_come_from_the_config() -> None:
    c = make_preset("cartpole")
    assert search_rules(c) == SearchRules()
    c = c.replace(puct_visit_count="children", unvisited_q="parent_mean", min_max_stats="rebuild")
    assert search_rules(c) == SearchRules(True, True, True)


# ------------------------------------------------------------------ replay (item 8)


def _block(n: int) -> TrajectoryBlock:
    return TrajectoryBlock(
        frames=np.zeros((n + 1, 2), np.float32),
        actions=np.zeros(n, np.int64),
        rewards=np.zeros(n, np.float32),
        policies=np.full((n, 2), 0.5, np.float32),
        num_positions=n,
        episode_end=True,
        terminated=True,
    )


@pytest.mark.parametrize("rule, want", [("max_ever", 5.0), ("max_stored", 0.5)])
def test_new_data_priority(rule: str, want: float) -> None:
    replay = ReplayBuffer(100, frame_stack=1, unroll_steps=1, td_steps=1, new_priority=rule)
    replay.add(_block(4))
    replay.update_priorities(np.arange(4), np.array([5.0, 1.0, 1.0, 1.0]))
    replay.update_priorities(np.arange(4), np.full(4, 0.5))  # the 5 is gone from replay now
    replay.add(_block(3))
    entered = replay.tree.get(np.arange(4, 7)) ** (1 / replay.alpha)
    assert np.allclose(entered, want, rtol=1e-6, atol=2e-6)


def test_max_stored_priority_of_an_empty_buffer_is_one() -> None:
    replay = ReplayBuffer(4, frame_stack=1, unroll_steps=1, td_steps=1, new_priority="max_stored")
    replay.add(_block(4))
    assert np.allclose(replay.tree.get(np.arange(4)) ** (1 / replay.alpha), 1.0)


# ------------------------------------------------------------------ target network (item 9)


def _weights(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.tensor(value)}


@pytest.mark.parametrize("lag, want", [("copy", [200, 400, 600]), ("previous", [0, 200, 400])])
def test_target_network_lag(lag: str, want: list[int]) -> None:
    schedule = TargetNetwork(200, lag, _weights(0.0))
    installed = []
    for update in range(1, 601):
        weights = schedule.refresh(update, lambda u=update: _weights(float(u)))
        if weights is not None:
            installed.append(int(weights["w"]))
    assert installed == want


def test_target_network_lag_state_round_trips() -> None:
    a = TargetNetwork(10, "previous", _weights(0.0))
    a.refresh(10, lambda: _weights(10.0))
    b = TargetNetwork(10, "previous", _weights(-1.0))
    b.load_state_dict(a.state_dict())
    assert int(b.refresh(20, lambda: _weights(20.0))["w"]) == 10  # type: ignore[index]
    assert TargetNetwork(10, "copy", _weights(0.0)).state_dict() is None


# ------------------------------------------------------------------ consistency mask (item 10)


def test_observation_mask_includes_the_final_observation() -> None:
    mask, value_mask, observation_mask = state_masks(
        np.array([2, 2, 1 << 40]), np.array([True, False, False]), 3
    )
    assert mask.tolist()[0] == [1, 1, 0, 0]
    assert observation_mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert value_mask.tolist()[0] == [1, 1, 1, 1]  # past a termination: value 0, known


# ------------------------------------------------------------------ augmentation (item 11)


def _image_batch(batch: int, k: int) -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(
        frames=torch.randint(0, 255, (batch, 1 + k, 1, 16, 16), dtype=torch.uint8, generator=g),
        actions=torch.zeros(batch, k, dtype=torch.int64),
        target_value_prefixes=torch.zeros(batch, k),
        target_values=torch.zeros(batch, k + 1),
        target_policies=torch.full((batch, k + 1, 2), 0.5),
        mask=torch.ones(batch, k + 1),
        value_mask=torch.ones(batch, k + 1),
        consistency_mask=torch.ones(batch, k + 1),
        weights=torch.ones(batch),
        indices=np.arange(batch),
    )


@pytest.mark.parametrize("per_sequence, draws", [(False, [3, 3 * 2]), (True, [3, 3])])
def test_target_augmentation_draws(per_sequence: bool, draws: list[int]) -> None:
    """The augmentation draws once per leading index: 3 samples x 2 targets, or 3 sequences."""
    c = make_preset("atari100k").replace(
        num_channels=8,
        reduced_channels=2,
        head_hidden_size=4,
        lstm_hidden_size=4,
        projection_dim=8,
        projection_head_dim=4,
        support_size=3,
        frame_stack=1,
    )
    net = build_network(c, (1, 16, 16), 2).train()
    seen: list[int] = []

    def augment(x: torch.Tensor) -> torch.Tensor:
        seen.append(int(np.prod(x.shape[:-3])))
        return x.float() if x.dtype != torch.uint8 else x.float() / 255

    compute_loss(
        net,
        _image_batch(3, 2),
        frame_stack=1,
        lstm_horizon_len=5,
        weights=LossWeights(),
        augment=augment,
        augment_targets_per_sequence=per_sequence,
    )
    assert sorted(seen) == sorted(draws)


# ------------------------------------------------------------------ learning rate (item 12)


def test_reference_learning_rate_schedule() -> None:
    c = make_preset("atari100k").replace(
        lr=0.2, lr_warmup_updates=1000, lr_decay_updates=100_000, lr_schedule="reference"
    )
    assert learning_rate(c, 0) == 0.0
    assert learning_rate(c, 500) == pytest.approx(0.1)
    assert learning_rate(c, 1000) == pytest.approx(0.2)
    assert learning_rate(c, 100_999) == pytest.approx(0.2)
    assert learning_rate(c, 101_000) == pytest.approx(0.02)
    paper = c.replace(lr_schedule="paper")
    assert learning_rate(paper, 0) == pytest.approx(0.2 / 1000)
    assert learning_rate(paper, 100_000) == pytest.approx(0.02)
    assert make_preset("atari100k").warmup_updates == 1200  # 1% of 120k updates


# ------------------------------------------------------------------ ResNet (item 13)


def test_downsample_shortcut_choice() -> None:
    projection = ResidualBlock(4, 8, stride=2)
    plain = ResidualBlock(4, 8, stride=2, shortcut="conv3x3")
    assert isinstance(projection.shortcut, torch.nn.Sequential)
    assert isinstance(plain.shortcut, torch.nn.Conv2d) and plain.shortcut.kernel_size == (3, 3)
    x = torch.rand(2, 4, 9, 9)
    assert plain(x).shape == projection(x).shape == (2, 8, 5, 5)


@pytest.mark.parametrize("include, corner", [(False, 1.0), (True, 4 / 9)])
def test_pool_padding_choice(include: bool, corner: float) -> None:
    trunk = DownsampleTrunk(3, 8, 1, pool_include_padding=include)
    pools = [m for m in trunk.layers if isinstance(m, torch.nn.AvgPool2d)]
    assert len(pools) == 2
    out = pools[0](torch.ones(1, 1, 6, 6))
    assert float(out[0, 0, 0, 0]) == pytest.approx(corner)
    assert float(out[0, 0, 1, 1]) == pytest.approx(1.0)
