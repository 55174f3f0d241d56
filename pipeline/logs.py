"""Log output of the CLI and the server: one line per record on stderr, at VLSEARCH_LOG_LEVEL or --log-level."""

from __future__ import annotations

import logging

LEVELS = ("debug", "info", "warning", "error")


class _LowerCaseLevel(logging.Formatter):
    """'warning: …' like the CLI's own messages; the logger's name only below WARNING, where it helps debugging."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        level = record.levelname.lower()
        if record.levelno < logging.WARNING:
            return f"{level} {record.name}: {message}"
        return f"{level}: {message}"


def configure_logging(level: str) -> None:
    """Send the library's log records to stderr at `level` (one of LEVELS); safe to call again."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler()
    handler.setFormatter(_LowerCaseLevel("%(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
