"""Atari 100k environments: the preprocessing protocol (Machado et al. 2018; Ye et al. 2021,
Appendix A; docs/fidelity.md, item 14) in one wrapper.

``make_atari_env(config)`` builds an ale-py game through gymnasium with ``frameskip=1`` and the
configured sticky-action probability (0 in the protocol; ale-py's v5 defaults are skip 4 and
sticky 0.25, both wrong here) and wraps it in ``Atari100kEnv``, which does in one readable step:

- up to ``noop_max`` random no-op frames when a game really starts (count from the env's RNG);
- ``frame_skip`` emulator frames per agent step, rewards summed, observation = max of the last two
  frames (Atari sprites flicker between frames);
- in training, a lost life ends the episode (``terminated``) and the next ``reset()`` continues
  the same game with one no-op step instead of restarting it;
- a step cap per game (``max_episode_steps`` / ``eval_max_episode_steps``) -> ``truncated``;
- frames resized to ``obs_size x obs_size`` (INTER_AREA), RGB or grayscale, channels first uint8.

Deliberately absent: frame stacking (the agent stores each frame once and stacks on sampling) and
reward clipping (the agent clips what it stores), so ``reward`` and ``info["episode"]["r"]`` are
the raw game score.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

from efficientzero.config import Config
from efficientzero.envs.atari_games import resolve_game

_NOOP = 0  # ALE's NOOP action id (also index 0 of every minimal action set)


class Atari100kEnv(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """An ALE game (``frameskip=1``) under the Atari 100k protocol; observations ``[C, H, W]`` uint8.

    Episodes and games: with ``life_termination`` an episode ends at every lost life, a *game*
    ends at game over or at the step cap. The cap counts agent steps per game (all its lives),
    so a life-loss episode never resets the count and a truncated game is restarted for real.
    ``info["episode"] = {"r": game score, "l": agent steps}`` is set exactly on the step that ends
    the game; ``info["lives"]`` on every step and reset (``info["noops"]`` on a real reset).

    ``reference_rules`` switches three details to the EfficientZero reference code's wrappers:
    1..noop_max no-ops instead of 0..noop_max, a drop to 0 lives is not a life loss, and the
    NOOP that continues a game after a life loss counts toward the step cap.
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        frame_skip: int = 4,
        noop_max: int = 30,
        obs_size: int = 96,
        gray_scale: bool = False,
        life_termination: bool = True,
        max_episode_steps: int | None = None,
        seed: int | None = None,
        reference_rules: bool = False,
    ) -> None:
        """Wrap ``env``, an ale-py ``AtariEnv`` made with ``frameskip=1`` (checked).

        ``seed`` is used by the first ``reset()`` that is not given a seed itself.
        """
        super().__init__(env)
        base = env.unwrapped
        if getattr(base, "_frameskip", 1) != 1:
            raise ValueError(
                "Atari100kEnv needs an ALE env made with frameskip=1 (it skips itself)"
            )
        self.ale = base.ale  # type: ignore[attr-defined]
        self._action_set = list(base._action_set)  # type: ignore[attr-defined]
        self.frame_skip = frame_skip
        self.noop_max = noop_max
        self.obs_size = obs_size
        self.gray_scale = gray_scale
        self.life_termination = life_termination
        self.max_episode_steps = max_episode_steps
        self.reference_rules = reference_rules
        self._pending_seed = seed
        self.observation_space = gym.spaces.Box(
            0, 255, (1 if gray_scale else 3, obs_size, obs_size), np.uint8
        )
        height, width = self.ale.getScreenDims()
        self._screens = np.zeros((2, height, width, 3), np.uint8)  # the last two raw frames
        self._pooled = np.zeros((height, width, 3), np.uint8)
        self._continue_game = False  # set by a life-loss episode end; read by the next reset
        self._lives = 0
        self._game_steps = 0
        self._game_score = 0.0

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new game, or after a life-loss episode continue the current one (one no-op step).

        A ``seed`` always starts a new game and seeds both ALE and the no-op RNG.
        """
        if seed is None and self._pending_seed is not None:
            seed, self._pending_seed = self._pending_seed, None
        info: dict[str, Any] = {}
        if seed is not None or not self._continue_game:
            frame = self._new_game(seed, options, info)
        else:
            # Continue the game: the reference (baselines' EpisodicLifeEnv) steps NOOP once; the
            # reward still counts toward the game score but is not an agent step.
            self._continue_game = False
            frame, reward, game_over = self._skip(self._action_set[_NOOP])
            self._game_score += reward
            self._game_steps += int(self.reference_rules)
            if game_over:  # practically never; still report the finished game, then restart
                info["episode"] = self._episode_stats()
                frame = self._new_game(None, options, info)
        self._lives = self.ale.lives()
        info["lives"] = self._lives
        return self._observe(frame), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One agent step: ``frame_skip`` frames of ``action`` (an index into the minimal set)."""
        frame, reward, game_over = self._skip(self._action_set[int(action)])
        self._game_steps += 1
        self._game_score += reward
        lives = self.ale.lives()
        # Any decrease counts, also the one to 0 lives: some games (e.g. BankHeist) go on for
        # hundreds of frames at 0 lives. Baselines' EpisodicLifeEnv ignores a drop to 0.
        # Increases (bonus lives, Amidar and DemonAttack setting lives after frame 0) do not.
        life_lost = lives < self._lives and (lives > 0 or not self.reference_rules)
        self._lives = lives
        terminated = game_over or (self.life_termination and life_lost)
        truncated = (
            self.max_episode_steps is not None and self._game_steps >= self.max_episode_steps
        )
        info: dict[str, Any] = {"lives": lives}
        game_ends = game_over or truncated
        # Only an episode cut by a lost life is continued; any other reset starts a new game.
        self._continue_game = terminated and not game_ends
        if game_ends:
            info["episode"] = self._episode_stats()
        return self._observe(frame), reward, terminated, truncated, info

    # ------------------------------------------------------------------ internals
    def _new_game(
        self, seed: int | None, options: dict[str, Any] | None, info: dict[str, Any]
    ) -> np.ndarray:
        """Reset ALE (seeding it and the no-op RNG when ``seed`` is given), then play the no-ops."""
        self.env.reset(seed=seed, options=options)
        # The no-op count comes from the env's own RNG (seeded by reset(seed)), so evaluation
        # with environment seeds 0..31 is reproducible (the protocol's evaluation seeds).
        low = 1 if self.reference_rules else 0
        noops = int(self.np_random.integers(low, self.noop_max + 1)) if self.noop_max > 0 else 0
        for _ in range(noops):
            self.ale.act(self._action_set[_NOOP])
            if self.ale.game_over():
                self.ale.reset_game()
        self._continue_game = False
        self._game_steps = 0
        self._game_score = 0.0
        info["noops"] = noops
        self.ale.getScreenRGB(self._screens[0])
        return self._screens[0]

    def _skip(self, action: Any) -> tuple[np.ndarray, float, bool]:
        """Play ``frame_skip`` frames: (max of the last two frames, summed reward, game over).

        When the game ends before the last frame of the skip, its final frame is returned alone.
        """
        reward = 0.0
        last = self.frame_skip - 1
        for i in range(self.frame_skip):
            reward += self.ale.act(action)
            game_over = self.ale.game_over()
            if game_over and i < last:
                self.ale.getScreenRGB(self._screens[0])
                return self._screens[0], reward, True
            if i >= last - 1:  # only the last two frames are ever needed
                self.ale.getScreenRGB(self._screens[i - last + 1])
        if self.frame_skip == 1:
            return self._screens[1], reward, game_over
        np.maximum(self._screens[0], self._screens[1], out=self._pooled)
        return self._pooled, reward, game_over

    def _observe(self, frame: np.ndarray) -> np.ndarray:
        """Raw RGB frame ``[210, 160, 3]`` -> ``[C, obs_size, obs_size]`` uint8."""
        if self.gray_scale:
            frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        size = (self.obs_size, self.obs_size)
        image = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        if self.gray_scale:
            return image[None]
        return np.ascontiguousarray(image.transpose(2, 0, 1))

    def _episode_stats(self) -> dict[str, float | int]:
        return {"r": self._game_score, "l": self._game_steps}


