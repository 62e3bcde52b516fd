"""The 26 Atari 100k games: ALE ids, random and human scores, published scores.

The facts come from ``efficientzero/data/atari100k.csv`` (shipped with the package).
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from efficientzero.config import ConfigError

PUBLISHED_COLUMNS = ("efficientzero", "efficientzero_v2", "bbf", "spr", "dreamerv3", "muzero_100k")


@dataclass(frozen=True)
class AtariGame:
    name: str
    """Short name, e.g. "Breakout"."""
    ale_id: str
    """Gymnasium id, e.g. "ALE/Breakout-v5"."""
    random: float
    """Random-policy score."""
    human: float
    """Human score."""
    published: dict[str, float]
    """Published 100k scores by method (columns of the CSV)."""

    def human_normalized(self, score: float) -> float:
        return (score - self.random) / (self.human - self.random)


@lru_cache(maxsize=1)
def atari100k_games() -> dict[str, AtariGame]:
    """Short name -> game, in the CSV's order."""
    text = resources.files("efficientzero.data").joinpath("atari100k.csv").read_text()
    games = {}
    for row in csv.DictReader(text.splitlines()):
        published = {k: float(row[k]) for k in PUBLISHED_COLUMNS if row.get(k)}
        games[row["game"]] = AtariGame(
            name=row["game"],
            ale_id=row["ale_id"],
            random=float(row["random"]),
            human=float(row["human"]),
            published=published,
        )
    return games


def is_atari_id(env_id: str) -> bool:
    """True for ALE ids and the short names of the 26 games."""
    return env_id.startswith("ALE/") or env_id in atari100k_games()


def resolve_game(name: str) -> AtariGame:
    """The game for a short name ("Breakout", case-insensitive) or an ALE id ("ALE/Breakout-v5").

    Raises ConfigError naming the closest game when the name is unknown.
    """
    games = atari100k_games()
    key = name.strip()
    if key.startswith("ALE/"):
        key = key[4:].rsplit("-v", 1)[0]
    by_lower = {g.lower(): g for g in games}
    if key.lower() in by_lower:
        return games[by_lower[key.lower()]]
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.5)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
    raise ConfigError(f"unknown Atari 100k game {name!r}{hint} (the 26 games: {', '.join(games)})")
