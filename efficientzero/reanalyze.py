"""Reanalysis: sampled positions -> a learner batch, with the target network.

MuZero Reanalyze (Schrittwieser et al. 2020, Appendix H) as EfficientZero runs it (Ye et al. 2021, §4.3 and
Appendix A): bootstrap values come from the target network's predicted value or from the root
value of a fresh search (``value_target``); for a ``reanalyze_ratio`` share of the batch, drawn
at random, the policy targets are the visit distributions of fresh searches, otherwise the
stored self-play policies.
"""

from __future__ import annotations

import numpy as np
import torch

from efficientzero.config import Config
from efficientzero.nets import AgentModel
from efficientzero.planning import plan, policy_records
from efficientzero.search import Searcher
from efficientzero.targets import state_masks, value_prefix_targets, value_targets
from efficientzero.types import Batch, SampledPositions


class Reanalyzer:
    """Turns ``SampledPositions`` into a ``Batch`` using a target network and batched searches."""

    def __init__(self, config: Config, model: AgentModel, seed: int) -> None:
        self.config = config
        self.model = model
        self.rng = np.random.default_rng(seed)
        # Buffers reused across this component's searches.
        self.searcher = Searcher(threads=config.search_threads, graphs=config.cuda_graphs)

    def set_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Refresh the target network."""
        self.model.net.load_state_dict(weights)

    def _search(self, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(policy targets [M, A] (records for continuous actions), root values [M]) of fresh
        searches from stacked frames [M, S, *F] (on any device)."""
        root = self.model.root(frames)
        result = plan(
            self.config,
            self.model,
            root,
            self.rng,
            self.searcher,
            explore=self.config.reanalyze_root_noise,
        )
        return policy_records(result), result.root_values

    def bootstrap_values(self, sampled: SampledPositions) -> np.ndarray:
        """[B, K+1] values of the bootstrap observations (0 where none is needed).

        Every row is evaluated, needed or not: a constant batch shape lets the search reuse its
        device buffers, and rows past an episode end are few.
        """
        frames = sampled.bootstrap_frames.reshape(-1, *sampled.bootstrap_frames.shape[2:])
        if self.config.value_target == "root":
            values = self._search(torch.from_numpy(frames))[1]
        else:
            values = self.model.root(torch.from_numpy(frames)).value.float().cpu().numpy()
        return np.where(
            sampled.bootstrap_mask, values.reshape(sampled.bootstrap_mask.shape), 0.0
        ).astype(np.float32)

    def policy_targets(self, sampled: SampledPositions, mask: np.ndarray) -> np.ndarray:
        """[B, K+1, A]: fresh search policies for a random ``reanalyze_ratio`` share of the rows.

        The rows are drawn at random: replay's stratified sampling returns positions in slot
        order (oldest first), so a fixed slice would always leave the newest data stored. All
        K+1 states of those positions are searched (a constant shape, see above); where
        ``mask`` is 0 the stored (zero) policy is kept.
        """
        policies = sampled.policies.copy()
        batch, steps = mask.shape
        count = round(self.config.reanalyze_ratio * batch)
        if count == 0:
            return policies
        rows = np.sort(self.rng.choice(batch, size=count, replace=False)) if count < batch else None
        chosen = slice(None) if rows is None else rows
        stack = self.config.frame_stack
        # Each frame goes to the model's device once ([count, S + K, *F], uint8 for images);
        # the K + 1 overlapping stacks are gathered there (S times fewer bytes to copy).
        frames = torch.from_numpy(sampled.frames[chosen]).to(self.model.device, non_blocking=True)
        index = torch.arange(steps)[:, None] + torch.arange(stack)[None, :]  # [K+1, S]
        windows = frames[:, index.to(frames.device)]  # [count, K+1, S, *F]
        fresh, _ = self._search(windows.reshape(count * steps, *windows.shape[2:]))
        valid = mask[chosen, :, None] > 0
        policies[chosen] = np.where(valid, fresh.reshape(count, steps, -1), policies[chosen])
        return policies

    def make_batch(self, sampled: SampledPositions, device: torch.device) -> Batch:
        """The learner batch of ``sampled``, its tensors on ``device``."""
        return Batch.from_arrays(self.make_arrays(sampled), device)

    def make_arrays(self, sampled: SampledPositions) -> dict[str, np.ndarray]:
        """The fields of the learner batch as numpy arrays (``Batch.from_arrays`` makes the
        batch): what a Ray reanalysis worker sends, which the object store hands to the learner
        without a copy."""
        c = self.config
        K = sampled.actions.shape[1]
        mask, value_mask, observation_mask = state_masks(
            sampled.steps_to_end, sampled.terminated, K
        )
        values = value_targets(
            sampled.rewards, self.bootstrap_values(sampled), sampled.bootstrap_steps, c.discount
        )
        prefixes = value_prefix_targets(
            sampled.rewards[:, :K], c.lstm_horizon_len, c.use_value_prefix
        )
        policies = self.policy_targets(sampled, mask)
        return {
            "frames": sampled.frames,
            "actions": sampled.actions,
            "target_value_prefixes": prefixes,
            "target_values": values,
            "target_policies": policies,
            "mask": mask,
            "value_mask": value_mask,
            "consistency_mask": observation_mask if c.consistency_at_episode_end else mask,
            "weights": sampled.weights,
            "indices": sampled.indices,
        }
