"""The CPU side of a search: node embeddings in one host byte array, and the tensors the model
reads and writes handed to the compiled kernels by address.

A CPU search makes one compiled call per simulation besides the network call
(:func:`efficientzero.search.kernels.host_step`): it stores the model's last output as the new
nodes, backs them up, selects the next edges and gathers their parents' embeddings straight into
the tensors the model reads next. Python touches each output tensor only to check it and take
its address (``data_ptr``, a tenth of the cost of a numpy view). The embedding's tensors may have
any dtype (bf16 included): rows are copied as bytes.
"""

from __future__ import annotations

import numpy as np
import torch

from efficientzero.search.kernels import HostStep, store_node
from efficientzero.types import Embedding, RecurrentOutput

_ALIGN = 64
"""Byte alignment of each embedding tensor within a node's row (a cache line)."""


class HostStore:
    """Embeddings of every node of B trees with N nodes (CPU), plus the model's parent inputs.

    ``gathered`` are the [B, ...] parent embeddings the kernels fill before each network call
    (valid until the next simulation) and ``actions`` the [B] int64 actions, a view of the
    searcher's ``selected[1]``.
    """

    def __init__(self, embedding: Embedding, num_nodes: int, selected: np.ndarray) -> None:
        self.key = self.key_of(embedding, num_nodes)
        self.batch = embedding[0].shape[0]
        self.shapes = [tuple(e.shape) for e in embedding]
        self.dtypes = [e.dtype for e in embedding]
        sizes = [e[0].numel() * e.element_size() for e in embedding]
        offsets = [0]
        for size in sizes:
            offsets.append(offsets[-1] + -(-size // _ALIGN) * _ALIGN)
        rows = np.empty((num_nodes * self.batch, offsets[-1]), np.uint8)
        self.gathered = tuple(torch.empty(s, dtype=d) for s, d in zip(self.shapes, self.dtypes))
        self.actions = torch.from_numpy(selected[1])
        self.step = HostStep(
            rows=rows,
            offsets=np.asarray(offsets[:-1], np.int64),
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
        """Store ``embedding`` as node 0 of every tree."""
        keep = self._point_at(embedding)
        store_node(self.step, self.batch, 0)
        del keep

    def point_at(self, out: RecurrentOutput, num_actions: int) -> list[torch.Tensor]:
        """Hand the kernels the addresses of ``out``'s tensors (``step.sources``).

        Returns the tensors the addresses belong to (copies where a tensor had to be made
        contiguous, moved to the CPU or cast): the caller keeps them alive until the kernel has
        run. (The embedding's loop and this one stay apart: a shared helper per tensor costs a
        few percent of a small-batch search.)
        """
        keep = self._point_at(out.embedding)
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

    def _point_at(self, embedding: Embedding) -> list[torch.Tensor]:
        if len(embedding) != len(self.shapes):
            raise ValueError(
                f"model embedding has {len(embedding)} tensors; the root's had {len(self.shapes)}"
            )
        keep = []
        for k, (t, shape, dtype) in enumerate(zip(embedding, self.shapes, self.dtypes)):
            if not (t.dtype is dtype and t.is_cpu and t.is_contiguous()):
                t = t.to("cpu", dtype).contiguous()
            if t.shape != shape:
                raise ValueError(
                    f"model embedding tensor {k} has shape {tuple(t.shape)}; expected {shape}"
                )
            self.step.sources[k] = t.data_ptr()
            keep.append(t)
        return keep
