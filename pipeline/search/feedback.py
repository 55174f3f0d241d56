"""Relevance feedback: people's thumbs up / down on search hits, kept in SQLite; search learns from them
(pipeline/search/learned.py) and `eval --feedback` judges by them.

One row per (collection, query text, query image sha256, asset id, voter): voting again replaces that person's
earlier vote, so the table holds each person's judgement once and "3 people" means three names. Votes belong to
one collection and every read names it: the same picture has the same asset id in every collection, and a vote
given in one must never move a hit in another. The format is deliberately plain for a notebook to read:

    feedback(collection TEXT, query_text TEXT, query_image_sha TEXT ('' for text-only queries),
             asset_id TEXT, voter TEXT (the signed-in user or the API token's user; '' = before names were kept),
             vote INTEGER (+1 relevant, -1 not relevant), voted_at TEXT (ISO 8601, UTC),
             query_vector BLOB (float32, the query's embedding when a model was loaded, else NULL),
             embed_model TEXT (the model that made query_vector, '' when none))

Schema version 1 had no collection, voter or vector: its rows are moved to the collection every earlier version
wrote to by default (DEFAULT_COLLECTION, "assets"), with the voter '' (one unnamed person).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.records import Vector
from pipeline.sqlite import Database

FEEDBACK_FILE = "feedback.sqlite"
SCHEMA_VERSION = 2
DEFAULT_COLLECTION: str = Settings.model_fields["collection"].default
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    collection TEXT NOT NULL,
    query_text TEXT NOT NULL,
    query_image_sha TEXT NOT NULL DEFAULT '',
    asset_id TEXT NOT NULL,
    voter TEXT NOT NULL DEFAULT '',
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    query_vector BLOB,
    embed_model TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (collection, query_text, query_image_sha, asset_id, voter)
)
"""
_COLUMNS = "collection, query_text, query_image_sha, asset_id, voter, vote, voted_at, query_vector, embed_model"


def _v1_to_v2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE feedback RENAME TO feedback_v1")
    db.execute(_SCHEMA)
    db.execute(
        "INSERT INTO feedback (collection, query_text, query_image_sha, asset_id, voter, vote, voted_at) "
        "SELECT ?, query_text, query_image_sha, asset_id, '', vote, voted_at FROM feedback_v1",
        (DEFAULT_COLLECTION,),
    )
    db.execute("DROP TABLE feedback_v1")


@dataclass(frozen=True)
class Vote:
    query_text: str
    query_image_sha: str
    asset_id: str
    vote: int
    voted_at: datetime
    voter: str = ""
    collection: str = DEFAULT_COLLECTION
    query_vector: Vector | None = None
    embed_model: str = ""


def query_id(query_text: str, query_image_sha: str) -> str:
    """A short stable name for a query, for widget keys and file names."""
    return hashlib.sha256(f"{query_text.strip()}\0{query_image_sha}".encode()).hexdigest()[:16]


class FeedbackLog:
    """Votes in data_dir/feedback.sqlite; each call opens its own connection, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(
            path, name="feedback log", schema=(_SCHEMA,), version=SCHEMA_VERSION, migrations={1: _v1_to_v2}
        )

    def record(
        self,
        *,
        collection: str,
        query_text: str,
        query_image_sha: str,
        asset_id: str,
        vote: int,
        voter: str,
        query_vector: Vector | None = None,
        embed_model: str = "",
    ) -> None:
        """Store `voter`'s vote (+1 or -1) in `collection`, replacing their earlier vote on the same query and asset.
        `query_vector` (with the `embed_model` that made it) lets similar queries, not only the same words, learn."""
        if vote not in (-1, 1):
            raise BadInput("vote", f"{vote} is not +1 (relevant) or -1 (not relevant)")
        if not query_text.strip() and not query_image_sha:
            raise BadInput("vote", "a vote needs the query it judges (text or image)")
        blob = None if query_vector is None else np.asarray(query_vector, dtype=np.float32).tobytes()
        with self._db.connect() as connection:
            connection.execute(
                f"INSERT INTO feedback ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (collection, query_text, query_image_sha, asset_id, voter) DO UPDATE SET "
                "vote = excluded.vote, voted_at = excluded.voted_at, "
                "query_vector = coalesce(excluded.query_vector, query_vector), "
                "embed_model = CASE WHEN excluded.query_vector IS NULL THEN embed_model ELSE excluded.embed_model END",
                (
                    collection,
                    query_text.strip(),
                    query_image_sha,
                    asset_id,
                    voter,
                    vote,
                    datetime.now(UTC).isoformat(),
                    blob,
                    embed_model if blob is not None else "",
                ),
            )

    def votes_for(self, *, collection: str, query_text: str, query_image_sha: str, voter: str) -> dict[str, int]:
        """asset id -> `voter`'s vote for one query in `collection`, to show the votes they already gave."""
        with self._db.connect() as connection:
            rows = connection.execute(
                "SELECT asset_id, vote FROM feedback "
                "WHERE collection = ? AND query_text = ? AND query_image_sha = ? AND voter = ?",
                (collection, query_text.strip(), query_image_sha, voter),
            ).fetchall()
        return {asset_id: vote for asset_id, vote in rows}

    def votes(self, *, collection: str) -> list[Vote]:
        """Every vote given in `collection`, oldest first."""
        with self._db.connect() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM feedback WHERE collection = ? ORDER BY voted_at", (collection,)
            ).fetchall()
        return [_vote(*row) for row in rows]

    def changed(self, *, collection: str) -> tuple[int, str]:
        """A cheap stamp that changes whenever a vote in `collection` is added or replaced (for caches)."""
        with self._db.connect() as connection:
            count, latest = connection.execute(
                "SELECT count(*), coalesce(max(voted_at), '') FROM feedback WHERE collection = ?", (collection,)
            ).fetchone()
        return int(count), str(latest)


def _vote(
    collection: str,
    text: str,
    sha: str,
    asset: str,
    voter: str,
    vote: int,
    at: str,
    blob: bytes | None,
    model: str,
) -> Vote:
    vector = None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()
    return Vote(text, sha, asset, vote, datetime.fromisoformat(at), voter, collection, vector, model)
