"""The image network (Ye et al. 2021, Appendix A): shapes, zero-initialised heads, training signal, LSTM, bf16, layout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from efficientzero.nets import EfficientZeroNet, InferenceModel, build_network
from efficientzero.nets.resnet import ResNetNet, latent_side
from efficientzero.nets.support import support_to_scalar
from efficientzero.presets import atari100k

NUM_ACTIONS = 6
SUPPORT = 601  # 2 * 300 + 1


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a small shared CPU, oversubscribed OpenMP threads spin and make
    these conv-heavy tests ~10x slower (74 s vs 6 s measured on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def atari_net() -> ResNetNet:
    torch.manual_seed(0)
    net = build_network(atari100k(), (3, 96, 96), NUM_ACTIONS)
    assert isinstance(net, ResNetNet)
    return net


def small_net(**overrides: object) -> ResNetNet:
    """A narrow network (16 channels, 32x32 input -> 2x2 latent) for fast training tests."""
    kwargs: dict = dict(
        num_channels=16,
        reduced_channels=4,
        head_hidden_size=16,
        lstm_hidden_size=32,
        projection_dim=64,
        projection_head_dim=32,
        support_size=5,
    )
    kwargs.update(overrides)
    return ResNetNet(4, 32, NUM_ACTIONS, **kwargs)


def unroll(net: EfficientZeroNet, observation: torch.Tensor, actions: torch.Tensor) -> dict:
    """represent -> dynamics per action column -> predict and project every latent."""
    latents = [net.represent(observation)]
    states = [net.initial_lstm_state(observation.shape[0])]
    prefix_logits = []
    for k in range(actions.shape[1]):
        latent, state, logits = net.dynamics(latents[-1], actions[:, k], states[-1])
        latents.append(latent)
        states.append(state)
        prefix_logits.append(logits)
    predictions = [net.predict(latent) for latent in latents]
    return {
        "latents": latents,
        "states": states,
        "prefix_logits": prefix_logits,
        "value_logits": [v for v, _ in predictions],
        "policy_logits": [p for _, p in predictions],
        "projections": [net.project(latent) for latent in latents[1:]],
    }


@pytest.mark.parametrize("gray", [False, True])
def test_shapes_atari(gray: bool) -> None:
    config = atari100k().replace(gray_scale=gray)
    channels = 1 if gray else 3
    net = build_network(config, (channels, 96, 96), NUM_ACTIONS)
    out = unroll(net, torch.rand(4, 4 * channels, 96, 96), torch.randint(0, NUM_ACTIONS, (4, 2)))
    assert all(latent.shape == (4, 64, 6, 6) for latent in out["latents"])
    assert all(logits.shape == (4, SUPPORT) for logits in out["prefix_logits"])
    assert all(logits.shape == (4, SUPPORT) for logits in out["value_logits"])
    assert all(logits.shape == (4, NUM_ACTIONS) for logits in out["policy_logits"])
    assert all(projection.shape == (4, 1024) for projection in out["projections"])
    assert net.project(out["latents"][0], with_head=False).shape == (4, 1024)
    assert all(h.shape == c.shape == (4, 512) for h, c in out["states"])


@pytest.mark.parametrize(("obs_size", "side"), [(64, 4), (84, 6), (96, 6)])
def test_other_observation_sizes(obs_size: int, side: int) -> None:
    assert latent_side(obs_size) == side
    net = ResNetNet(3, obs_size, NUM_ACTIONS, num_channels=8, reduced_channels=4, support_size=5)
    latent = net.represent(torch.rand(2, 3, obs_size, obs_size))
    assert latent.shape == (2, 8, side, side) and net.latent_shape == (8, side, side)
    next_latent, _, prefix = net.dynamics(latent, torch.tensor([0, 5]), net.initial_lstm_state(2))
    assert next_latent.shape == latent.shape and prefix.shape == (2, 11)


def test_zero_initialised_heads_ignore_the_input(atari_net: ResNetNet) -> None:
    net = atari_net.eval()
    with torch.no_grad():
        a = unroll(net, torch.rand(3, 12, 96, 96), torch.randint(0, NUM_ACTIONS, (3, 1)))
        b = unroll(net, torch.rand(3, 12, 96, 96) * 0.5, torch.randint(0, NUM_ACTIONS, (3, 1)))
    assert not torch.allclose(a["latents"][0], b["latents"][0])
    for key in ("value_logits", "policy_logits", "prefix_logits"):
        for x, y in zip(a[key], b[key]):
            assert torch.equal(x, y) and torch.equal(x, torch.zeros_like(x))
    value = support_to_scalar(a["value_logits"][0], 300)
    assert torch.allclose(value, torch.zeros(3), atol=1e-4)
    net.train()


def test_lstm_state_evolves_and_reward_head_without_lstm() -> None:
    net = small_net()
    out = unroll(net, torch.rand(4, 4, 32, 32), torch.randint(0, NUM_ACTIONS, (4, 2)))
    (h0, _), (h1, c1), (h2, c2) = out["states"]
    assert not torch.allclose(h1, h0) and not torch.allclose(h2, h1) and not torch.allclose(c2, c1)

    net = small_net(use_value_prefix=False)
    assert not any("lstm" in name for name, _ in net.named_parameters())
    latent = net.represent(torch.rand(4, 4, 32, 32))
    state = net.initial_lstm_state(4)
    next_latent, next_state, reward_logits = net.dynamics(
        latent, torch.zeros(4, dtype=torch.long), state
    )
    assert next_state is state and reward_logits.shape == (4, 11)
    assert next_latent.shape == latent.shape


def synthetic_loss(net: ResNetNet, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropies to fixed classes plus the SimSiam consistency against stop-grad targets."""
    out = unroll(net, batch["observations"][:, 0], batch["actions"])
    loss = torch.zeros(())
    loss = loss + sum(F.cross_entropy(v, batch["value"]) for v in out["value_logits"])
    loss = loss + sum(F.cross_entropy(p, batch["policy"]) for p in out["policy_logits"])
    loss = loss + sum(F.cross_entropy(r, batch["prefix"]) for r in out["prefix_logits"])
    for k, online in enumerate(out["projections"], start=1):
        with torch.no_grad():
            target = net.project(net.represent(batch["observations"][:, k]), with_head=False)
        loss = loss - F.cosine_similarity(online, target, dim=1).mean()
    assert isinstance(loss, torch.Tensor)
    return loss


