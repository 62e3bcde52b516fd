"""Benchmark reports over run directories: reading runs (``runs``), scores and their bootstrap
aggregates (``scores``), grouping (``results``, ``build``), the document (``document``),
rendering to Markdown and HTML (``render``) and plots (``plots``)."""

from efficientzero.report.build import ReportError, build_report, report_command
from efficientzero.report.document import (
    PUBLISHED_EFFICIENTZERO,
    PUBLISHED_EFFICIENTZERO_ABOVE_HUMAN,
)
from efficientzero.report.results import GameResult, PresetReport, ReportResult

__all__ = [
    "PUBLISHED_EFFICIENTZERO",
    "PUBLISHED_EFFICIENTZERO_ABOVE_HUMAN",
    "GameResult",
    "PresetReport",
    "ReportError",
    "ReportResult",
    "build_report",
    "report_command",
]
