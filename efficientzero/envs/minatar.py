"""MinAtar (Young & Tian 2019): five miniature Atari games on 10x10 boards, as gymnasium envs.

MinAtar registers its environments only when asked (``minatar.gym.register_envs()``; gymnasium
>= 1.0 loads no plugins by itself), so the library registers them before making one. Ids are
``MinAtar/<Game>-v0`` (all 6 actions, as in the MinAtar paper's results) and
``MinAtar/<Game>-v1`` (each game's minimal action set); short names ("Breakout",
"space_invaders", any case) resolve to v0. Observations are ``10 x 10 x C`` booleans (C = 4 to
10 channels, one per object kind, with trails that encode motion); the image wrapper in
``efficientzero.envs`` turns them into ``C x 10 x 10`` uint8 frames.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import gymnasium as gym

from efficientzero.config import ConfigError

GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
"""The five games, as MinAtar's gymnasium ids spell them."""

PREFIX = "MinAtar/"
DEFAULT_VERSION = "v0"


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").replace(" ", "").lower()


_BY_KEY = {_key(g): g for g in GAMES}


def is_minatar_id(env_id: str) -> bool:
    """True for ``MinAtar/...`` ids and the five games' short names."""
    return env_id.startswith(PREFIX) or _key(env_id) in _BY_KEY


def resolve_minatar_id(name: str) -> str:
    """``"Breakout"`` -> ``"MinAtar/Breakout-v0"``; full ids are checked and kept.

    Raises ConfigError naming the closest game when the name is unknown.
    """
    key, version = name.strip(), DEFAULT_VERSION
    if key.startswith(PREFIX):
        key = key[len(PREFIX) :]
        if "-v" in key:
            key, version = key.rsplit("-", 1)
    if version not in ("v0", "v1"):
        raise ConfigError(
            f"unknown MinAtar version {version!r} in {name!r}: use v0 (all 6 actions) or v1 "
            "(minimal action set)"
        )
    game = _BY_KEY.get(_key(key))
    if game is None:
        close = difflib.get_close_matches(_key(key), list(_BY_KEY), n=1, cutoff=0.5)
        hint = f"; did you mean {_BY_KEY[close[0]]!r}?" if close else ""
        raise ConfigError(
            f"unknown MinAtar game {name!r}{hint} (the five games: {', '.join(GAMES)})"
        )
    return f"{PREFIX}{game}-{version}"


def game_name(env_id: str) -> str:
    """Short name of a MinAtar id or name: ``"MinAtar/Breakout-v0"`` -> ``"Breakout"``."""
    return resolve_minatar_id(env_id)[len(PREFIX) :].rsplit("-", 1)[0]


@dataclass(frozen=True)
class MinAtarGame:
    """A MinAtar game's reference returns (``efficientzero/data/minatar.csv``).

    ``random``: mean return of uniform random play, measured by ``benchmarks/minatar_random.py``
    (100 episodes, seeds 0-99, v0 actions, sticky actions 0.1). ``dqn_5m`` and ``dqn_500k``: DQN's
    return after 5M and 0.5M frames, read off the learning curves of the MinAtar paper (Young &
    Tian 2019, Figure 2; 30 runs, sticky actions 0.1, all 6 actions): approximate values.
    """

    name: str
    env_id: str
    random: float
    dqn_5m: float
    dqn_500k: float

    def dqn_normalized(self, score: float) -> float:
        """(score - random) / (DQN at 5M frames - random): 1.0 is DQN's 5M-frame return."""
        return (score - self.random) / (self.dqn_5m - self.random)


@lru_cache(maxsize=1)
def minatar_games() -> dict[str, MinAtarGame]:
    """Short name -> game, in ``GAMES`` order."""
    text = resources.files("efficientzero.data").joinpath("minatar.csv").read_text()
    rows = {row["game"]: row for row in csv.DictReader(text.splitlines())}
    return {
        name: MinAtarGame(
            name,
            rows[name]["env_id"],
            float(rows[name]["random"]),
            float(rows[name]["dqn_5m"]),
            float(rows[name]["dqn_500k"]),
        )
        for name in GAMES
    }


def register_minatar() -> None:
    """Register MinAtar's environments with gymnasium (once).

    Raises ConfigError naming the extra to install when the ``minatar`` package is missing.
    """
    if f"{PREFIX}{GAMES[0]}-v0" in gym.registry:
        return
    try:
        from minatar.gym import register_envs
    except ImportError as error:
        raise ConfigError(
            "MinAtar environments need the minatar package: pip install 'efficientzero[minatar]' "
            '(or pip install -e ".[minatar]" in a checkout)'
        ) from error
    register_envs()


__all__ = [
    "GAMES",
    "MinAtarGame",
    "game_name",
    "is_minatar_id",
    "minatar_games",
    "register_minatar",
    "resolve_minatar_id",
]
