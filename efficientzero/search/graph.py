"""One simulation's device work as a single replayable unit (config ``cuda_graphs``).

On a GPU each simulation of the device path (:mod:`efficientzero.search.device`) launches its work
op by op: the gather of the parents' embeddings (an ``index_select`` per tensor), the recurrent
network, the store of the new nodes and the packing of reward, value and prior, about a hundred
small kernels (docs/gpu_projection.md), each costing host time to launch. :class:`StepGraph` runs
the same sequence on buffers whose addresses never change: the host writes the simulation's
indices into one [4, B] int64 tensor (parent node, action, parent row, new node's row) and every
other tensor the sequence reads or writes is fixed, so on CUDA it is captured once as a CUDA
graph (``torch.cuda.CUDAGraph``) and replayed, one launch per simulation. Elsewhere (the CPU, for
tests) the same sequence runs eagerly on the same buffers.

The capture holds the model's parameters by address: weights loaded in place
(``load_state_dict``) are seen by later replays; a new model object is captured anew.
"""

from __future__ import annotations

import numpy as np
import torch

from efficientzero.search.device import EmbeddingStore, StepOutputs
from efficientzero.types import SearchModel

WARMUP_STEPS = 3
"""Eager runs on a side stream before a capture (lets lazy initialisation happen outside it)."""


class StepGraph:
    """Gather -> recurrent step -> store -> pack for one (model, store, outputs), replayable."""

    def __init__(self, model: SearchModel, store: EmbeddingStore, outputs: StepOutputs) -> None:
        self.model, self.store, self.outputs = model, store, outputs
        batch, device = store.batch, store.device
        self.num_nodes = store.tensors[0].shape[0] // batch if store.tensors else 0
        self._rows = np.arange(batch, dtype=np.int64)
        cuda = device.type == "cuda"
        self.host_index = torch.zeros((4, batch), dtype=torch.int64, pin_memory=cuda)
        self.index = self.host_index if device.type == "cpu" else self.host_index.to(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self._captured = not cuda  # nothing to capture off CUDA

    def serves(self, model: SearchModel, store: EmbeddingStore, outputs: StepOutputs) -> bool:
        """Whether this step was built for exactly these objects (else build a new one)."""
        return model is self.model and store is self.store and outputs is self.outputs

    def run(self, selected: np.ndarray, node: int) -> np.ndarray:
        """Expand node ``node`` of every tree under the ``selected`` [3, B] edges (the select
        kernel's parent node, action and parent row); returns the [B, 2 + A] host array of
        reward, value and prior (as :meth:`StepOutputs.fetch`)."""
        host = self.host_index.numpy()
        host[:3] = selected
        np.add(self._rows, node * len(self._rows), out=host[3])
        if not self._captured:  # the first call: node 0 (the root) is in the store by now
            self._capture()
        if self.index is not self.host_index:
            self.index.copy_(self.host_index, non_blocking=True)
        if self.graph is not None:
            self.graph.replay()
        else:
            self._step()
        return self.outputs.fetch()

    @torch.inference_mode()
    def _step(self) -> None:
        index = self.index
        parents = tuple(t.index_select(0, index[2]) for t in self.store.tensors)
        out = self.model.recurrent(parents, index[1])
        if len(out.embedding) != len(self.store.tensors):
            raise ValueError(
                f"model embedding has {len(out.embedding)} tensors; "
                f"the root's had {len(self.store.tensors)}"
            )
        for tensor, e in zip(self.store.tensors, out.embedding):
            tensor.index_copy_(0, index[3], e.to(tensor.dtype))
        self.outputs.pack(out.reward, out.value, out.prior_logits)

    def _capture(self) -> None:
        """Warm up on a side stream, then capture :meth:`_step` (CUDA).

        The warm-up runs read the root's rows and write the last node's, which no simulation
        reads before the search's last one writes them again.
        """
        self._captured = True
        batch = len(self._rows)
        safe = self.host_index.clone()
        safe[0], safe[1], safe[2] = 0, 0, torch.from_numpy(self._rows)
        safe[3] = torch.from_numpy(self._rows + (self.num_nodes - 1) * batch)
        self.index.copy_(safe.to(self.index.device))
        device = self.store.device
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self._step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step()
        self.graph = graph
