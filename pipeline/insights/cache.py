"""What insights remember between runs, per collection, in data_dir/insights.sqlite: which assets were already
compared for near-duplicates and the pairs found, and the fitted topic model with each asset's topic. Comparing
is the costly part (a visual search and a keypoint check per asset), so each asset is compared once, when it is
first seen, and a run only compares what is new; a deleted asset's links fall away with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline.sqlite import Database

INSIGHTS_FILE = "insights.sqlite"
SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE compared (collection TEXT NOT NULL, asset_id TEXT NOT NULL, PRIMARY KEY (collection, asset_id))",
    "CREATE TABLE same_screen (collection TEXT NOT NULL, first_id TEXT NOT NULL, second_id TEXT NOT NULL, "
    "evidence TEXT NOT NULL, PRIMARY KEY (collection, first_id, second_id))",
    "CREATE TABLE topic_model (collection TEXT PRIMARY KEY, model TEXT NOT NULL)",
    "CREATE TABLE topic_summary (collection TEXT NOT NULL, topic INTEGER NOT NULL, summary TEXT NOT NULL, "
    "PRIMARY KEY (collection, topic))",
    "CREATE TABLE topic_of (collection TEXT NOT NULL, asset_id TEXT NOT NULL, topic INTEGER NOT NULL, "
    "PRIMARY KEY (collection, asset_id))",
)
_INSERT_BATCH = 500


class InsightsCache:
    def __init__(self, path: Path, collection: str) -> None:
        self.collection = collection
        self._db = Database(path, name="insights cache", schema=_SCHEMA, version=SCHEMA_VERSION)

    # near-duplicates --------------------------------------------------------------------------

    def compared(self) -> set[str]:
        with self._db.connect() as db:
            rows = db.execute("SELECT asset_id FROM compared WHERE collection = ?", (self.collection,)).fetchall()
        return {asset for (asset,) in rows}

    def save_comparisons(self, asset_ids: Sequence[str], pairs: Iterable[tuple[str, str, str]]) -> None:
        """Mark `asset_ids` compared and keep the (id, id, evidence) pairs found, in one transaction."""
        with self._db.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO compared VALUES (?, ?)", [(self.collection, asset) for asset in asset_ids]
            )
            db.executemany(
                "INSERT OR REPLACE INTO same_screen VALUES (?, ?, ?, ?)",
                [(self.collection, *sorted((first, second)), evidence) for first, second, evidence in pairs],
            )

    def same_screen_pairs(self) -> list[tuple[str, str, str]]:
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT first_id, second_id, evidence FROM same_screen WHERE collection = ? ORDER BY 1, 2",
                (self.collection,),
            ).fetchall()
        return [(first, second, evidence) for first, second, evidence in rows]

    def forget(self, asset_ids: Sequence[str]) -> None:
        """Drop what is known about assets that left the collection."""
        with self._db.transaction() as db:
            for start in range(0, len(asset_ids), _INSERT_BATCH):
                chunk = list(asset_ids[start : start + _INSERT_BATCH])
                marks = ", ".join("?" * len(chunk))
                params = (self.collection, *chunk)
                db.execute(f"DELETE FROM compared WHERE collection = ? AND asset_id IN ({marks})", params)
                db.execute(f"DELETE FROM topic_of WHERE collection = ? AND asset_id IN ({marks})", params)
                for column in ("first_id", "second_id"):
                    db.execute(f"DELETE FROM same_screen WHERE collection = ? AND {column} IN ({marks})", params)

    # topics -----------------------------------------------------------------------------------

    def topic_model(self) -> dict[str, Any] | None:
        with self._db.connect() as db:
            row = db.execute("SELECT model FROM topic_model WHERE collection = ?", (self.collection,)).fetchone()
        return json.loads(row[0]) if row else None

    def topics_of(self) -> dict[str, int]:
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT asset_id, topic FROM topic_of WHERE collection = ?", (self.collection,)
            ).fetchall()
        return {asset: topic for asset, topic in rows}

    def save_topics(self, model: dict[str, Any] | None, assigned: dict[str, int], *, refit: bool) -> None:
        """A refit replaces the model and every assignment; otherwise the new assignments are added."""
        with self._db.transaction() as db:
            if refit:
                db.execute("DELETE FROM topic_of WHERE collection = ?", (self.collection,))
                db.execute("DELETE FROM topic_model WHERE collection = ?", (self.collection,))
                db.execute("DELETE FROM topic_summary WHERE collection = ?", (self.collection,))
                if model is not None:
                    db.execute("INSERT INTO topic_model VALUES (?, ?)", (self.collection, json.dumps(model)))
            db.executemany(
                "INSERT OR REPLACE INTO topic_of VALUES (?, ?, ?)",
                [(self.collection, asset, topic) for asset, topic in assigned.items()],
            )

    def topic_summaries(self) -> dict[int, str]:
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT topic, summary FROM topic_summary WHERE collection = ?", (self.collection,)
            ).fetchall()
        return {topic: summary for topic, summary in rows}

    def save_topic_summary(self, topic: int, summary: str) -> None:
        with self._db.connect() as db:
            db.execute("INSERT OR REPLACE INTO topic_summary VALUES (?, ?, ?)", (self.collection, topic, summary))
