"""The device side of a search on an accelerator: node embeddings kept on the model's device,
and the small per-simulation transfers between host and device.

Per simulation only the selected indices go to the device (one [3, B] int64 copy) and only the
network's scalars and prior come back (one [B, 2 + A] float32 copy, the softmax done on the
device). Latent and LSTM states never leave the device. CPU searches use the host kernels of
:mod:`efficientzero.search.host` instead (this path runs there too, for tests).
"""

from __future__ import annotations

import numpy as np
import torch

from efficientzero.types import Embedding


class EmbeddingStore:
    """Embeddings of every node of B trees with N nodes, row ``node * B + b`` (node-major).

    One tensor ``[N * B, ...]`` per embedding tensor (shape, dtype and device of the root's), so
    that gathering B parents is one ``index_select`` per tensor and storing one node of every
    tree is one contiguous copy. The parent embeddings handed to the model are valid only until
    the next ``parents`` call.
    """

    def __init__(self, embedding: Embedding, num_nodes: int) -> None:
        self.key = self.key_of(embedding, num_nodes)
        self.batch = embedding[0].shape[0]
        self.device = embedding[0].device
        self.tensors = [
            torch.empty((num_nodes * self.batch, *e.shape[1:]), dtype=e.dtype, device=e.device)
            for e in embedding
        ]
        self._index = torch.zeros((3, self.batch), dtype=torch.int64, device=self.device)
        # CUDA: the indices go down from page-locked memory, asynchronously (no sync per
        # simulation); the packed outputs coming back are the step's one synchronisation.
        self._pinned: torch.Tensor | None = None
        if self.device.type == "cuda":
            self._pinned = torch.zeros((3, self.batch), dtype=torch.int64, pin_memory=True)

    @staticmethod
    def key_of(embedding: Embedding, num_nodes: int) -> tuple:
        """What the buffers depend on: a store can be reused when the key is unchanged."""
        return num_nodes, tuple((e.shape, e.dtype, e.device) for e in embedding)

    def write(self, node: int, embedding: Embedding) -> None:
        """Store ``embedding`` (tensors ``[B, ...]``) as node ``node`` of every tree."""
        rows = slice(node * self.batch, (node + 1) * self.batch)
        for tensor, e in zip(self.tensors, embedding):
            tensor[rows] = e

    def parents(self, selected: np.ndarray) -> tuple[Embedding, torch.Tensor]:
        """Embeddings of the selected parents and the selected actions [B] int64, on the device.

        ``selected`` [3, B] int64 host array from the select kernel: parent node, action and
        the parent's row ``parent * B + b``.
        """
        index = torch.from_numpy(selected)
        if self._pinned is not None:
            index = self._index.copy_(self._pinned.copy_(index), non_blocking=True)
        elif self.device.type != "cpu":
            index = self._index.copy_(index)
        return tuple(t.index_select(0, index[2]) for t in self.tensors), index[1]


class StepOutputs:
    """Brings a recurrent step's reward [B], value [B] and prior [B, A] to the host in one copy.

    Packs them on the device into a reused [B, 2 + A] float32 buffer (reward, value, prior),
    then copies that to a reused host buffer (pinned for CUDA). The returned array is valid
    until the next ``to_host`` call.
    """

    def __init__(self, batch: int, num_actions: int, device: torch.device) -> None:
        self.key = (batch, num_actions, device)
        self.packed = torch.empty((batch, 2 + num_actions), dtype=torch.float32, device=device)
        self.host = self.packed
        if device.type != "cpu":
            pin = device.type == "cuda"  # page-locked memory makes the copy a plain DMA
            self.host = torch.empty(self.packed.shape, dtype=torch.float32, pin_memory=pin)

    def to_host(
        self, reward: torch.Tensor, value: torch.Tensor, prior_logits: torch.Tensor
    ) -> np.ndarray:
        """The packed [B, 2 + A] float32 host array: reward, value, softmax(prior_logits)."""
        self.pack(reward, value, prior_logits)
        return self.fetch()

    def pack(self, reward: torch.Tensor, value: torch.Tensor, prior_logits: torch.Tensor) -> None:
        """Reward, value and softmax(prior_logits) into ``packed``, on the device."""
        packed = self.packed
        packed[:, 0] = reward
        packed[:, 1] = value
        prior = packed[:, 2:]
        # A hand-written softmax: torch's CPU softmax is always thread-parallel, and a parallel
        # region on tiny inputs stalls whenever another process holds a core (CPU tests).
        torch.sub(prior_logits, prior_logits.amax(dim=1, keepdim=True), out=prior)
        prior.exp_()
        prior.div_(prior.sum(dim=1, keepdim=True))

    def fetch(self) -> np.ndarray:
        """``packed`` as a host array (a copy for other devices, which waits for the device)."""
        if self.host is not self.packed:
            self.host.copy_(self.packed)
        return self.host.numpy()
