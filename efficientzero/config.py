"""One frozen configuration for every part of the library.

``Config()`` is EfficientZero as the paper ran it: the Atari 100k settings of Ye et al. 2021
(§5 and Appendix A; docs/fidelity.md lists each rule and the reference code's alternatives).
Presets (``efficientzero.presets``) are plain functions that change a few fields of it.

Every field has a docstring (shown by ``efficientzero train --help``) and can be overridden on
the command line (``--num-simulations 25`` or ``--num_simulations 25``). A field's range check
sits next to it (``positive(8)``, ``fraction(0.25)``, ...); checks between fields are in
``_check_combinations``. Derived values are properties computed in one place.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


class ConfigError(ValueError):
    """A configuration value is out of range, contradictory or unknown."""


@dataclass(frozen=True)
class _Range:
    """A field's range: ``ok(value)`` must hold; ``wanted`` completes "<field> must ..."."""

    ok: Callable[[Any], bool]
    wanted: str


def checked(default: Any, ok: Callable[[Any], bool], wanted: str) -> Any:
    """A dataclass field with ``default`` whose values must satisfy ``ok`` (see ``validate``)."""
    return dataclasses.field(default=default, metadata={"range": _Range(ok, wanted)})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive(default: int) -> Any:
    return checked(default, lambda v: _is_int(v) and v > 0, "be a positive integer")


def non_negative(default: float) -> Any:
    return checked(default, lambda v: v >= 0, "be >= 0")


def above_zero(default: float) -> Any:
    return checked(default, lambda v: v > 0, "be > 0")


def fraction(default: float) -> Any:
    return checked(default, lambda v: 0.0 <= v <= 1.0, "be in [0, 1]")


def positive_or_none(default: int | None) -> Any:
    return checked(default, lambda v: v is None or (_is_int(v) and v > 0), "be positive or None")


def non_negative_or_none(default: int | None) -> Any:
    return checked(default, lambda v: v is None or (_is_int(v) and v >= 0), "be >= 0 or None")


def non_negative_float_or_none(default: float | None) -> Any:
    return checked(default, lambda v: v is None or v >= 0, "be >= 0 or None")


def _is_device(name: Any) -> bool:
    return isinstance(name, str) and (name in ("auto", "cpu") or name.startswith("cuda"))


