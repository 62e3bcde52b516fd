"""EfficientZero: sample-efficient model-based RL (MuZero Reanalyze + temporal consistency,
value prefix and off-policy-corrected value targets).

The Python API (``efficientzero.api``)::

    from efficientzero import Config, presets, train, evaluate, load_agent
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from efficientzero import presets
from efficientzero.config import Config, ConfigError
from efficientzero.version import __version__

if TYPE_CHECKING:
    from efficientzero.api import Agent, TrainResult, evaluate, load_agent, train

_API = ("Agent", "TrainResult", "evaluate", "load_agent", "train")


def __getattr__(name: str) -> Any:
    # The training API imports torch and the environments; ``import efficientzero`` (and the
    # command line's start) stays light until it is used.
    if name in _API:
        from efficientzero import api

        return getattr(api, name)
    raise AttributeError(f"module 'efficientzero' has no attribute {name!r}")


__all__ = [
    "Agent",
    "Config",
    "ConfigError",
    "TrainResult",
    "__version__",
    "evaluate",
    "load_agent",
    "presets",
    "train",
]
