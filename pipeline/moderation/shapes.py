"""The JSON shape of a moderation queue item, shared by `moderate list --json` and the HTTP API."""

from __future__ import annotations

from typing import Any

from pipeline.display.shapes import Shape
from pipeline.moderation.queue import QueueItem, iso_time


class QueueItemShape(Shape):
    """A moderation queue item, as `moderate list --json` and GET /v1/moderation/items show it."""

    id: int
    uri: str
    sha256: str
    state: str
    category: str
    matches: list[dict[str, Any]]
    claimed_by: str | None
    lease_expires_at: str | None
    reviewer: str | None
    note: str
    created_at: str
    decided_at: str | None

    @classmethod
    def of(cls, item: QueueItem) -> QueueItemShape:
        return cls(
            id=item.id,
            uri=item.uri,
            sha256=item.sha256,
            state=str(item.state),
            category=item.category,
            matches=[match.to_json() for match in item.matches],
            claimed_by=item.claimed_by,
            lease_expires_at=iso_time(item.lease_expires_at) if item.lease_expires_at else None,
            reviewer=item.reviewer,
            note=item.note,
            created_at=iso_time(item.created_at),
            decided_at=iso_time(item.decided_at) if item.decided_at else None,
        )
