"""Continuous actions through the sampled search (nets/sampled.py): the squashed Gaussian, the
samples and their prior, the policy records and loss, the search on a bandit with a known best
action, and training + evaluation through the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import tiny_args

from efficientzero.cli import main
from efficientzero.config import Config, ConfigError
from efficientzero.envs import env_spec, make_env
from efficientzero.nets import build_inference, build_network
from efficientzero.nets.sampled import (
    MIN_STD,
    SampledInferenceModel,
    SampledPolicyLoss,
    gaussian_entropy,
    pack_policy,
    sample_actions,
    split_params,
    squashed_log_prob,
    unpack_policy,
)
from efficientzero.planning import choose_actions, env_actions, plan, policy_records
from efficientzero.presets import cartpole, make_preset, preset_for
from efficientzero.search import Searcher
from efficientzero.types import RecurrentOutput, RootOutput


def test_squashed_log_prob_matches_the_change_of_variables_by_hand():
    mean = torch.tensor([[0.2, -0.5]])
    std = torch.tensor([[0.7, 1.3]])
    u = torch.tensor([[0.4, -1.1]])
    action = torch.tanh(u)
    by_hand = 0.0
    for d in range(2):
        m, s, x = mean[0, d].item(), std[0, d].item(), u[0, d].item()
        by_hand += -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        by_hand -= math.log(1 - math.tanh(x) ** 2)
    assert squashed_log_prob(action, mean, std).item() == pytest.approx(by_hand, rel=1e-5)
    # torch's own transformed distribution agrees
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, std), [torch.distributions.TanhTransform()]
    )
    assert squashed_log_prob(action, mean, std).item() == pytest.approx(
        dist.log_prob(action).sum().item(), rel=1e-4
    )


def test_split_params_and_entropy():
    mean, std = split_params(torch.tensor([[0.3, 0.0]]))
    assert mean.item() == pytest.approx(0.3)
    assert std.item() == pytest.approx(math.log(2.0) + MIN_STD)
    expected = math.log(std.item()) + 0.5 + 0.5 * math.log(2 * math.pi)
    assert gaussian_entropy(std).item() == pytest.approx(expected, rel=1e-6)


def test_root_samples_mix_two_widths_and_their_prior_is_pi_over_beta():
    torch.manual_seed(0)
    batch, k, policy_std, wide = 4000, 16, 4, 3.0
    mean = torch.full((batch, 1), 0.1)
    std = torch.full((batch, 1), 0.2)
    actions, logits = sample_actions(mean, std, k, policy_std, wide)
    assert actions.shape == (batch, k, 1) and logits.shape == (batch, k)
    assert bool((actions.abs() < 1).all())
    u = torch.atanh(actions.clamp(-1 + 1e-6, 1 - 1e-6))[..., 0]
    assert u[:, :policy_std].std().item() == pytest.approx(0.2, rel=0.05)
    assert u[:, policy_std:].std().item() == pytest.approx(0.6, rel=0.05)
    # logits = log pi(u) - log beta(u), beta = 1/4 N(0.1, 0.2) + 3/4 N(0.1, 0.6), one sample by hand
    x = u[0, 7].item()

    def normal(x: float, s: float) -> float:
        return math.exp(-0.5 * ((x - 0.1) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    by_hand = math.log(normal(x, 0.2) / (0.25 * normal(x, 0.2) + 0.75 * normal(x, 0.6)))
    assert logits[0, 7].item() == pytest.approx(by_hand, rel=1e-4, abs=1e-5)
    # all samples from pi: a uniform prior
    _, uniform = sample_actions(mean[:3], std[:3], k, k, wide)
    assert bool((uniform == 0).all())


def test_policy_records_round_trip():
    weights = np.array([[0.25, 0.75], [1.0, 0.0]], np.float32)
    actions = np.arange(8, dtype=np.float32).reshape(2, 2, 2) / 10
    record = pack_policy(weights, actions)
    assert record.shape == (2, 6) and record.dtype == np.float32
    back_w, back_a = unpack_policy(torch.from_numpy(record), action_dim=2)
    np.testing.assert_array_equal(back_w.numpy(), weights)
    np.testing.assert_array_equal(back_a.numpy(), actions)


def test_the_policy_loss_moves_the_policy_towards_the_weighted_sample():
    params = torch.zeros(1, 2, requires_grad=True)
    record = torch.from_numpy(pack_policy(np.array([[0.9, 0.1]], np.float32),
                                          np.array([[[0.6], [-0.6]]], np.float32)))  # fmt: skip
    loss_fn = SampledPolicyLoss(action_dim=1, entropy_coef=0.0)
    optimiser = torch.optim.Adam([params], lr=0.05)
    for _ in range(300):
        optimiser.zero_grad()
        loss_fn(params, record).sum().backward()
        optimiser.step()
    mean, _ = split_params(params.detach())
    assert math.tanh(mean.item()) == pytest.approx(0.9 * 0.6 - 0.1 * 0.6, abs=0.15)
    assert math.tanh(mean.item()) > 0.3


class _Bandit:
    """Reward -(a - 0.3)^2 (summed over dimensions) on the step from the root, 0 below it, and
    value 0 everywhere: Q of a root child is its reward. A fixed Gaussian policy (mean 0, std
    softplus(0.5)); the latent says whether a node is the root (0) or below it (1)."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.net = torch.nn.Linear(1, 1)
        self.device = torch.device("cpu")

    def _params(self, batch: int) -> torch.Tensor:
        return torch.cat([torch.zeros(batch, self.dims), torch.full((batch, self.dims), 0.5)], 1)

    def root(self, frames: torch.Tensor) -> RootOutput:
        batch = frames.shape[0]
        return RootOutput(self._params(batch), torch.zeros(batch), (torch.zeros(batch, 4),))

    def recurrent(self, embedding, action: torch.Tensor) -> RecurrentOutput:
        (latent,) = embedding
        batch = latent.shape[0]
        reward = torch.where(latent[:, 0] == 0, -((action - 0.3) ** 2).sum(1), 0.0)
        child = torch.ones_like(latent)
        return RecurrentOutput(reward, torch.zeros(batch), self._params(batch), (child,))