def _import_ale_py() -> ModuleType:
    try:
        import ale_py
    except ImportError as error:
        raise ImportError(
            "Atari environments need ale-py (it ships the ROMs): pip install 'ale-py>=0.9'"
        ) from error
    return ale_py


def make_atari_env(
    config: Config,
    *,
    evaluation: bool = False,
    seed: int | None = None,
    render_mode: str | None = None,
) -> Atari100kEnv:
    """The Atari 100k environment for ``config.env_id`` (short name or ALE id of the 26 games).

    Training (``evaluation=False``): life loss ends the episode when ``config.episode_life``, games
    capped at ``config.max_episode_steps``. Evaluation: whole games, capped at
    ``config.eval_max_episode_steps`` (27000 steps = 108k frames in the preset). ``seed`` seeds
    the first ``reset()`` and the action space; ``render_mode="rgb_array"`` makes ``render()``
    return full-resolution frames for videos. Unknown games raise ``ConfigError``.
    """
    game = resolve_game(config.env_id)
    ale_py = _import_ale_py()
    gym.register_envs(ale_py)
    env = gym.make(
        game.ale_id,
        frameskip=1,
        repeat_action_probability=config.repeat_action_probability,
        full_action_space=False,
        # ale-py v5 stops games at 108k frames on its own; the wrapper's cap in agent steps is
        # the only one, so training and evaluation caps are both explicit in the config.
        max_num_frames_per_episode=None,
        render_mode=render_mode,
    )
    cap = config.eval_max_episode_steps if evaluation else config.max_episode_steps
    wrapped = Atari100kEnv(
        env,
        frame_skip=config.frame_skip,
        noop_max=config.noop_max,
        obs_size=config.obs_size,
        gray_scale=config.gray_scale,
        life_termination=config.episode_life and not evaluation,
        max_episode_steps=cap,
        seed=seed,
        reference_rules=config.atari_wrapper == "reference",
    )
    if seed is not None:
        wrapped.action_space.seed(seed)
    return wrapped


__all__ = ["Atari100kEnv", "make_atari_env"]
