"""On a CUDA GPU: the device search (eager and as captured CUDA graphs) gives the reference
search's answers, and the learner steps as on the CPU.

Skipped without a GPU (CI has none); ``benchmarks/gpu_check.sh`` runs this file on one.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from test_learner import A, learner_config, make_batch
from test_search import DISCOUNT, MLPModel, reference_results

from efficientzero.learner import Learner
from efficientzero.nets import InferenceModel, build_network
from efficientzero.presets import atari100k
from efficientzero.search import Searcher, root_prior
from efficientzero.types import Batch, RecurrentOutput, RootOutput

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


class CudaMLP:
    """``MLPModel``'s weights on the GPU, computed there only (so a CUDA graph can capture it)."""

    def __init__(self, cpu: MLPModel) -> None:
        self.cpu = cpu
        self.num_actions = cpu.num_actions
        self.w_latent, self.w_hidden, self.w_heads = (
            w.to(CUDA) for w in (cpu.w_latent, cpu.w_hidden, cpu.w_heads)
        )
        self.actions = torch.arange(cpu.num_actions, device=CUDA)

    def root(self, batch: int) -> RootOutput:
        out = self.cpu.root(batch)
        return RootOutput(
            out.prior_logits.to(CUDA), out.value.to(CUDA), tuple(e.to(CUDA) for e in out.embedding)
        )

    def recurrent(self, embedding, action: torch.Tensor) -> RecurrentOutput:
        latent, hidden, depth = embedding
        onehot = (action.to(CUDA)[:, None] == self.actions).float()  # no host sync, unlike one_hot
        x = torch.cat((latent, onehot, hidden), dim=1)
        new_latent = torch.tanh(x @ self.w_latent)
        heads = new_latent @ self.w_heads
        return RecurrentOutput(
            heads[:, 0],
            heads[:, 1],
            heads[:, 2:],
            (new_latent, torch.tanh(x @ self.w_hidden), depth + 1),
        )


@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_device_search_matches_the_reference(graphs: bool, masked: bool) -> None:
    cpu = MLPModel(7, seed=4)
    gpu = CudaMLP(cpu)
    batch, sims = 16, 30
    legal = np.random.default_rng(2).random((batch, 7)) < (0.7 if masked else 1.1)
    legal[:, 2] = True
    seeds = np.arange(batch, dtype=np.uint64) * 7919 + 1
    root = gpu.root(batch)
    prior = root_prior(root.prior_logits.cpu().numpy(), legal, None, 0.0)
    searcher = Searcher(graphs=graphs)
    expected = reference_results(cpu, cpu.root(batch), sims, legal, None, 0.0, seeds)
    for _ in range(2):  # the second search replays the captured graph on reused buffers
        out = searcher.run(
            gpu,
            root,
            prior=prior,
            legal=legal,
            seeds=seeds,
            num_simulations=sims,
            discount=DISCOUNT,
        )
        np.testing.assert_array_equal(out.visit_counts, [e["visit_counts"] for e in expected])
        np.testing.assert_allclose(
            out.root_values, [e["root_value"] for e in expected], rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_resnet_search_as_cuda_graphs_matches_eager(mixed_precision: bool) -> None:
    """The Atari ResNet (random heads, so no ties) searched with and without CUDA graphs."""
    torch.manual_seed(0)
    net = build_network(atari100k(), (3, 96, 96), 6)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model = InferenceModel(net.to(CUDA), lstm_horizon_len=5, mixed_precision=mixed_precision)
    frames = torch.randint(0, 256, (8, 4, 3, 96, 96), dtype=torch.uint8)
    legal = np.ones((8, 6), bool)
    seeds = np.arange(8, dtype=np.uint64)
    results = []
    for graphs in (False, True):
        root = model.root(frames)
        prior = root_prior(root.prior_logits.float().cpu().numpy(), legal, None, 0.0)
        out = Searcher(graphs=graphs).run(
            model, root, prior=prior, legal=legal, seeds=seeds, num_simulations=16, discount=0.99
        )
        results.append(out)
    eager, captured = results
    assert eager.visit_counts.sum(1).tolist() == [16] * 8
    np.testing.assert_array_equal(captured.visit_counts, eager.visit_counts)
    np.testing.assert_allclose(captured.root_values, eager.root_values, rtol=1e-3, atol=1e-4)


def on(device: torch.device, batch: Batch) -> Batch:
    moved = {
        f.name: getattr(batch, f.name).to(device)
        for f in dataclasses.fields(batch)
        if isinstance(getattr(batch, f.name), torch.Tensor)
    }
    return dataclasses.replace(batch, **moved)


def test_learner_step_on_cuda_matches_the_cpu() -> None:
    torch.manual_seed(0)
    # SGD (the paper's optimizer): its step is linear in the gradient, so rounding differences
    # stay small; Adam divides near-zero gradients by their own size and can flip their sign.
    c = learner_config(optimizer="sgd", lr=0.05, lr_warmup_fraction=0.0, mixed_precision=False)
    cpu = Learner(c, build_network(c, (4,), A), torch.device("cpu"))
    gpu = Learner(c, copy.deepcopy(cpu.net), CUDA)
    batch = make_batch()
    for _ in range(3):
        cpu_metrics, cpu_priorities = cpu.step(batch)
        gpu_metrics, gpu_priorities = gpu.step(on(CUDA, batch))
        assert gpu_metrics["loss"] == pytest.approx(cpu_metrics["loss"], rel=1e-4, abs=1e-5)
        np.testing.assert_allclose(gpu_priorities, cpu_priorities, rtol=1e-3, atol=1e-4)
    for p, q in zip(cpu.net.parameters(), gpu.net.parameters()):
        torch.testing.assert_close(q.cpu(), p, rtol=1e-3, atol=1e-4)


def test_resnet_learner_bf16_on_cuda_lowers_the_loss() -> None:
    torch.manual_seed(0)
    c = atari100k().replace(
        batch_size=8, lr_warmup_fraction=0.0, mixed_precision=True, augment=False
    )
    net = build_network(c, (3, 96, 96), 6)
    learner = Learner(c, net, CUDA)
    assert learner.mixed_precision  # every GPU this check runs on (H100/H200) has bf16
    b, k, s = 8, c.unroll_steps, c.frame_stack
    g = torch.Generator().manual_seed(0)
    policies = torch.rand(b, k + 1, 6, generator=g)
    batch = Batch(
        frames=torch.randint(0, 256, (b, s + k, 3, 96, 96), dtype=torch.uint8, generator=g),
        actions=torch.randint(0, 6, (b, k), generator=g),
        target_value_prefixes=torch.rand(b, k, generator=g),
        target_values=torch.rand(b, k + 1, generator=g) * 5,
        target_policies=policies / policies.sum(-1, keepdim=True),
        mask=torch.ones(b, k + 1),
        value_mask=torch.ones(b, k + 1),
        consistency_mask=torch.ones(b, k + 1),
        weights=torch.ones(b),
        indices=np.arange(b),
    )
    batch = on(CUDA, batch)
    losses = []
    for _ in range(20):
        metrics, priorities = learner.step(batch)
        assert np.isfinite(metrics["loss"]) and np.isfinite(metrics["grad_norm"])
        losses.append(metrics["loss"])
    assert priorities.shape == (b,) and np.isfinite(priorities).all()
    assert losses[-1] < losses[0], losses
