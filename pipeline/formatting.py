"""Small text forms shared by every layer: a file's name, a clock time, a spreadsheet-safe cell."""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

# Spreadsheets run cells starting with these as formulas; OCR text from customers is untrusted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def file_name(uri: str) -> str:
    """The last part of a path or URL ("manual.pdf"), without a URL's query or fragment."""
    path = urlsplit(uri).path if is_url(uri) else uri
    return PurePosixPath(path.rstrip("/")).name or uri


def is_url(uri: str) -> bool:
    return urlsplit(uri).scheme in ("http", "https")


def whole_seconds(seconds: float, *, round_up: bool = False, step: int = 1) -> int:
    """Seconds (or 1/step seconds) rounded down, or up; what labels and the app's player seek to."""
    # Timestamps are milliseconds: rounding there first keeps float noise (85.99999999) from moving a second.
    exact = round(seconds * step, 3)
    return math.ceil(exact) if round_up else math.floor(exact)


def clock(seconds: float, *, tenths: bool = False, round_up: bool = False) -> str:
    """HH:MM:SS (HH:MM:SS.s with tenths), rounded down unless round_up."""
    step = 10 if tenths else 1
    whole, part = divmod(whole_seconds(seconds, round_up=round_up, step=step), step)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{text}.{part}" if tenths else text


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like strings get a leading quote, None is empty."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value