# the CPU store, the device store, the device store's fixed-buffer step (search/graph.py)
@pytest.mark.parametrize("host_kernels,graphs", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("algorithm", ["gumbel", "puct"])
def test_sampled_search_picks_the_sample_nearest_the_best_action(algorithm, host_kernels, graphs):
    torch.manual_seed(1)
    config = Config(
        search_algorithm=algorithm, num_simulations=48, sampled_actions=8, discount=1.0
    ).replace(sampled_policy_std_actions=8)  # every sample from pi: a uniform prior
    model = SampledInferenceModel(
        _Bandit(dims=2), action_dim=2, num_samples=8, policy_std_samples=8, wide_std=3.0
    )
    rng = np.random.default_rng(0)
    root = model.root(torch.zeros(5, 1))
    searcher = Searcher(host_kernels=host_kernels, graphs=graphs)
    result = plan(config, model, root, rng, searcher, explore=False)
    chosen = env_actions(result, choose_actions(result, 0.0, rng))
    samples = root.actions.numpy()
    best = samples[np.arange(5), ((samples - 0.3) ** 2).sum(2).argmin(1)]
    np.testing.assert_allclose(chosen, best)
    record = policy_records(result)
    assert record.shape == (5, 8 * 3)
    weights, actions = unpack_policy(torch.from_numpy(record), 2)
    np.testing.assert_allclose(actions.numpy(), samples)
    assert np.allclose(weights.sum(1).numpy(), 1.0, atol=1e-5)


def test_the_search_hands_the_dynamics_the_sampled_vector_of_the_chosen_child():
    torch.manual_seed(2)
    seen = []

    class Recording(_Bandit):
        def recurrent(self, embedding, action):
            seen.append(action.clone())
            return super().recurrent(embedding, action)

    model = SampledInferenceModel(
        Recording(dims=1), action_dim=1, num_samples=4, policy_std_samples=4, wide_std=3.0
    )
    root = model.root(torch.zeros(2, 1))
    config = Config(search_algorithm="gumbel", num_simulations=4, sampled_actions=4)
    config = config.replace(sampled_policy_std_actions=4)
    result = plan(config, model, root, np.random.default_rng(0), Searcher(), explore=True)
    # 4 simulations over 4 considered children: each root child once, its own sampled vector
    first_level = torch.stack(seen)[:, :, 0].T.numpy()  # [B, sims]
    for b in range(2):
        np.testing.assert_allclose(np.sort(first_level[b]), np.sort(root.actions[b, :, 0].numpy()))
    assert result.visit_counts.sum(1).tolist() == [4, 4]


def test_networks_take_action_vectors_and_output_gaussian_parameters():
    config = cartpole("Pendulum-v1")
    spec = env_spec(config)
    assert (spec.num_actions, spec.action_dim) == (16, 1)
    net = build_network(config, spec.frame_shape, spec.num_actions, spec.action_dim)
    latent = net.represent(torch.zeros(3, 3))
    _, params = net.predict(latent)
    assert params.shape == (3, 2)
    assert net.transition(latent, torch.zeros(3, 1)).shape == latent.shape
    from efficientzero.nets.resnet import ResNetNet

    resnet = ResNetNet(3, 16, 16, action_dim=2, num_channels=8, lstm_hidden_size=8,
                       projection_dim=16, projection_head_dim=8, support_size=5)  # fmt: skip
    image_latent = resnet.represent(torch.zeros(2, 3, 16, 16))
    assert resnet.predict(image_latent)[1].shape == (2, 4)
    assert resnet.transition(image_latent, torch.zeros(2, 2)).shape == image_latent.shape
    model = build_inference(config, spec.frame_shape, spec.num_actions, action_dim=1)
    root = model.root(torch.zeros(2, 1, 3))
    assert root.prior_logits.shape == (2, 16) and root.actions.shape == (2, 16, 1)


def test_the_environment_acts_in_minus_one_to_one():
    env = make_env(cartpole("Pendulum-v1"))
    assert env.action_space.low.tolist() == [-1.0] and env.action_space.high.tolist() == [1.0]
    env.reset(seed=0)
    env.step(np.array([0.5], np.float32))
    assert float(env.unwrapped.last_u) == pytest.approx(1.0)  # Pendulum's torque bound is 2


def test_vector_tasks_with_box_actions_get_the_continuous_preset():
    assert preset_for("Pendulum-v1") == "continuous" and preset_for("CartPole-v1") == "cartpole"
    config = make_preset(None, "MountainCarContinuous-v0")
    assert config.search_algorithm == "gumbel" and config.action_bins is None
    assert env_spec(config).action_dim == 1


def test_sampled_config_ranges():
    with pytest.raises(ConfigError, match="sampled_policy_std_actions \\(20\\) cannot exceed"):
        Config(sampled_policy_std_actions=20).validate()
    with pytest.raises(ConfigError, match="sampled_actions must be an integer >= 2"):
        Config(sampled_actions=1).validate()


@pytest.mark.parametrize("algorithm", ["gumbel", "puct"])
def test_pendulum_trains_resumes_and_evaluates_through_the_cli(tmp_path, capsys, algorithm):
    run_dir = tmp_path / "run"
    args = ["train", "--env", "Pendulum-v1", "--search-algorithm", algorithm]
    args += ["--sampled-actions", "6", "--run-dir", str(run_dir)]
    assert main([*args, *tiny_args(td_steps=10)]) == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 600 and np.isfinite(rows[-1]["eval_return_mean"])
    assert np.isfinite(rows[-1]["policy_loss"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["action_bins"] is None and config["preset"] == "continuous"
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--episodes", "2"]) == 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert len(result["returns"]) == 2 and all(r < 0 for r in result["returns"])


@pytest.mark.parametrize("use_value_prefix", [True, False])
def test_a_real_network_searches_with_and_without_the_value_prefix(use_value_prefix):
    config = make_preset(None, "Pendulum-v1").replace(
        use_value_prefix=use_value_prefix, num_simulations=8
    )
    spec = env_spec(config)
    model = build_inference(config, spec.frame_shape, spec.num_actions, action_dim=1)
    rng = np.random.default_rng(0)
    root = model.root(torch.zeros(3, 1, 3))
    result = plan(config, model, root, rng, Searcher(), explore=True)
    assert result.visit_counts.sum(1).tolist() == [8, 8, 8]
    actions = env_actions(result, choose_actions(result, 1.0, rng))
    assert actions.shape == (3, 1) and bool((np.abs(actions) < 1).all())
