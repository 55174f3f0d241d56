"""Decisions from the audit log as CSV, for compliance reporting and hand-offs."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from pipeline.moderation.queue import AuditEntry, iso_time

COLUMNS = (
    "decision_id",
    "decided_at",
    "item_id",
    "uri",
    "sha256",
    "category",
    "rules",
    "from_state",
    "to_state",
    "reviewer",
    "note",
)


def write_decisions_csv(entries: Iterable[AuditEntry], stream: TextIO) -> int:
    """Write one row per decision, oldest first (times in UTC, ISO 8601); returns the number of rows."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    rows = 0
    for entry in entries:
        writer.writerow(
            (
                entry.id,
                iso_time(entry.at),
                entry.item_id,
                entry.uri,
                entry.sha256,
                entry.category,
                " ".join(entry.rules),
                entry.from_state,
                entry.to_state,
                entry.reviewer,
                entry.note,
            )
        )
        rows += 1
    return rows
