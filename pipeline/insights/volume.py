"""Volume over time: how many assets per day, week or month by a date column, split by another column, and the
change from the previous period ("PF-4021: 34 this week, 9 last week").

Periods are calendar periods (ISO weeks start on Monday) and the series is contiguous: a period with nothing
in it is a 0, not a gap. The current period is the one holding `until` (default: the latest dated asset),
so a collection whose newest ticket is from February reads "this month" as February, not as an empty today.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from pipeline.errors import BadInput
from pipeline.records import AssetSummary

INGESTED_AT = "ingested_at"  # the built-in date every asset has, beside any metadata column holding dates
OTHER = "(other)"
NONE = "(none)"
TOP_VALUES = 10


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Change:
    """One value's count in the current and the previous period."""

    value: str
    current: int
    previous: int

    @property
    def delta(self) -> int:
        return self.current - self.previous


@dataclass(frozen=True)
class Volume:
    date_column: str
    by: str | None
    period: Period
    periods: list[str]  # labels, oldest first, contiguous
    counts: dict[str, list[int]]  # value -> count per period; the TOP_VALUES largest values, then OTHER
    current: str | None  # the period holding `until` (None when nothing has a date)
    previous: str | None
    changes: list[Change]  # every value (not only the top ones), biggest rise first
    undated: int  # assets whose date column is empty or not a date


def parse_day(value: str | date | None) -> date | None:
    """The calendar day of a date value: an ISO date or date-time, a date or datetime; None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


def period_start(day: date, period: Period) -> date:
    if period == Period.MONTH:
        return day.replace(day=1)
    if period == Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day


def period_label(start: date, period: Period) -> str:
    if period == Period.MONTH:
        return start.strftime("%Y-%m")
    if period == Period.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def next_start(start: date, period: Period) -> date:
    if period == Period.MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=7 if period == Period.WEEK else 1)


def volume(
    rows: Iterable[tuple[str | date | None, str]],
    *,
    date_column: str,
    by: str | None,
    period: Period,
    until: date | None = None,
    top: int = TOP_VALUES,
) -> Volume:
    """Counts of (date value, group value) rows per period and value; `by` only names the grouping."""
    counted: Counter[tuple[date, str]] = Counter()
    undated = 0
    for raw_day, value in rows:
        day = parse_day(raw_day)
        if day is None:
            undated += 1
            continue
        counted[(period_start(day, period), value or NONE)] += 1
    if not counted:
        return Volume(date_column, by, period, [], {}, None, None, [], undated)
    starts = [start for start, _ in counted]
    current = period_start(until, period) if until else max(starts)
    first, last = min(min(starts), current), max(max(starts), current)
    timeline = [first]
    while timeline[-1] < last:
        timeline.append(next_start(timeline[-1], period))
    index = {start: position for position, start in enumerate(timeline)}
    totals: Counter[str] = Counter()
    for (_, value), count in counted.items():
        totals[value] += count
    ranked = sorted(totals, key=lambda value: (-totals[value], value))
    shown = set(ranked[:top])
    counts: dict[str, list[int]] = {value: [0] * len(timeline) for value in ranked[:top]}
    if len(ranked) > top:
        counts[OTHER] = [0] * len(timeline)
    for (start, value), count in counted.items():
        counts[value if value in shown else OTHER][index[start]] += count
    previous = timeline[index[current] - 1] if index[current] > 0 else None
    changes = [
        Change(value, counted[(current, value)], counted[(previous, value)] if previous else 0) for value in ranked
    ]
    changes = [change for change in changes if change.current or change.previous]
    changes.sort(key=lambda change: (-change.delta, -change.current, change.value))
    return Volume(
        date_column=date_column,
        by=by,
        period=period,
        periods=[period_label(start, period) for start in timeline],
        counts=counts,
        current=period_label(current, period),
        previous=period_label(previous, period) if previous else None,
        changes=changes,
        undated=undated,
    )


def day_of(column: str) -> Callable[[AssetSummary], date | None]:
    """How an asset's date is read: a metadata column, or INGESTED_AT."""
    if column == INGESTED_AT:
        return lambda summary: summary.ingested_at.date()
    return lambda summary: parse_day(summary.metadata.get(column))


def in_periods(
    days: Iterable[date | None], period: Period, current: date | None, previous: date | None
) -> tuple[int, int]:
    """How many of `days` fall in the current period and in the previous one (given by their first days)."""
    starts = [period_start(day, period) for day in days if day]
    return sum(1 for start in starts if start == current), sum(1 for start in starts if start == previous)


def check_period(value: str) -> Period:
    try:
        return Period(value)
    except ValueError as error:
        raise BadInput(f"period {value!r}", f"use one of {', '.join(Period)}") from error
