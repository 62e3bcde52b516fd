"""Presets: plain functions returning a ``Config``, each stating only how it differs from
``Config()`` (the paper's Atari 100k settings).

``make_preset(name, env_id)`` looks one up by name; the command line's ``--preset`` uses it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable

from efficientzero.config import Config, ConfigError
from efficientzero.envs.atari_games import is_atari_id, resolve_game
from efficientzero.envs.dmc import is_dmc_id
from efficientzero.envs.minatar import is_minatar_id, resolve_minatar_id


def cartpole(env_id: str = "CartPole-v1") -> Config:
    """Classic-control default: solves CartPole-v1 on a 2-core CPU in a few minutes.

    Also the preset for any gymnasium environment with a Box vector observation and a Discrete
    action space (``--env MountainCar-v0``; Acrobot gets ``acrobot``); it uses the MLP networks.
    """
    return Config(
        preset="cartpole",
        env_id=env_id,
        num_threads=1,  # small networks: one intra-op thread is faster than two on a 2-core CPU
        # A vector task: no frame stack, the environment's own episode limits, raw rewards.
        frame_stack=1,
        max_episode_steps=None,
        eval_max_episode_steps=None,
        clip_rewards=False,
        eval_episodes=16,
        periodic_eval_episodes=None,
        augment=False,
        mixed_precision=False,
        num_simulations=16,
        # CartPole fails by a slow drift of the cart out of bounds: a long discount horizon and
        # long n-step returns let the value see it coming (0.99 / 50 steps plateaued on some seeds).
        discount=0.997,
        td_steps=100,
        support_size=25,
        hidden_size=64,
        lstm_hidden_size=32,
        projection_dim=128,
        projection_head_dim=64,
        optimizer="adam",
        lr=3e-3,
        lr_warmup_fraction=0.0,
        lr_decay_updates=3_000,  # x0.1 from about 13k env steps on: steadier late evaluations
        batch_size=128,
        reanalyze_ratio=0.25,
        total_env_steps=20_000,
        total_updates=5_000,
        start_transitions=1000,
        updates_per_env_step=0.25,
        target_update_interval=100,
        selfplay_update_interval=50,
        block_length=200,
        eval_interval=2_000,
        checkpoint_interval=1_000,
        learner_gpus=0.0,
    )


def continuous(env_id: str = "Pendulum-v1") -> Config:
    """Vector tasks with Box (continuous) actions: the sampled search of EfficientZero V2
    (``sampled_actions`` = 16 squashed-Gaussian samples per node, Gumbel top-k with sequential
    halving at the root; docs/continuous.md), on the vector preset (``cartpole``) with a 0.99
    discount, 10-step returns and a 50-bin value support (Pendulum's returns reach -1,600 per
    200-step episode; what the 9-bin Pendulum runs measured best, docs/classic_control.md).
    ``--action-bins N`` turns it into the discretised route instead.
    """
    return cartpole(env_id).replace(
        preset="continuous",
        search_algorithm="gumbel",
        discount=0.99,
        td_steps=10,
        support_size=50,
    )


def acrobot(env_id: str = "Acrobot-v1") -> Config:
    """Acrobot-v1: the vector preset (``cartpole``) with what made the swing-up learn within
    30,000 environment steps (docs/classic_control.md): each action held for 4 steps (random
    play reaches the goal far more often, so the replay holds successes), Gumbel root selection
    with 32 simulations (its policy targets carry the Q differences that 16 pUCT simulations
    over 3 actions left at noise level), a 0.99 discount with 30-step returns, and about two
    updates per three agent steps. Step counts are agent steps: 7,500 of them are 30,000
    environment steps.
    """
    return cartpole(env_id).replace(
        preset="acrobot",
        action_repeat=4,
        search_algorithm="gumbel",
        num_simulations=32,
        discount=0.99,
        td_steps=30,
        total_env_steps=7_500,
        updates_per_env_step=0.67,
        eval_interval=750,
    )


def atari100k(env_id: str = "Breakout") -> Config:
    """The Atari 100k settings of EfficientZero (Ye et al. 2021, §5 and Appendix A): the
    defaults of ``Config`` for one game.

    ``env_id`` is a game's short name ("Breakout") or ALE id ("ALE/Breakout-v5").
    """
    return Config(preset="atari100k", env_id=resolve_game(env_id).ale_id)


def _names_minatar(env_id: str) -> bool:
    """A MinAtar id or name; a bare name (gymnasium ids carry "-vN") is taken as a MinAtar game,
    so a misspelt one gets the closest game suggested."""
    return is_minatar_id(env_id) or "-v" not in env_id


def minatar(env_id: str = "Breakout") -> Config:
    """EfficientZero at MinAtar scale: 100k agent steps on a 10x10 board, sized to run in at most
    40 minutes on one CPU core (docs/minatar.md gives the measurements behind each choice).

    ``env_id`` is a MinAtar game ("Breakout", "SpaceInvaders"), a full id ("MinAtar/Breakout-v1")
    or any other gymnasium environment with small image observations, which gets the same
    settings. Short names use v0 (all 6 actions) with sticky actions 0.1: the setting of the
    MinAtar paper's results (Young & Tian 2019), which the report's DQN references come from.
    """
    return Config(
        preset="minatar",
        env_id=resolve_minatar_id(env_id) if _names_minatar(env_id) else env_id,
        num_threads=1,
        repeat_action_probability=0.1,
        # MinAtar boards carry trails that show motion, so one frame is a state (as in the
        # MinAtar paper's DQN); a random shift of 4 cells would move objects off a 10x10 board.
        frame_stack=1,
        augment=False,
        clip_rewards=False,
        # Episodes are capped at 3,000 agent steps in training and evaluation: Freeway's own
        # limit is 2,500, and a greedy agent that keeps Breakout's ball alive without hitting
        # bricks otherwise plays for tens of thousands of steps (each a 16-simulation search).
        max_episode_steps=3_000,
        eval_max_episode_steps=3_000,
        eval_episodes=32,
        periodic_eval_episodes=8,
        # Two departures from the paper, measured on all five games (docs/minatar.md, "The
        # preset's two departures from the paper"): the action enters the dynamics as one
        # plane per action (the paper's single plane a/|A| leaves 6 actions hard to tell apart
        # on a 10x10 board), and self-play starts temporally-extended random repeats (Dabney et
        # al. 2021) with probability 0.1, annealed to 0 over the first 30% of collection, so
        # that Freeway's agent sees the road crossed before its searches prefer "up".
        action_planes="one_hot",
        explore_epsilon=0.1,
        explore_zeta_mu=1.5,
        explore_decay=0.3,
        # A third departure: self-play acts at temperature 0.25 throughout, not MuZero's 1 /
        # 0.5 / 0.25 schedule (Schrittwieser et al. 2020, Appendix F). 16 simulations spread
        # over 6 actions give flat visit counts, which at temperature 1 act almost at random,
        # and with no reanalysis the value targets are the returns of that play
        # (docs/minatar.md, "Acting temperature").
        temperatures=(0.25,),
        temperature_milestones=(),
        mixed_precision=False,
        num_channels=16,
        reduced_channels=4,
        head_hidden_size=32,
        lstm_hidden_size=64,
        projection_dim=256,
        projection_head_dim=64,
        support_size=25,
        num_simulations=16,
        discount=0.99,
        td_steps=10,
        optimizer="adam",
        lr=1e-3,
        lr_warmup_fraction=0.0,
        lr_decay_updates=9_000,
        weight_decay=0.0,
        # An update at batch 64 costs about 0.15 s on one core; reanalysing a quarter of it
        # with 16 simulations costs about 0.12 s more. At this budget more updates beat fresher
        # policy targets (Breakout, seed 0, 40k steps: 2.5 without reanalysis and 5,434
        # updates against 1.6 with it and 2,735 updates, in about the same time; see
        # docs/minatar.md), so policy targets are the self-play searches' (value targets still
        # come from the target network) and 12,000 updates fit the 40-minute budget. The
        # paper's 120,000 updates at batch 256 would take about 29 hours (0.86 s each).
        batch_size=64,
        reanalyze_ratio=0.0,
        total_env_steps=100_000,
        total_updates=12_000,
        start_transitions=2000,
        updates_per_env_step=0.1225,
        target_update_interval=200,
        selfplay_update_interval=100,
        block_length=200,
        eval_interval=20_000,
        checkpoint_interval=2_000,
        learner_gpus=0.0,
    )


DMC_BINS = 9
"""Bins of a one-dimensional DeepMind Control action in the ``dmc`` preset (as measured on
Pendulum; cartpole-swingup reached 783 and 781 with them, docs/dmc.md)."""


def dmc(env_id: str = "dmc:cartpole-swingup") -> Config:
    """DeepMind Control 100k from proprioceptive features: 100,000 environment steps at action
    repeat 4 (25,000 agent steps; 250 per 1,000-step episode), evaluation of the final weights
    over 10 episodes. A one-dimensional action is discretised into ``DMC_BINS`` values (the
    original paper's route); more dimensions get the sampled search with Gumbel root selection
    (EfficientZero V2's route; walker-walk and cheetah-run scored 4.2x and 2.3x higher with it than
    with 2 bins per joint, docs/dmc.md).

    The vector preset (``cartpole``) with: a 0.99 discount and 10-step returns (a 1,000-step
    episode's discounted value fits a 50-bin value support), and one update per agent step
    (cartpole-swingup, seed 0: 741 at 100k environment steps with one update per two agent
    steps, 783 with one per step; docs/dmc.md).
    """
    from efficientzero.envs.dmc import make_dmc_env

    if not is_dmc_id(env_id):
        raise ConfigError(
            f"the dmc preset is for DeepMind Control ids (dmc:<domain>-<task>), not {env_id!r}"
        )
    env = make_dmc_env(env_id)
    try:
        dims = math.prod(env.action_space.shape or ())
    finally:
        env.close()
    return cartpole(env_id).replace(
        preset="dmc",
        action_repeat=4,
        action_bins=DMC_BINS if dims == 1 else None,
        search_algorithm="puct" if dims == 1 else "gumbel",
        discount=0.99,
        td_steps=10,
        support_size=50,
        total_env_steps=25_000,
        total_updates=25_000,
        updates_per_env_step=1.0,
        lr_decay_updates=16_000,
        eval_interval=2_500,
        eval_episodes=10,
        checkpoint_interval=2_500,
    )


def dmc_pixels(env_id: str = "dmc:cartpole-swingup") -> Config:
    """DeepMind Control 100k from pixels, the protocol of EfficientZero V2 (Wang et al. 2024):
    96 x 96 RGB frames rendered offscreen, 4 stacked, action repeat 2 (50,000 agent steps),
    random-shift augmentation; the rest as the ``dmc`` preset, with a ResNet of 32 channels
    that downsamples the frames to 6 x 6 as the Atari network does. Far beyond a CPU's minutes
    (docs/dmc.md has the measured costs); runnable end to end for smoke tests and GPUs.
    """
    return dmc(env_id).replace(
        preset="dmc-pixels",
        pixels=True,
        obs_size=96,
        frame_stack=4,
        action_repeat=2,
        augment=True,
        num_channels=32,
        reduced_channels=16,
        head_hidden_size=32,
        lstm_hidden_size=128,
        projection_dim=256,
        projection_head_dim=64,
        total_env_steps=50_000,
        total_updates=25_000,
        updates_per_env_step=0.5,
        lr_decay_updates=16_000,
        eval_interval=5_000,
        checkpoint_interval=5_000,
    )


PRESETS: dict[str, Callable[..., Config]] = {
    "cartpole": cartpole,
    "continuous": continuous,
    "acrobot": acrobot,
    "minatar": minatar,
    "atari100k": atari100k,
    "dmc": dmc,
    "dmc-pixels": dmc_pixels,
}
"""Preset name -> function(env_id) returning a Config."""


def preset_for(env_id: str | None) -> str:
    """The preset an environment gets when none is named: atari100k for Atari games, minatar for
    MinAtar games and other image observations, dmc for DeepMind Control tasks, acrobot for
    Acrobot, continuous for other vector tasks with Box actions, cartpole (the vector preset)
    otherwise."""
    if env_id is None:
        return "cartpole"
    if is_atari_id(env_id):
        return "atari100k"
    if is_minatar_id(env_id):
        return "minatar"
    if is_dmc_id(env_id):
        return "dmc"
    from efficientzero.envs import has_box_actions, observation_rank

    if observation_rank(env_id) != 1:
        return "minatar"
    if env_id.split("/")[-1].startswith("Acrobot-"):
        return "acrobot"
    return "continuous" if has_box_actions(env_id) else "cartpole"


def make_preset(name: str | None, env_id: str | None = None) -> Config:
    """The config of preset ``name`` (optionally for ``env_id``); None picks by ``env_id``
    (:func:`preset_for`)."""
    if name is None:
        name = preset_for(env_id)
    if name not in PRESETS:
        close = difflib.get_close_matches(name, sorted(PRESETS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint}; available: {', '.join(sorted(PRESETS))}")
    fn = PRESETS[name]
    return fn(env_id) if env_id is not None else fn()


__all__ = [
    "PRESETS",
    "acrobot",
    "atari100k",
    "cartpole",
    "continuous",
    "dmc",
    "dmc_pixels",
    "make_preset",
    "minatar",
    "preset_for",
]
