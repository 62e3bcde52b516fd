import copy
import dataclasses

import numpy as np
import pytest
import torch
from helpers import tiny_config

from efficientzero.learner import Learner, learning_rate
from efficientzero.losses import LossWeights, compute_loss
from efficientzero.nets import build_network
from efficientzero.presets import make_preset
from efficientzero.types import Batch

K, B, A = 3, 16, 2


def learner_config(**changes):
    """The shared tiny config with this file's unroll length, batch and support."""
    base = dict(unroll_steps=K, lstm_horizon_len=2, support_size=10, batch_size=B)
    return tiny_config(**{**base, **changes})


def make_batch(seed=0, mask=None):
    g = torch.Generator().manual_seed(seed)
    policies = torch.rand(B, K + 1, A, generator=g)
    return Batch(
        frames=torch.randn(B, K + 1, 4, generator=g),
        actions=torch.randint(0, A, (B, K), generator=g),
        target_value_prefixes=torch.rand(B, K, generator=g) * 3,
        target_values=torch.rand(B, K + 1, generator=g) * 20,
        target_policies=policies / policies.sum(-1, keepdim=True),
        mask=torch.ones(B, K + 1) if mask is None else mask,
        value_mask=torch.ones(B, K + 1),
        consistency_mask=torch.ones(B, K + 1) if mask is None else mask,
        weights=torch.ones(B),
        indices=np.arange(B),
    )


def image_config(**changes):
    """``learner_config`` for 2x10x10 frames: a small ResNet trained by plain SGD (Adam's
    g / sqrt(v) would magnify rounding in near-zero gradients), for comparing two settings."""
    base = dict(
        num_channels=8, reduced_channels=2, optimizer="sgd", lr=0.05, lr_warmup_fraction=0.0
    )
    return learner_config(**{**base, **changes})


def image_batch(frames=None):
    """``make_batch`` with 2x10x10 frames (random unless given)."""
    if frames is None:
        frames = torch.rand(B, K + 1, 2, 10, 10)
    return dataclasses.replace(make_batch(), frames=frames)


def test_learning_rate_warmup_and_step_decay():
    c = make_preset("atari100k").replace(
        total_updates=1000, lr=0.2, lr_warmup_fraction=0.01, lr_decay_updates=500, lr_decay_rate=0.1
    )
    assert learning_rate(c, 0) == pytest.approx(0.02)  # (0 + 1) / 10 of the peak
    assert learning_rate(c, 9) == pytest.approx(0.2)
    assert learning_rate(c, 499) == pytest.approx(0.2)
    assert learning_rate(c, 500) == pytest.approx(0.02)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_updates_reduce_the_loss_and_return_priorities(optimizer):
    torch.manual_seed(0)
    c = learner_config(
        optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 3e-3, lr_warmup_fraction=0.0
    )
    learner = Learner(c, build_network(c, (4,), A), torch.device("cpu"))
    batch = make_batch()
    first, priorities = learner.step(batch)
    for _ in range(60):
        last, _ = learner.step(batch)
    assert last["loss"] < first["loss"] - 0.1
    assert learner.updates == 61
    # priority = |predicted value_0 - target value_0| of the batch; zero-initialised heads predict ~0
    assert priorities.shape == (B,)
    assert np.allclose(priorities, batch.target_values[:, 0].numpy(), atol=1e-3)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fused_optimizer_steps_like_the_per_tensor_one(optimizer):
    """The learner's fused optimizer kernels move the weights as torch's plain loop does."""
    torch.manual_seed(0)
    c = learner_config(optimizer=optimizer, lr=0.05, lr_warmup_fraction=0.0)
    fused = Learner(c, build_network(c, (4,), A), torch.device("cpu"))
    assert fused.optimizer.defaults["fused"]
    plain = Learner(c, copy.deepcopy(fused.net), torch.device("cpu"))
    before = [p.detach().clone() for p in fused.net.parameters()]
    settings = {"lr": c.lr, "weight_decay": c.weight_decay}
    if optimizer == "sgd":
        settings["momentum"] = c.momentum
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    plain.optimizer = optimizers[optimizer](plain.net.parameters(), foreach=False, **settings)
    # Adam's step is about lr x sign(g) where g is nearly 0 (zero-initialised heads), so a
    # rounding difference in one step can flip the next: one step for Adam, five for SGD.
    for seed in range(5 if optimizer == "sgd" else 1):
        fused.step(make_batch(seed))
        plain.step(make_batch(seed))
    for p, q in zip(fused.net.parameters(), plain.net.parameters()):
        assert torch.allclose(p, q, atol=1e-6, rtol=1e-5)
    assert any(not torch.equal(p, q) for p, q in zip(fused.net.parameters(), before))


