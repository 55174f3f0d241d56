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
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.errors import BadInput, StoreError

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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder of the feedback log {path}: {error}") from error
        with self._connection() as connection:
            connection.execute(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def record(self, *, query_text: str, query_image_sha: str, asset_id: str, vote: int) -> None:
        """Store a vote (+1 or -1), replacing any earlier vote on the same query and asset."""
        if vote not in (-1, 1):
            raise BadInput("vote", f"{vote} is not +1 (relevant) or -1 (not relevant)")
        if not query_text.strip() and not query_image_sha:
            raise BadInput("vote", "a vote needs the query it judges (text or image)")
        with self._connection() as connection:
            connection.execute(
                "INSERT INTO feedback (query_text, query_image_sha, asset_id, vote, voted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (query_text, query_image_sha, asset_id) "
                "DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                (query_text.strip(), query_image_sha, asset_id, vote, datetime.now(timezone.utc).isoformat()),
            )

    def votes_for(self, *, query_text: str, query_image_sha: str) -> dict[str, int]:
        """asset id -> vote for one query, to show the votes already given."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT asset_id, vote FROM feedback WHERE query_text = ? AND query_image_sha = ?",
                (query_text.strip(), query_image_sha),
            ).fetchall()
        return {asset_id: vote for asset_id, vote in rows}

    def votes(self) -> list[Vote]:
        """Every vote, oldest first."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT query_text, query_image_sha, asset_id, vote, voted_at FROM feedback ORDER BY voted_at"
            ).fetchall()
        return [Vote(text, sha, asset, vote, datetime.fromisoformat(at)) for text, sha, asset, vote, at in rows]

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=10)) as connection, connection:
                yield connection
        except sqlite3.Error as error:
            raise StoreError(f"the feedback log at {self.path} failed: {error}") from error
