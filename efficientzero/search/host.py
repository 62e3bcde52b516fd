"""The CPU side of a search: node embeddings left where the model wrote them, and the tensors
the model reads and writes handed to the compiled kernels by address.

A CPU search makes one compiled call per simulation besides the network call
(:func:`efficientzero.search.kernels.host_step`): it records the model's last output as the new
nodes (their addresses, not a copy: the output tensors are kept alive until the search ends),
backs them up, selects the next edges and gathers their parents' embeddings straight into the
tensors the model reads next, the one copy of an embedding a simulation makes. Python touches each
output tensor only to check it and take its address (``data_ptr``, a tenth of the cost of a
numpy view). The embedding's tensors may have any dtype (bf16 included): rows are copied as
bytes. A model must not write again into a tensor it has returned during the search (a network
returns new tensors each call).
"""

from __future__ import annotations

import numpy as np
import torch

from efficientzero.search.kernels import HostStep
from efficientzero.types import Embedding, RecurrentOutput

_ALIGN = 64
"""Byte alignment of each parent tensor within the parents' buffer (a cache line)."""


class HostStore:
    """Embeddings of every node of B trees with N nodes (CPU), plus the model's parent inputs.

    Node ``i``'s embedding of every root is the model output that created it (the root's for
    node 0), held in ``alive`` until :meth:`release`. ``gathered`` are the [B, ...] parent
    embeddings the kernels fill before each network call (valid until the next simulation) and
    ``actions`` the [B] int64 actions, a view of the searcher's ``selected[1]``.
    """

    def __init__(self, embedding: Embedding, num_nodes: int, selected: np.ndarray) -> None:
        self.key = self.key_of(embedding, num_nodes)
        self.batch = embedding[0].shape[0]
        self.shapes = [tuple(e.shape) for e in embedding]
        self.dtypes = [e.dtype for e in embedding]
        sizes = [e[0].numel() * e.element_size() for e in embedding]
        self.alive: list[torch.Tensor] = []
        # The parent tensors are views of one byte buffer, so that one comparison tells whether a
        # model output is one of them.
        offsets = [0]
        for size in sizes:
            offsets.append(offsets[-1] + -(-size * self.batch // _ALIGN) * _ALIGN)
        self._parents = torch.empty(max(offsets[-1], 1), dtype=torch.uint8)
        self.gathered = tuple(
            self._parents[start : start + size * self.batch].view(dtype).view(shape)
            for start, size, shape, dtype in zip(offsets, sizes, self.shapes, self.dtypes)
        )
        self._parent_span = (self._parents.data_ptr(), self._parents.data_ptr() + offsets[-1])
        self.actions = torch.from_numpy(selected[1])
        self.step = HostStep(
            nodes=np.zeros((num_nodes, len(embedding)), np.int64),
            sizes=np.asarray(sizes, np.int64),
            targets=np.asarray([g.data_ptr() for g in self.gathered], np.int64),
            sources=np.zeros(len(embedding) + 3, np.int64),
        )

    @staticmethod
    def key_of(embedding: Embedding, num_nodes: int) -> tuple:
        """What the buffers depend on: a store can be reused when the key is unchanged."""
        return num_nodes, tuple((e.shape, e.dtype) for e in embedding)

    @staticmethod
    def accepts(embedding: Embedding) -> bool:
        """Whether the embedding is on the CPU (the store's only device)."""
        return all(e.device.type == "cpu" for e in embedding)

    def write_root(self, embedding: Embedding) -> None:
        """Make ``embedding`` node 0 of every tree (the start of a search)."""
        self.alive = self._point_at(embedding)
        self.step.nodes[0] = self.step.sources[: len(self.alive)]

    def release(self) -> None:
        """Let go of the search's embeddings (the end of a search)."""
        self.alive = []

    def point_at(self, out: RecurrentOutput, num_actions: int) -> list[torch.Tensor]:
        """Hand the kernels the addresses of ``out``'s tensors (``step.sources``).

        The embedding's tensors (copies where one had to be made contiguous, moved to the CPU
        or cast) are kept alive until :meth:`release`; the scalars' are returned: the caller
        keeps them alive until the kernel has run. (The embedding's loop and this one stay
        apart: a shared helper per tensor costs a few percent of a small-batch search.)
        """
        self.alive += self._point_at(out.embedding, outputs=True)
        keep = []
        batch = self.batch
        scalars = (
            (out.reward, (batch,)),
            (out.value, (batch,)),
            (out.prior_logits, (batch, num_actions)),
        )
        k = len(self.shapes)
        for j, (t, shape) in enumerate(scalars):
            if not (t.dtype is torch.float32 and t.is_cpu and t.is_contiguous()):
                t = t.to("cpu", torch.float32).contiguous()
            if t.shape != shape:
                raise ValueError(f"model output has shape {tuple(t.shape)}; expected {shape}")
            self.step.sources[k + j] = t.data_ptr()
            keep.append(t)
        return keep

    def _point_at(self, embedding: Embedding, outputs: bool = False) -> list[torch.Tensor]:
        if len(embedding) != len(self.shapes):
            raise ValueError(
                f"model embedding has {len(embedding)} tensors; the root's had {len(self.shapes)}"
            )
        keep = []
        lo, hi = self._parent_span
        for k, (t, shape, dtype) in enumerate(zip(embedding, self.shapes, self.dtypes)):
            if not (t.dtype is dtype and t.is_cpu and t.is_contiguous()):
                t = t.to("cpu", dtype).contiguous()
            elif outputs and lo <= t.data_ptr() < hi:
                t = t.clone()  # the model handed back a parent buffer: the next gather reuses it
            if t.shape != shape:
                raise ValueError(
                    f"model embedding tensor {k} has shape {tuple(t.shape)}; expected {shape}"
                )
            self.step.sources[k] = t.data_ptr()
            keep.append(t)
        return keep