def test_gradient_clipping_bounds_the_step():
    torch.manual_seed(0)
    c = learner_config(
        optimizer="sgd",
        lr=1.0,
        momentum=0.0,
        weight_decay=0.0,
        lr_warmup_fraction=0.0,
        max_grad_norm=1e-3,
    )
    learner = Learner(c, build_network(c, (4,), A), torch.device("cpu"))
    before = [p.detach().clone() for p in learner.net.parameters()]
    metrics, _ = learner.step(make_batch())
    moved = torch.sqrt(
        sum(((p.detach() - q) ** 2).sum() for p, q in zip(learner.net.parameters(), before))
    )
    assert metrics["grad_norm"] > 1e-3  # the raw norm is reported
    assert float(moved) == pytest.approx(1e-3, rel=1e-3)  # lr 1 x clipped norm


def test_masked_policy_targets_do_not_matter():
    torch.manual_seed(0)
    c = learner_config()
    net = build_network(c, (4,), A).train()
    mask = torch.ones(B, K + 1)
    mask[:, 2:] = 0
    a, b = make_batch(mask=mask), make_batch(mask=mask)
    b.target_policies[:, 2:] = torch.tensor([1.0, 0.0])
    weights = LossWeights()
    loss_a = compute_loss(
        copy.deepcopy(net), a, frame_stack=1, lstm_horizon_len=2, weights=weights
    )[0]
    loss_b = compute_loss(
        copy.deepcopy(net), b, frame_stack=1, lstm_horizon_len=2, weights=weights
    )[0]
    assert torch.allclose(loss_a, loss_b)


def test_without_consistency_the_projector_gets_no_gradient():
    torch.manual_seed(0)
    for use_consistency in (True, False):
        c = learner_config(use_consistency=use_consistency)
        learner = Learner(c, build_network(c, (4,), A), torch.device("cpu"))
        metrics, _ = learner.step(make_batch())
        grads = [p.grad for p in learner.net.projector.parameters()]
        touched = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
        assert touched is use_consistency
        assert (metrics["consistency_loss"] != 0.0) is use_consistency


def test_without_value_prefix_the_head_is_a_per_step_reward_head():
    """No LSTM: the dynamics' reward logits depend on the next latent alone, and the LSTM state
    passes through untouched (MuZero's reward head)."""
    torch.manual_seed(0)
    c = learner_config(use_value_prefix=False)
    net = build_network(c, (4,), A).eval()
    assert not any("lstm" in name for name, _ in net.named_parameters())
    latent = net.represent(torch.randn(3, 4))
    state = (torch.randn(3, 8), torch.randn(3, 8))
    logits, out_state = net.value_prefix(latent, state)
    assert out_state[0] is state[0] and out_state[1] is state[1]
    zeros = net.initial_lstm_state(3)
    torch.testing.assert_close(logits, net.value_prefix(latent, zeros)[0])


def test_projector_ends_with_batch_norm():
    """SimSiam's projector (and the reference code's) ends in BatchNorm; the predictor does not."""
    c = learner_config()
    net = build_network(c, (4,), A)
    assert isinstance(net.projector[-1], torch.nn.BatchNorm1d)
    assert isinstance(net.projection_head[-1], torch.nn.Linear)


def test_channels_last_config_trains_like_the_default_layout():
    """``channels_last=True`` gives a channels-last ResNet whose updates match the default
    layout's (same losses and weights up to float rounding)."""
    frames = torch.rand(B, K + 1, 2, 10, 10)
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        c = image_config(channels_last=channels_last)
        net = build_network(c, (2, 10, 10), A)
        assert net.channels_last is channels_last
        learner = Learner(c, net, torch.device("cpu"))
        batch = image_batch(frames)
        losses = [learner.step(batch)[0]["loss"] for _ in range(3)]
        results.append((losses, learner.weights()))
    (losses, weights), (cl_losses, cl_weights) = results
    assert cl_losses == pytest.approx(losses, rel=1e-4, abs=1e-5)
    for name, value in weights.items():
        torch.testing.assert_close(cl_weights[name], value, atol=1e-4, rtol=1e-4)