@dataclass(frozen=True)
class Config:
    """EfficientZero configuration (flat; field names follow the paper and the reference code).

    The defaults are the paper's Atari 100k settings (Ye et al. 2021, Appendix A).
    """

    # ----------------------------------------------------------------------------- run
    preset: str = "atari100k"
    """Name of the preset this config was built from (recorded in config.json; reports group by it)."""
    env_id: str = "ALE/Breakout-v5"
    """Gymnasium environment id (any Discrete-action task, vector or image), MinAtar game name / id (minatar preset) or Atari game name / ALE id (atari100k preset)."""
    seed: int = non_negative(0)
    """Seed for environments, networks, search and replay sampling."""
    device: str = checked("auto", _is_device, "be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    """Torch device for networks and search: "auto" (CUDA when available), "cpu", "cuda", "cuda:N"."""
    runtime: Literal["local", "ray"] = "local"
    """Run everything in one process ("local", the default) or as Ray actors ("ray")."""
    num_threads: int = non_negative(0)
    """Torch intra-op CPU threads (0: torch's default, one per core)."""

    # ----------------------------------------------------------------------------- environment
    num_envs: int = positive(8)
    """Environments stepped together by one self-play actor (one batched search per step)."""
    frame_stack: int = positive(4)
    """Observations stacked as network input (4 for Atari; stacks are rebuilt from single frames)."""
    max_episode_steps: int | None = positive_or_none(3000)
    """Training episodes are truncated after this many agent steps (None: the environment's own limit)."""
    eval_max_episode_steps: int | None = positive_or_none(27000)
    """Evaluation episodes are truncated after this many agent steps (None: the environment's own limit)."""
    clip_rewards: bool = True
    """Store sign(reward) for training (Atari); evaluation always reports the unclipped score."""
    eval_episodes: int = positive(32)
    """Episodes of ``efficientzero eval`` (run in parallel, argmax of visits, no root noise; 32 in Atari 100k)."""
    periodic_eval_episodes: int | None = positive_or_none(8)
    """Episodes of each evaluation during training (None: eval_episodes)."""
    repeat_action_probability: float = fraction(0.0)
    """Atari and MinAtar: sticky-action probability, the chance an agent step repeats the previous action (the Atari 100k protocol uses 0; MinAtar's default and its paper's results 0.1)."""
    action_bins: int | None = checked(
        None, lambda v: v is None or (_is_int(v) and v >= 2), "be an integer >= 2 or None"
    )
    """Box (continuous) action spaces: each dimension is split into this many equal bins, acted at their centres (gymnasium's DiscretizeAction), and the search picks among bins ** dimensions actions (the original paper's route for DMControl). None: sampled search (docs/continuous.md)."""
    sampled_actions: int = checked(16, lambda v: _is_int(v) and v >= 2, "be an integer >= 2")
    """Box action spaces without action_bins: actions sampled per search node from the squashed-Gaussian policy, the children the search chooses among (K = 16 in EfficientZero V2, Wang et al. 2024)."""
    sampled_policy_std_actions: int = non_negative(4)
    """Sampled search: of the root's sampled_actions, how many are drawn at the policy's own standard deviation; the rest at sampled_wide_std times it (EfficientZero V2: 4 of 16). Interior nodes draw all at the policy's own."""
    sampled_wide_std: float = checked(3.0, lambda v: v >= 1.0, "be >= 1")
    """Sampled search: the widened standard deviation of the other root samples, as a multiple of the policy's (EfficientZero V2: 3)."""
    policy_entropy_coef: float = non_negative(0.005)
    """Sampled search: weight of the entropy bonus on the continuous policy (the pre-squash Gaussian's entropy), which keeps its standard deviation from collapsing onto one sampled action."""
    action_repeat: int = positive(1)
    """Other than Atari: each agent step repeats its action for this many environment steps, summing the rewards (stops at an episode's end). Step counts (total_env_steps, eval_interval, max_episode_steps, ...) stay in agent steps, as with Atari's frame_skip: one agent step is action_repeat environment steps."""
    pixels: bool = False
    """DeepMind Control only: observe the task as rendered RGB frames (obs_size x obs_size, offscreen: MuJoCo's EGL or OSMesa) instead of its proprioceptive features."""
    frame_skip: int = positive(4)
    """Atari only: emulator frames per agent step (max-pool of the last two, rewards summed)."""
    obs_size: int = positive(96)
    """Atari: observations are resized to obs_size x obs_size; DeepMind Control with pixels: frames are rendered at that size."""
    gray_scale: bool = False
    """Atari only: grayscale instead of RGB frames."""
    noop_max: int = non_negative(30)
    """Atari only: up to this many random no-ops after reset."""
    episode_life: bool = True
    """Atari only: a lost life ends the training episode (never in evaluation)."""
    image_layout: Literal["auto", "hwc", "chw"] = "auto"
    """Image observations of other environments: axis order of their frames ("auto": H x W x C, gymnasium's convention, unless the last axis is longer than the first); rank-2 frames are one channel."""
    atari_wrapper: Literal["protocol", "reference"] = "protocol"
    """Atari only: "protocol" draws 0..noop_max no-ops, counts a drop to 0 lives as a life loss and keeps the continue-NOOP after a life loss out of the step cap; "reference" (the EfficientZero code) draws 1..noop_max, ignores a drop to 0 lives and counts the continue-NOOP as a step."""

    # ----------------------------------------------------------------------------- networks
    network: Literal["auto", "mlp", "resnet"] = "auto"
    """Network family: "mlp" for vector observations, "resnet" for images, "auto" picks by observation rank."""
    latent_dim: int = positive(64)
    """MLP networks: size of the latent state."""
    hidden_size: int = positive(128)
    """MLP networks: width of hidden layers."""
    num_channels: int = positive(64)
    """ResNet networks: channels of the latent (6x6 for Atari)."""
    downsample: Literal["auto", "on", "off"] = "auto"
    """ResNet networks: the paper's stride-2 representation (latent side = frame side / 16) or a full-resolution one; "auto": stride-2 for frames of side >= 32, full resolution below (MinAtar's 10x10 boards)."""
    num_blocks: int = non_negative(1)
    """ResNet networks: residual blocks in the dynamics and prediction trunks."""
    reduced_channels: int = positive(16)
    """ResNet networks: channels of the 1x1 convolutions before the value, policy and value-prefix heads."""
    head_hidden_size: int = positive(32)
    """Hidden width of the value, policy and value-prefix MLP heads."""
    lstm_hidden_size: int = positive(512)
    """Hidden size of the value-prefix LSTM."""
    projection_dim: int = positive(1024)
    """Consistency projector: hidden and output width."""
    projection_head_dim: int = positive(512)
    """Consistency prediction head: hidden width (output is projection_dim)."""
    support_size: int = positive(300)
    """Scalars are categorical over the integers [-support_size, support_size] after the h transform."""
    action_planes: Literal["scalar", "one_hot"] = "scalar"
    """How a discrete action enters the ResNet dynamics: one constant plane a / |A| (Ye et al. 2021, Appendix A) or |A| planes, 1 on the taken action's (the MLP networks always take a one-hot)."""
    scale_latent: bool = False
    """Min-max scale each latent state to [0, 1] (MuZero); the EfficientZero reference does not."""
    downsample_shortcut: Literal["conv1x1_bn", "conv3x3"] = "conv1x1_bn"
    """ResNet networks: shortcut of the stride-2 block, a 1x1 conv + BN (standard ResNet) or a plain 3x3 conv (reference code)."""
    pool_include_padding: bool = False
    """ResNet networks: the representation's average pools count the zero padding (torch default, reference code) or average real pixels only."""
    channels_last: bool = False
    """ResNet networks: keep convolution weights and activations channels-last (NHWC); same results, faster convolutions on some CPUs and on tensor-core GPUs (docs/minatar.md measures it)."""

    # ----------------------------------------------------------------------------- search
    search_algorithm: Literal["puct", "gumbel"] = "puct"
    """Root selection: pUCT with Dirichlet noise (the paper) or Gumbel top-k with sequential halving (EfficientZero V2)."""
    gumbel_max_considered_actions: int = checked(16, lambda v: v >= 2, "be >= 2")
    """Gumbel search: actions considered at the root."""
    num_simulations: int = positive(50)
    """Simulations per search."""
    eval_num_simulations: int | None = positive_or_none(None)
    """Simulations per search when the agent is evaluated (periodic evaluations, `efficientzero eval`, `load_agent`); None: num_simulations. Training's searches (self-play, reanalysis) keep num_simulations."""
    search_threads: int = positive(1)
    """Numba threads sharing the roots of each search's tree kernels (1: the serial kernels; results are the same)."""
    cuda_graphs: bool = False
    """On a CUDA model: run each simulation's gather, recurrent step, store and packing as one captured CUDA graph, one launch instead of about a hundred (search/graph.py; same results). Ignored on the CPU."""
    discount: float = checked(0.997**4, lambda v: 0.0 < v <= 1.0, "be in (0, 1]")
    """Discount per agent step (0.997 per frame with frame skip 4 in Atari)."""
    pb_c_base: float = above_zero(19652.0)
    """pUCT exploration: c(N) = log((N + pb_c_base + 1) / pb_c_base) + pb_c_init."""
    pb_c_init: float = non_negative(1.25)
    """pUCT exploration constant."""
    eval_pb_c_init: float | None = non_negative_float_or_none(None)
    """pUCT exploration constant when the agent is evaluated (as eval_num_simulations); None: pb_c_init. With few simulations a lower constant lets the greedy search follow value differences rather than the prior; on MinAtar 0.5 helped one run of seven much and the rest little (docs/minatar.md, "Evaluating the same weights with another search")."""
    dirichlet_alpha: float = above_zero(0.3)
    """Dirichlet concentration of the root exploration noise."""
    root_exploration_fraction: float = fraction(0.25)
    """Share of the root prior replaced by Dirichlet noise in self-play (0 disables noise)."""
    reanalyze_root_noise: bool = True
    """Also add root noise in reanalysis searches (as the reference code does)."""
    lstm_horizon_len: int = positive(5)
    """Value-prefix horizon: the LSTM state is reset every this many steps of depth (search and training)."""
    temperatures: tuple[float, ...] = (1.0, 0.5, 0.25)
    """Visit-count temperatures for acting, one per training phase."""
    temperature_milestones: tuple[float, ...] = (0.5, 0.75)
    """Fractions of the collection phase's updates (total_env_steps x updates_per_env_step, at most total_updates) at which acting moves to the next temperature."""
    explore_epsilon: float = fraction(0.0)
    """Temporally-extended epsilon-greedy in self-play (Dabney et al. 2021; not in EfficientZero, whose value 0 acts by the search alone): at each step without a repeat under way, an environment starts one with this probability, a uniform random action held for n ~ zeta(explore_zeta_mu) steps (at most explore_max_repeat). The search still runs at every step and stays the policy target; evaluation never explores."""
    explore_decay: float = fraction(0.0)
    """Fraction of the collection phase's updates (as temperature_milestones) over which explore_epsilon falls linearly to 0, as DQN anneals its epsilon (Mnih et al. 2015); 0 keeps explore_epsilon throughout."""
    explore_zeta_mu: float = checked(
        2.0, lambda v: v > 1.0, "be > 1 (the zeta distribution's exponent)"
    )
    """Exponent of the repeat length's zeta distribution, P(n) ~ n^-mu: smaller holds actions longer (Dabney et al. 2021 use 2)."""
    explore_max_repeat: int = positive(10_000)
    """Cap on one exploratory repeat's length, in agent steps."""
    puct_visit_count: Literal["node", "children"] = "node"
    """pUCT's N at an interior node: its own visit count (MuZero pseudocode) or its children's sum, one less (reference code: the first pass through a node ignores the prior)."""
    unvisited_q: Literal["visited_mean", "parent_mean"] = "visited_mean"
    """Q of an unvisited child: the mean Q of the node's visited children, or that mean with the parent's own mean Q as one more term away from the root (reference code)."""
    min_max_stats: Literal["running", "rebuild"] = "running"
    """Q normalisation bounds: every Q seen during the search ("running") or the Q values of the current tree, rebuilt after each backup (reference code, without its sibling-prefix bug)."""

    # ----------------------------------------------------------------------------- EfficientZero changes
    use_consistency: bool = True
    """Temporal consistency loss (SimSiam-style); off drops the loss and the projector's use."""
    use_value_prefix: bool = True
    """Predict value prefixes with an LSTM; off predicts per-step rewards as in MuZero."""
    use_off_policy_correction: bool = True
    """Shrink the value-target horizon with data age; off uses a fixed td_steps horizon."""
    value_target: Literal["predicted", "root"] = "predicted"
    """Bootstrap value: the target network's predicted value (reference default) or a fresh search's root value (paper)."""
    off_policy_tau: float = above_zero(0.3)
    """The horizon loses one step per off_policy_tau * total_env_steps transitions of data age (paper's tau)."""

    # ----------------------------------------------------------------------------- targets and losses
    unroll_steps: int = positive(5)
    """Dynamics unroll length K in training."""
    td_steps: int = positive(5)
    """Maximum n-step horizon of value targets."""
    reanalyze_ratio: float = fraction(0.99)
    """Share of sampled positions whose policy target comes from a fresh search with the target network."""
    value_prefix_coef: float = non_negative(1.0)
    """Weight of the value-prefix (or reward) loss."""
    value_coef: float = non_negative(0.25)
    """Weight of the value loss."""
    policy_coef: float = non_negative(1.0)
    """Weight of the policy loss."""
    consistency_coef: float = non_negative(2.0)
    """Weight of the temporal consistency loss."""
    augment: bool = True
    """Image observations: random shift and intensity augmentation on online and target observations."""
    target_augmentation: Literal["per_step", "per_sequence"] = "per_step"
    """Augmentation of the consistency targets: one draw per unroll step, or one per sample shared by its K targets (reference code)."""
    consistency_at_episode_end: bool = False
    """Also apply the consistency loss to the episode's final observation (reference code); off masks it with the policy (states with an action)."""

    # ----------------------------------------------------------------------------- optimisation
    optimizer: Literal["sgd", "adam"] = "sgd"
    """Optimizer (SGD with momentum in the paper)."""
    lr: float = checked(0.2, lambda v: v > 0 and math.isfinite(v), "be a positive number")
    """Peak learning rate."""
    lr_warmup_fraction: float = fraction(0.01)
    """Linear warm-up over this fraction of total_updates (unless lr_warmup_updates is given)."""
    lr_warmup_updates: int | None = non_negative_or_none(None)
    """Linear warm-up over this many updates (None: lr_warmup_fraction x total_updates; the reference code uses 1000)."""
    lr_decay_updates: int = positive(100_000)
    """Multiply the learning rate by lr_decay_rate after this many updates ("reference" schedule: every this many updates after the warm-up)."""
    lr_schedule: Literal["paper", "reference"] = "paper"
    """"paper": warm-up lr (u+1)/W, then one step to lr x lr_decay_rate at lr_decay_updates; "reference" (the EfficientZero code): warm-up lr u/W, then lr x lr_decay_rate ** ((u - W) // lr_decay_updates)."""
    lr_decay_rate: float = checked(0.1, lambda v: 0.0 < v <= 1.0, "be in (0, 1]")
    """Step decay factor of the learning rate."""
    momentum: float = non_negative(0.9)
    """SGD momentum."""
    weight_decay: float = non_negative(1e-4)
    """L2 weight decay."""
    max_grad_norm: float = above_zero(5.0)
    """Gradient-norm clipping threshold."""
    compile_loss: bool = False
    """torch.compile the learner's loss and its backward pass: the same updates up to float rounding, faster after some seconds of compiling at the first update (docs/minatar.md measures it); needs a C++ compiler on CPU."""
    batch_size: int = positive(256)
    """Positions per update."""
    mixed_precision: bool = True
    """bf16 autocast in the learner and in inference, on CUDA GPUs with native bf16 (compute
    capability 8.0+; fp32 elsewhere)."""
    cpu_mixed_precision: bool = False
    """bf16 autocast in the learner on a CPU that multiplies bf16 natively (Intel AMX, as torch
    detects it; fp32 elsewhere, with a warning): value, value-prefix and policy heads and the
    losses stay fp32, as with ``mixed_precision`` on a GPU. On such a CPU a MinAtar update took
    a fifth less at the preset's 16 channels and 45% less at 32 (with ``channels_last``;
    docs/minatar.md, "The machine"); it is off in every preset. Self-play and evaluation stay
    fp32."""
    inference_bf16_weights: bool = True
    """With mixed_precision on such a GPU: the inference networks (self-play, reanalysis, evaluation) keep their convolution and linear weights outside the fp32 heads in bf16, cast once when weights are loaded, instead of autocast casting them on every call (the same bf16 values either way)."""
    fold_batch_norms: bool = True
    """The inference networks (self-play, reanalysis, evaluation) search with a copy whose batch norms are folded into the convolution or linear layer before them (eval mode: the same outputs up to float rounding, fewer calls per simulation); not with bf16 inference (nets/folding.py)."""

    # ----------------------------------------------------------------------------- schedule
    total_env_steps: int = positive(100_000)
    """Agent steps of experience to collect."""
    total_updates: int = non_negative(120_000)
    """Learner updates in total (the rest run without new data once total_env_steps is reached)."""
    start_transitions: int = non_negative(2000)
    """Transitions collected with uniform random actions before learning starts."""
    updates_per_env_step: float = non_negative(1.0)
    """Learner updates per collected agent step while collecting (self-play waits when ahead)."""
    target_update_interval: int = positive(200)
    """Updates between target-network refreshes (reanalysis and bootstrap values)."""
    target_network_lag: Literal["copy", "previous"] = "copy"
    """At a refresh the target network gets the current weights ("copy": 0..interval updates old) or the weights saved at the previous refresh ("previous", reference code: interval..2 x interval old)."""
    selfplay_update_interval: int = positive(100)
    """Updates between refreshes of the self-play weights."""

    # ----------------------------------------------------------------------------- replay
    replay_capacity: int = positive(1_000_000)
    """Transitions kept in replay (oldest blocks evicted beyond it)."""
    block_length: int = positive(400)
    """Trajectories are cut into blocks of this many steps (padded with the next block's first steps)."""
    use_priority: bool = True
    """Prioritized replay (False: uniform sampling, unit importance weights)."""
    priority_alpha: float = fraction(0.6)
    """Priority exponent."""
    priority_beta: float = fraction(0.4)
    """Initial importance-sampling exponent, annealed linearly to 1 over total_updates."""
    new_data_priority: Literal["max_ever", "max_stored"] = "max_ever"
    """Priority of new positions: the largest priority ever written, or the largest now stored (reference code)."""

    # ----------------------------------------------------------------------------- logging and checkpoints
    eval_interval: int = non_negative(10_000)
    """Agent steps between evaluations (0 disables periodic evaluation; one always runs at the end)."""
    checkpoint_interval: int = positive(5_000)
    """Updates between checkpoints (one is always written at the end)."""
    log_interval: int = positive(100)
    """Updates between training-metric logs (TensorBoard)."""

    # ----------------------------------------------------------------------------- Ray runtime
    num_actors: int = positive(2)
    """Ray runtime: self-play actors (each steps num_envs environments)."""
    num_reanalyzers: int = positive(1)
    """Ray runtime: reanalysis workers preparing batches for the learner."""
    ray_address: str | None = None
    """Ray runtime: address of a running cluster ("auto"), or None to start a local one on 127.0.0.1."""
    learner_gpus: float = non_negative(0.5)
    """Ray runtime: GPU share of the learner, which runs in the driver (> 0: on a GPU when there is one; the share is kept from the workers)."""
    actor_gpus: float = non_negative(0.1)
    """Ray runtime: GPU share of each self-play actor (0 without GPUs; scaled down when the workers' shares do not fit)."""
    reanalyzer_gpus: float = non_negative(0.2)
    """Ray runtime: GPU share of each reanalysis worker (0 without GPUs; scaled down when the workers' shares do not fit)."""
    object_store_memory: int | None = positive_or_none(None)
    """Ray runtime: object-store bytes of a local cluster (None: 1.5x the run's replay size plus batches in flight, >= 256 MiB)."""
    ray_dashboard: bool = False
    """Ray runtime: start the dashboard of a local cluster (on 127.0.0.1 only)."""

    # ------------------------------------------------------------------ derived values
    @property
    def warmup_updates(self) -> int:
        """Updates of linear learning-rate warm-up."""
        if self.lr_warmup_updates is not None:
            return self.lr_warmup_updates
        return int(self.lr_warmup_fraction * self.total_updates)

    @property
    def temperature_updates(self) -> int:
        """Updates the acting-temperature milestones are fractions of: those of the collection
        phase (the reference code's 100k training steps of 120k in Atari 100k), at least 1."""
        collecting = round(self.total_env_steps * self.updates_per_env_step)
        return max(min(collecting, self.total_updates) if collecting > 0 else self.total_updates, 1)

    @property
    def off_policy_age_unit(self) -> float:
        """Data age (in transitions) that costs one step of value-target horizon."""
        return max(self.off_policy_tau * self.total_env_steps, 1.0)

    @property
    def pad_steps(self) -> int:
        """Steps of the next block appended to each block so targets near the cut are right."""
        return self.unroll_steps + self.td_steps

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (unknown names raise ConfigError)."""
        unknown = [k for k in changes if k not in FIELD_NAMES]
        if unknown:
            raise ConfigError(_unknown_field_message(unknown[0]))
        return dataclasses.replace(self, **changes)

    def with_env_steps(self, total_env_steps: int, total_updates: int | None = None) -> Config:
        """A copy with another experience budget; ``total_updates`` scales with it unless given,
        so the preset's ratio of updates to env steps is kept."""
        if total_updates is None:
            share = total_env_steps / max(self.total_env_steps, 1)
            total_updates = round(self.total_updates * share)
        return self.replace(total_env_steps=total_env_steps, total_updates=total_updates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        unknown = [k for k in data if k not in FIELD_NAMES]
        if unknown:
            raise ConfigError(_unknown_field_message(unknown[0]))
        values = dict(data)
        for name in ("temperatures", "temperature_milestones"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def for_evaluation(self) -> Config:
        """This config as evaluation searches with it: ``eval_num_simulations`` and
        ``eval_pb_c_init``, where set, as ``num_simulations`` and ``pb_c_init``."""
        changes: dict[str, Any] = {}
        if self.eval_num_simulations is not None:
            changes["num_simulations"] = self.eval_num_simulations
        if self.eval_pb_c_init is not None:
            changes["pb_c_init"] = self.eval_pb_c_init
        return self.replace(**changes) if changes else self

    def validate(self) -> Config:
        """Raise ConfigError naming the first out-of-range or contradictory value; return self."""
        _validate(self)
        return self


FIELD_NAMES: frozenset[str] = frozenset(f.name for f in dataclasses.fields(Config))


def _unknown_field_message(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(FIELD_NAMES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown config field {name!r}{hint}"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _validate(c: Config) -> None:
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        check: _Range | None = f.metadata.get("range")
        if check is None:
            continue
        try:
            ok = bool(check.ok(value))
        except TypeError:  # a value of the wrong type (e.g. None where a number belongs)
            ok = False
        _check(ok, f"{f.name} must {check.wanted}, got {value!r}")
    _check_combinations(c)


def _check_combinations(c: Config) -> None:
    """Checks that involve more than one field."""
    _check(
        len(c.temperatures) == len(c.temperature_milestones) + 1
        and all(t > 0 for t in c.temperatures),
        "temperatures needs one positive value more than temperature_milestones",
    )
    _check(
        list(c.temperature_milestones) == sorted(c.temperature_milestones)
        and all(0.0 <= m <= 1.0 for m in c.temperature_milestones),
        "temperature_milestones must be increasing fractions in [0, 1]",
    )
    _check(
        c.sampled_policy_std_actions <= c.sampled_actions,
        f"sampled_policy_std_actions ({c.sampled_policy_std_actions}) cannot exceed "
        f"sampled_actions ({c.sampled_actions})",
    )
    _check(c.batch_size <= c.replay_capacity, "batch_size cannot exceed replay_capacity")
    _check(c.block_length <= c.replay_capacity, "block_length cannot exceed replay_capacity")
    _check(
        c.start_transitions <= c.total_env_steps,
        f"start_transitions ({c.start_transitions}) exceeds total_env_steps ({c.total_env_steps}):"
        " learning would never start",
    )
    _check(
        c.total_updates == 0 or c.start_transitions >= 1,
        "start_transitions must be >= 1 when total_updates > 0 (the learner needs data to sample)",
    )


def overrides_between(base: Config, other: Config) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ: name -> (base value, other value)."""
    diff = {}
    for f in dataclasses.fields(Config):
        a, b = getattr(base, f.name), getattr(other, f.name)
        if a != b:
            diff[f.name] = (a, b)
    return diff


__all__ = ["FIELD_NAMES", "Config", "ConfigError", "overrides_between"]
