"""Every insights chart and list as CSV (UTF-8 with a BOM for spreadsheets; formula-like cells defused)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.formatting import safe_cell
from pipeline.insights.near_duplicates import Group
from pipeline.insights.report import Insights, Topic
from pipeline.insights.volume import Volume


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def volume_csv(volume: Volume) -> bytes:
    """One row per period and value: the chart's data."""
    column = volume.by or "all"
    rows = (
        (period, value, counts[position])
        for value, counts in volume.counts.items()
        for position, period in enumerate(volume.periods)
    )
    return to_csv([volume.period.value, column, "assets"], rows)


def changes_csv(volume: Volume) -> bytes:
    """Each value's count in the current and the previous period."""
    rows = ((change.value, change.current, change.previous, change.delta) for change in volume.changes)
    return to_csv([volume.by or "all", volume.current or "current", volume.previous or "previous", "change"], rows)


def groups_csv(groups: Sequence[Group]) -> bytes:
    """One row per member, with its group's figures."""
    rows = (
        (number, group.size, group.current, group.previous, " ".join(group.words), member.id, member.uri)
        for number, group in enumerate(groups, start=1)
        for member in group.members
    )
    return to_csv(["group", "size", "current", "previous", "words", "id", "uri"], rows)


def topics_csv(topics: Sequence[Topic]) -> bytes:
    rows = (
        (topic.number, " ".join(topic.words), topic.summary, topic.size, topic.current, topic.previous)
        for topic in topics
    )
    return to_csv(["topic", "words", "summary", "size", "current", "previous"], rows)


def csv_files(found: Insights) -> dict[str, bytes]:
    """File name -> CSV for every chart and list of an insights answer (what `insights --csv DIR` writes)."""
    files: dict[str, bytes] = {}
    for volume in found.volumes:
        name = volume.by or "all"
        files[f"volume-{name}.csv"] = volume_csv(volume)
        files[f"change-{name}.csv"] = changes_csv(volume)
    files["groups.csv"] = groups_csv(found.groups)
    files["topics.csv"] = topics_csv(found.topics)
    return files