def test_gradient_steps_reduce_a_synthetic_loss() -> None:
    torch.manual_seed(0)
    net = small_net()
    batch = {
        "observations": torch.rand(8, 3, 4, 32, 32),  # o_t, o_t+1, o_t+2
        "actions": torch.randint(0, NUM_ACTIONS, (8, 2)),
        "value": torch.randint(0, 11, (8,)),
        "policy": torch.randint(0, NUM_ACTIONS, (8,)),
        "prefix": torch.randint(0, 11, (8,)),
    }
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        loss = synthetic_loss(net, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print("synthetic loss:", [round(x, 2) for x in losses])
    assert losses[-1] < losses[0] - 1.0, losses
    unchanged = [name for name, p in net.named_parameters() if torch.equal(p, before[name])]
    assert not unchanged, f"parameters never updated: {unchanged}"


def test_bf16_autocast_on_cpu(atari_net: ResNetNet) -> None:
    # Batch 2 (the smallest BatchNorm accepts in training): CPU bf16 kernels are slow.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = unroll(atari_net, torch.rand(2, 12, 96, 96), torch.randint(0, NUM_ACTIONS, (2, 2)))
        values = sum(v.float().logsumexp(1).mean() for v in out["value_logits"])
        loss = values + sum(p.float().sum() for p in out["projections"])
    assert out["latents"][-1].shape == (2, 64, 6, 6)
    # the trunk runs in bf16; the heads (and so every scalar the search reads) in fp32
    assert out["latents"][-1].dtype == torch.bfloat16
    for key in ("prefix_logits", "value_logits", "policy_logits"):
        assert all(x.dtype == torch.float32 for x in out[key]), key
    assert out["prefix_logits"][-1].shape == (2, SUPPORT)
    assert out["projections"][0].shape == (2, 1024)
    for key in ("latents", "prefix_logits", "value_logits", "policy_logits", "projections"):
        assert all(torch.isfinite(x.float()).all() for x in out[key]), key
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in atari_net.parameters())
    atari_net.zero_grad(set_to_none=True)


def test_channels_last_matches_default_layout() -> None:
    torch.manual_seed(1)
    net = small_net().eval()
    observation = torch.rand(4, 4, 32, 32)
    actions = torch.randint(0, NUM_ACTIONS, (4, 2))
    with torch.no_grad():
        reference = unroll(net, observation, actions)
        assert not net.channels_last
        net.to_channels_last()
        assert net.channels_last
        out = unroll(net, observation, actions)  # a default-layout input is converted
    assert out["latents"][0].is_contiguous(memory_format=torch.channels_last)
    for key in ("latents", "prefix_logits", "value_logits", "projections"):
        for x, y in zip(out[key], reference[key]):
            torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)


