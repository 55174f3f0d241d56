"""Metadata filters suited to their column: a date range for dates, a number range for numbers, a search box for
text with many distinct values (ticket ids, resolutions), a pick list only for a few values (category, language).

The kind is read from the values a column holds; the output is the grammar of pipeline/store/filters.py, built
from picked values and quoted here, so no page pastes what a user typed into a filter expression.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pipeline.store.filter_builder import build_where, quote
from pipeline.store.filters import numeric_value

MAX_CHOICES = 20  # more distinct values than this and a pick list is a wall to scroll through
MIN_IDENTIFIER_VALUES = 3  # this many values, each held by one record only: identifiers, searched by typing
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.+\-Z]*)?$")


class FilterKind(StrEnum):
    CHOICE = "choice"
    TEXT = "text"
    NUMBER_RANGE = "number range"
    DATE_RANGE = "date range"


@dataclass(frozen=True)
class ColumnFilter:
    """One metadata column as the filter panel offers it. `values`: its values with counts, most frequent first
    (what the pick list shows); `low` / `high`: the range of a date or number column among those values."""

    column: str
    kind: FilterKind
    values: list[tuple[str, int]]
    low: float | dt.date | None = None
    high: float | dt.date | None = None


def column_filter(column: str, values: list[tuple[str, int]]) -> ColumnFilter:
    """The filter a column's values call for: dates and numbers get a range, many distinct texts a search box."""
    texts = [value for value, _ in values]
    dates = [_date(text) for text in texts]
    if texts and all(date is not None for date in dates):
        known = [date for date in dates if date is not None]
        return ColumnFilter(column, FilterKind.DATE_RANGE, values, min(known), max(known))
    numbers = [numeric_value(text.strip()) for text in texts]
    if texts and all(number is not None for number in numbers):
        known_numbers = [number for number in numbers if number is not None]
        return ColumnFilter(column, FilterKind.NUMBER_RANGE, values, min(known_numbers), max(known_numbers))
    identifiers = len(values) >= MIN_IDENTIFIER_VALUES and all(count == 1 for _, count in values)
    kind = FilterKind.TEXT if len(values) > MAX_CHOICES or identifiers else FilterKind.CHOICE
    return ColumnFilter(column, kind, values)


def column_filters(facets: Mapping[str, list[tuple[str, int]]]) -> list[ColumnFilter]:
    return [column_filter(column, values) for column, values in facets.items()]


def filter_where(
    choices: Mapping[str, Sequence[str]],
    texts: Mapping[str, str],
    ranges: Mapping[str, tuple[float | dt.date, float | dt.date]],
) -> str | None:
    """One filter expression: picked values (alternatives within a column), a typed text the column contains, and
    ranges (both ends included; a date range covers its last day whole, times included). Columns narrow each
    other. None when nothing narrows."""
    conditions = []
    for column, typed in texts.items():
        if typed.strip():
            conditions.append(f"{column} LIKE {quote('%' + typed.strip() + '%')}")
    for column, (low, high) in ranges.items():
        if isinstance(low, dt.date) and isinstance(high, dt.date):
            # Text comparison of ISO dates: before the next day, so "2024-03-31T17:00" is in a range ending that day.
            after = high + dt.timedelta(days=1)
            conditions.append(f"({column} >= {quote(low.isoformat())} AND {column} < {quote(after.isoformat())})")
        else:
            conditions.append(f"({column} >= {_number(low)} AND {column} <= {_number(high)})")
    return build_where(choices, base=" AND ".join(conditions) or None)


def _date(text: str) -> dt.date | None:
    if not _ISO_DATE.match(text.strip()):
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _number(value: float | dt.date) -> str:
    return repr(float(value)) if not isinstance(value, dt.date) else quote(value.isoformat())
