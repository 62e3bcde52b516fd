"""Presets: plain functions returning a ``Config``, each stating only how it differs from
``Config()`` (the paper's Atari 100k settings).

``make_preset(name, env_id)`` looks one up by name; the command line's ``--preset`` uses it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from efficientzero.config import Config, ConfigError
from efficientzero.envs.atari_games import resolve_game


def cartpole(env_id: str = "CartPole-v1") -> Config:
    """Classic-control default: solves CartPole-v1 on a 2-core CPU in a few minutes.

    Also the preset for any gymnasium environment with a Box vector observation and a Discrete
    action space (``--env Acrobot-v1``); it uses the MLP networks.
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


def atari100k(env_id: str = "Breakout") -> Config:
    """The Atari 100k settings of EfficientZero (Ye et al. 2021, §5 and Appendix A): the
    defaults of ``Config`` for one game.

    ``env_id`` is a game's short name ("Breakout") or ALE id ("ALE/Breakout-v5").
    """
    return Config(preset="atari100k", env_id=resolve_game(env_id).ale_id)


PRESETS: dict[str, Callable[..., Config]] = {"cartpole": cartpole, "atari100k": atari100k}
"""Preset name -> function(env_id) returning a Config."""


def make_preset(name: str, env_id: str | None = None) -> Config:
    """The config of preset ``name`` (optionally for ``env_id``)."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, sorted(PRESETS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint}; available: {', '.join(sorted(PRESETS))}")
    fn = PRESETS[name]
    return fn(env_id) if env_id is not None else fn()


__all__ = ["PRESETS", "atari100k", "cartpole", "make_preset"]