def test_scale_latent_option() -> None:
    net = small_net(scale_latent=True)
    latent = net.represent(torch.rand(4, 4, 32, 32))
    next_latent, _, _ = net.dynamics(
        latent, torch.ones(4, dtype=torch.long), net.initial_lstm_state(4)
    )
    for x in (latent, next_latent):
        flat = x.flatten(1)
        torch.testing.assert_close(flat.min(1).values, torch.zeros(4))
        torch.testing.assert_close(flat.max(1).values, torch.ones(4))


def test_one_hot_action_planes_put_each_action_on_its_own_plane() -> None:
    torch.manual_seed(0)
    net = small_net(one_hot_actions=True).eval()
    channels = 16
    assert net.dynamics_conv.in_channels == channels + NUM_ACTIONS
    with torch.no_grad():  # only the plane of action 2 reaches the next latent
        keep = net.dynamics_conv.weight[:, channels + 2].clone()
        net.dynamics_conv.weight[:, channels:] = 0.0
        net.dynamics_conv.weight[:, channels + 2] = keep
        latent = net.represent(torch.rand(1, 4, 32, 32)).expand(NUM_ACTIONS, -1, -1, -1)
        next_latent = net.transition(latent, torch.arange(NUM_ACTIONS))
    others = [a for a in range(NUM_ACTIONS) if a != 2]
    for a in others[1:]:
        torch.testing.assert_close(next_latent[a], next_latent[others[0]])
    assert not torch.allclose(next_latent[2], next_latent[others[0]])


def test_action_planes_config_builds_the_one_hot_dynamics() -> None:
    from efficientzero.presets import minatar

    scalar = build_network(minatar().replace(action_planes="scalar"), (4, 10, 10), 6)
    one_hot = build_network(minatar().replace(action_planes="one_hot"), (4, 10, 10), 6)
    assert isinstance(scalar, ResNetNet) and isinstance(one_hot, ResNetNet)
    assert one_hot.dynamics_conv.in_channels == scalar.dynamics_conv.in_channels + 5


def test_inference_model_runs_the_resnet(atari_net: ResNetNet) -> None:
    model = InferenceModel(atari_net, lstm_horizon_len=5)
    frames = torch.randint(0, 256, (3, 4, 3, 96, 96), dtype=torch.uint8)  # [B, S, C, H, W]
    root = model.root(frames)
    assert root.prior_logits.shape == (3, NUM_ACTIONS) and root.value.shape == (3,)
    step = model.recurrent(root.embedding, torch.tensor([0, 1, 5]))
    assert step.reward.shape == (3,) and step.embedding[0].shape == (3, 64, 6, 6)
    atari_net.train()


def test_parameter_count(atari_net: ResNetNet) -> None:
    """Hand count of the paper's network for 12 input channels and 6 actions."""
    c, half, r, lstm, head, out, a = 64, 32, 16, 512, 32, 601, NUM_ACTIONS
    bn = lambda n: 2 * n  # noqa: E731 - weight and bias
    block = lambda i, o: 9 * i * o + 9 * o * o + 2 * bn(o)  # noqa: E731 - two 3x3 convs, no bias
    shortcut = half * c + bn(c)  # 1x1 stride-2 conv of the downsampling block
    representation = (
        9 * 12 * half + bn(half) + block(half, half) + block(half, c) + shortcut + 3 * block(c, c)
    )
    reduce = c * r + bn(r)
    flat_reduced = r * 6 * 6  # 576
    dynamics = 9 * (c + 1) * c + bn(c) + block(c, c)
    value_prefix = reduce + 4 * lstm * (flat_reduced + lstm) + 2 * 4 * lstm + bn(lstm)
    value_prefix += lstm * head + head + bn(head) + head * out + out
    prediction = block(c, c) + 2 * (reduce + flat_reduced * head + head + bn(head))
    prediction += head * out + out + head * a + a
    flat = c * 6 * 6  # 2304
    # BatchNorm after each of the three linear layers (the last one as SimSiam)
    projector = flat * 1024 + 1024 + 2 * (1024 * 1024 + 1024) + 3 * bn(1024)
    projection_head = 1024 * 512 + 512 + bn(512) + 512 * 1024 + 1024
    hand = representation + dynamics + value_prefix + prediction + projector + projection_head
    count = sum(p.numel() for p in atari_net.parameters())
    print(f"ResNetNet parameters (Atari preset, 6 actions): {count:,} (hand count {hand:,})")
    assert count == hand == 8_334_008


def test_non_square_frames_get_a_non_square_latent() -> None:
    net = build_network(atari100k().replace(frame_stack=1), (3, 96, 80), NUM_ACTIONS).eval()
    assert net.latent_shape == (64, 6, 5)
    with torch.no_grad():
        latent = net.represent(torch.rand(2, 3, 96, 80))
        _, policy = net.predict(latent)
    assert latent.shape == (2, 64, 6, 5) and policy.shape == (2, NUM_ACTIONS)
