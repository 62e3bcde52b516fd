"""EfficientZero: sample-efficient model-based RL (MuZero Reanalyze + temporal consistency,
value prefix and off-policy-corrected value targets)."""

from efficientzero.config import Config, ConfigError, make_preset

__all__ = ["Config", "ConfigError", "make_preset"]
__version__ = "0.1.0"
