"""Videos of episodes: full-resolution ``render()`` frames written as mp4 with OpenCV.

Typical use, on an evaluation environment made with ``render_mode="rgb_array"``::

    env = make_atari_env(config, evaluation=True, render_mode="rgb_array")
    stats = record_episode(env, policy, "runs/breakout/eval.mp4", seed=0)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

MIN_VIDEO_SIDE = 160
"""Smaller frames (MinAtar's 10x10 boards) are enlarged by a whole factor, nearest-neighbour."""


def video_frame(frame: np.ndarray) -> np.ndarray:
    """One rendered frame as uint8 for the video: float frames (MinAtar renders RGB in [0, 1])
    scaled to 0..255, and frames under ``MIN_VIDEO_SIDE`` pixels enlarged by a whole factor."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        scale = 255.0 if np.issubdtype(frame.dtype, np.floating) and frame.max() <= 1.0 else 1.0
        frame = np.clip(np.rint(frame * scale), 0, 255).astype(np.uint8)
    factor = -(-MIN_VIDEO_SIDE // min(frame.shape[:2]))
    if factor > 1:
        frame = frame.repeat(factor, axis=0).repeat(factor, axis=1)
    return frame


def write_video(
    frames: Sequence[np.ndarray], path: str | os.PathLike[str], fps: float = 15.0
) -> Path:
    """Write ``frames`` (each ``[H, W, 3]`` RGB or ``[H, W]`` gray, one size) to ``path``
    (through :func:`video_frame`: uint8, small boards enlarged).

    The mp4v codec ships with opencv-python-headless, so no ffmpeg install is needed. 15 fps is
    real time for Atari agent steps (60 Hz emulator, frame skip 4). Returns the path written.
    """
    if len(frames) == 0:
        raise ValueError("write_video needs at least one frame")
    height, width = frames[0].shape[:2]
    shape = video_frame(frames[0]).shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, fps, (shape[1], shape[0]))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open {str(path)!r} for writing (mp4v codec)")
    try:
        for index, frame in enumerate(frames):
            if frame.shape[:2] != (height, width):
                raise ValueError(
                    f"frame {index} has size {frame.shape[:2]}, expected {(height, width)}"
                )
            frame = video_frame(frame)
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            else:
                frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR
            writer.write(frame)
    finally:
        writer.release()
    return path


def record_episode(
    env: gym.Env,
    policy: Callable[[np.ndarray], int],
    path: str | os.PathLike[str],
    *,
    seed: int | None = None,
    fps: float = 15.0,
) -> dict[str, Any]:
    """Play one whole game with ``policy(observation) -> action`` and save its rendered frames.

    ``env`` must have ``render_mode="rgb_array"``. On an ``Atari100kEnv`` with life-loss episodes
    the game goes on through resets until a step reports ``info["episode"]``; on any other env
    the first ``terminated`` or ``truncated`` ends it. Returns ``{"r": score, "l": agent steps}``.
    """
    if env.render_mode != "rgb_array":
        raise ValueError(f"record_episode needs render_mode='rgb_array', got {env.render_mode!r}")
    continues_after_life_loss = bool(getattr(env, "life_termination", False))
    observation, _ = env.reset(seed=seed)
    frames = [_render(env)]
    score, steps = 0.0, 0
    while True:
        observation, reward, terminated, truncated, info = env.step(policy(observation))
        frames.append(_render(env))
        score += float(reward)
        steps += 1
        if "episode" in info or ((terminated or truncated) and not continues_after_life_loss):
            write_video(frames, path, fps=fps)
            return dict(info.get("episode", {"r": score, "l": steps}))
        if terminated or truncated:
            observation, _ = env.reset()


def _render(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray):
        raise RuntimeError(f"render() returned {type(frame).__name__}, expected an array")
    return frame.copy()


__all__ = ["record_episode", "write_video"]