def test_compiled_loss_updates_like_the_eager_one():
    """compile_loss: the same losses, priorities and weights, up to float rounding (SGD: Adam
    would scale rounding differences in near-zero gradients up to whole steps)."""
    torch.manual_seed(0)
    c = learner_config(optimizer="sgd", lr=0.05, lr_warmup_fraction=0.0)
    eager = Learner(c, build_network(c, (4,), A), torch.device("cpu"))
    compiled = Learner(c.replace(compile_loss=True), copy.deepcopy(eager.net), torch.device("cpu"))
    batch = make_batch()
    for _ in range(3):
        m_eager, p_eager = eager.step(batch)
        m_compiled, p_compiled = compiled.step(batch)
        assert m_compiled["loss"] == pytest.approx(m_eager["loss"], rel=1e-5)
        assert np.allclose(p_compiled, p_eager, atol=1e-3)
    assert compiled.compiled and not eager.compiled
    assert m_eager["loss"] < 4.6  # the updates did move the weights
    for a, b in zip(eager.net.parameters(), compiled.net.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_failed_compile_names_the_way_out(monkeypatch):
    c = learner_config(compile_loss=True)
    learner = Learner(c, build_network(c, (4,), A), torch.device("cpu"))

    def no_compiler(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

    learner.loss_fn = no_compiler
    with pytest.raises(RuntimeError, match=r"torch\.compile failed .*--compile-loss False"):
        learner.step(make_batch())
    # an error of the loss itself is not blamed on the compiler
    bad = dataclasses.replace(make_batch(), actions=torch.zeros(B, K + 2, dtype=torch.long))
    with pytest.raises(Exception) as caught:
        learner.step(bad)
    assert "torch.compile failed" not in str(caught.value)


def _conv_output_dtypes(learner, batch):
    """The dtypes the first convolution of the learner's network produced during one step."""
    dtypes = []
    conv = next(m for m in learner.net.modules() if isinstance(m, torch.nn.Conv2d))
    handle = conv.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    metrics, _ = learner.step(batch)
    handle.remove()
    return dtypes, metrics


def test_cpu_mixed_precision_trains_in_bf16_with_fp32_weights_near_the_fp32_losses(monkeypatch):
    """cpu_mixed_precision on a CPU with AMX: convolutions run in bf16 under autocast, the
    weights and losses stay fp32, and the losses follow fp32 training's up to bf16 rounding."""
    import efficientzero.learner as learner_module

    monkeypatch.setattr(learner_module, "cpu_bf16_supported", lambda: True)
    batch = image_batch()
    results = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        c = image_config(cpu_mixed_precision=bf16)
        learner = Learner(c, build_network(c, (2, 10, 10), A), torch.device("cpu"))
        assert learner.mixed_precision is bf16
        dtypes, first = _conv_output_dtypes(learner, batch)
        assert set(dtypes) == {torch.bfloat16 if bf16 else torch.float32}
        losses = [first["loss"]] + [learner.step(batch)[0]["loss"] for _ in range(4)]
        assert all(p.dtype == torch.float32 for p in learner.net.parameters())
        results[bf16] = losses
    assert results[True] == pytest.approx(results[False], rel=0.05)
    assert results[True][-1] < results[True][0]  # it does learn


def test_cpu_mixed_precision_without_amx_stays_fp32_and_says_so(monkeypatch, caplog):
    import efficientzero.learner as learner_module

    monkeypatch.setattr(learner_module, "cpu_bf16_supported", lambda: False)
    c = image_config(cpu_mixed_precision=True)
    with caplog.at_level("WARNING", logger="efficientzero.learner"):
        learner = Learner(c, build_network(c, (2, 10, 10), A), torch.device("cpu"))
    assert not learner.mixed_precision
    assert "no native bf16" in caplog.text
    dtypes, _ = _conv_output_dtypes(learner, image_batch())
    assert set(dtypes) == {torch.float32}


def test_cpu_bf16_probe_answers_no_without_torchs_check(monkeypatch):
    from efficientzero.nets.base import cpu_bf16_supported

    assert isinstance(cpu_bf16_supported(), bool)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert cpu_bf16_supported() is False
