"""The device side of a search: node embeddings kept on the model's device, and the small
per-simulation transfers between host and device.

Per simulation only the selected indices go to the device (one [3, B] int64 copy) and only the
network's scalars and prior come back (one [B, 2 + A] float32 copy, the softmax done on the
device). Latent and LSTM states never leave the device.

When the device is the CPU, the same copies are done with numpy on the same memory: torch's
CPU kernels open a thread-parallel region for inputs far smaller than ours (softmax always,
``exp`` from 2048 elements), and such a region stalls for milliseconds whenever another
process holds one of the cores. numpy copies are single-threaded and cheap.
"""

from __future__ import annotations

import numpy as np
import torch

from efficientzero.search.kernels import pack_step
from efficientzero.types import Embedding


def _numpy_view(t: torch.Tensor) -> np.ndarray | None:
    """The CPU tensor's memory as a numpy array, or None where numpy lacks the dtype."""
    try:
        return t.detach().numpy()
    except TypeError:  # e.g. bfloat16
        return None


class EmbeddingStore:
    """Embeddings of every node of B trees with N nodes, addressed by flat index ``b * N + node``.

    One tensor ``[B * N, ...]`` per embedding tensor (shape, dtype and device of the root's), so
    that gathering B parents is one ``index_select`` (or ``np.take``) per tensor. The parent
    embeddings handed to the model are valid only until the next ``parents`` call.
    """

    def __init__(self, embedding: Embedding, num_nodes: int, use_numpy: bool = True) -> None:
        self.key = self.key_of(embedding, num_nodes, use_numpy)
        batch = embedding[0].shape[0]
        self.device = embedding[0].device
        self.tensors = [
            torch.empty((batch * num_nodes, *e.shape[1:]), dtype=e.dtype, device=e.device)
            for e in embedding
        ]
        # [B, N, ...] views of the same memory, to write one node of every tree at once.
        self.by_node = [t.view(batch, num_nodes, *t.shape[1:]) for t in self.tensors]
        self._index = torch.zeros((3, batch), dtype=torch.int64, device=self.device)
        self.arrays: list[np.ndarray] | None = None
        if use_numpy and self.device.type == "cpu":
            arrays = [_numpy_view(t) for t in self.tensors]
            if all(a is not None for a in arrays):
                self.arrays = [a for a in arrays if a is not None]
                self._arrays_by_node = [t.numpy() for t in self.by_node]
                self._gathered = tuple(
                    torch.empty((batch, *e.shape[1:]), dtype=e.dtype) for e in embedding
                )
                self._gathered_arrays = [t.numpy() for t in self._gathered]

    @staticmethod
    def key_of(embedding: Embedding, num_nodes: int, use_numpy: bool = True) -> tuple:
        """What the buffers depend on: a store can be reused when the key is unchanged."""
        return num_nodes, use_numpy, tuple((e.shape, e.dtype, e.device) for e in embedding)

    def write(self, node: int, embedding: Embedding) -> None:
        """Store ``embedding`` (tensors ``[B, ...]``) as node ``node`` of every tree."""
        for k, e in enumerate(embedding):
            source = None if self.arrays is None else _numpy_view(e)
            if source is None:
                self.by_node[k][:, node] = e
            else:
                self._arrays_by_node[k][:, node] = source

    def parents(self, selected: np.ndarray) -> tuple[Embedding, torch.Tensor]:
        """Embeddings of the selected parents and the selected actions [B] int64, on the device.

        ``selected`` [3, B] int64 host array from the select kernel: parent node, action and
        the parent's flat index ``b * N + parent``.
        """
        if self.arrays is not None:
            for array, out in zip(self.arrays, self._gathered_arrays):
                array.take(selected[2], axis=0, out=out, mode="clip")
            return self._gathered, torch.from_numpy(selected[1])
        index = torch.from_numpy(selected)
        if self.device.type != "cpu":
            index = self._index.copy_(index)
        return tuple(t.index_select(0, index[2]) for t in self.tensors), index[1]


class StepOutputs:
    """Brings a recurrent step's reward [B], value [B] and prior [B, A] to the host in one copy.

    Packs them on the device into a reused [B, 2 + A] float32 buffer (reward, value, prior),
    then copies that to a reused host buffer (pinned for CUDA). The returned array is valid
    until the next ``to_host`` call.
    """

    def __init__(
        self, batch: int, num_actions: int, device: torch.device, use_numpy: bool = True
    ) -> None:
        self.key = (batch, num_actions, device, use_numpy)
        self.use_numpy = use_numpy and device.type == "cpu"
        self.packed = torch.empty((batch, 2 + num_actions), dtype=torch.float32, device=device)
        self.host = self.packed
        if device.type != "cpu":
            pin = device.type == "cuda"  # page-locked memory makes the copy a plain DMA
            self.host = torch.empty(self.packed.shape, dtype=torch.float32, pin_memory=pin)

    def to_host(
        self, reward: torch.Tensor, value: torch.Tensor, prior_logits: torch.Tensor
    ) -> np.ndarray:
        """The packed [B, 2 + A] float32 host array: reward, value, softmax(prior_logits)."""
        if self.use_numpy:
            r, v, logits = (_numpy_view(t) for t in (reward, value, prior_logits))
            if r is not None and v is not None and logits is not None:
                return self._to_host_numpy(r, v, logits)
        packed = self.packed
        packed[:, 0] = reward
        packed[:, 1] = value
        prior = packed[:, 2:]
        # A hand-written softmax: torch's CPU softmax is always thread-parallel (see above).
        torch.sub(prior_logits, prior_logits.amax(dim=1, keepdim=True), out=prior)
        prior.exp_()
        prior.div_(prior.sum(dim=1, keepdim=True))
        if self.host is not packed:
            self.host.copy_(packed)
        return self.host.numpy()

    def _to_host_numpy(
        self, reward: np.ndarray, value: np.ndarray, logits: np.ndarray
    ) -> np.ndarray:
        packed = self.packed.numpy()
        if reward.dtype == value.dtype == logits.dtype == np.float32:
            pack_step(reward, value, logits, packed)  # one compiled call
            return packed
        packed[:, 0] = reward
        packed[:, 1] = value
        prior = packed[:, 2:]
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=prior)
        np.exp(prior, out=prior)
        prior /= prior.sum(axis=1, keepdims=True)
        return packed
