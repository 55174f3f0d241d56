"""Relevance feedback: analysts' thumbs up / down on search hits, kept in SQLite for later evaluation.

One row per (query text, query image sha256, asset id): voting again replaces the earlier
vote, so the table holds each analyst judgement once. The format is deliberately plain for
an `eval` command or a notebook to read:

    feedback(query_text TEXT, query_image_sha TEXT ('' for text-only queries),
             asset_id TEXT, vote INTEGER (+1 relevant, -1 not relevant),
             voted_at TEXT (ISO 8601, UTC))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import BadInput
from pipeline.sqlite import Database

FEEDBACK_FILE = "feedback.sqlite"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    query_text TEXT NOT NULL,
    query_image_sha TEXT NOT NULL DEFAULT '',
    asset_id TEXT NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    PRIMARY KEY (query_text, query_image_sha, asset_id)
)
"""


@dataclass(frozen=True)
class Vote:
    query_text: str
    query_image_sha: str
    asset_id: str
    vote: int
    voted_at: datetime


def query_id(query_text: str, query_image_sha: str) -> str:
    """A short stable name for a query, for widget keys and file names."""
    return hashlib.sha256(f"{query_text.strip()}\0{query_image_sha}".encode()).hexdigest()[:16]


class FeedbackLog:
    """Votes in data_dir/feedback.sqlite; each call opens its own connection, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(path, name="feedback log", schema=(_SCHEMA,), version=SCHEMA_VERSION)

    def record(self, *, query_text: str, query_image_sha: str, asset_id: str, vote: int) -> None:
        """Store a vote (+1 or -1), replacing any earlier vote on the same query and asset."""
        if vote not in (-1, 1):
            raise BadInput("vote", f"{vote} is not +1 (relevant) or -1 (not relevant)")
        if not query_text.strip() and not query_image_sha:
            raise BadInput("vote", "a vote needs the query it judges (text or image)")
        with self._db.connect() as connection:
            connection.execute(
                "INSERT INTO feedback (query_text, query_image_sha, asset_id, vote, voted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (query_text, query_image_sha, asset_id) "
                "DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                (query_text.strip(), query_image_sha, asset_id, vote, datetime.now(UTC).isoformat()),
            )

    def votes_for(self, *, query_text: str, query_image_sha: str) -> dict[str, int]:
        """asset id -> vote for one query, to show the votes already given."""
        with self._db.connect() as connection:
            rows = connection.execute(
                "SELECT asset_id, vote FROM feedback WHERE query_text = ? AND query_image_sha = ?",
                (query_text.strip(), query_image_sha),
            ).fetchall()
        return {asset_id: vote for asset_id, vote in rows}

    def votes(self) -> list[Vote]:
        """Every vote, oldest first."""
        with self._db.connect() as connection:
            rows = connection.execute(
                "SELECT query_text, query_image_sha, asset_id, vote, voted_at FROM feedback ORDER BY voted_at"
            ).fetchall()
        return [Vote(text, sha, asset, vote, datetime.fromisoformat(at)) for text, sha, asset, vote, at in rows]
