"""The one SQLite helper behind the audit log, the moderation queue and the feedback log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipeline.access.audit import AuditLog
from pipeline.errors import StoreError
from pipeline.moderation.queue import ReviewQueue
from pipeline.search.feedback import FeedbackLog
from pipeline.sqlite import Database

SCHEMA = ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",)


def test_the_schema_is_created_once_and_its_version_recorded(tmp_path: Path) -> None:
    db = Database(tmp_path / "sub" / "notes.sqlite", name="notes", schema=SCHEMA, version=3)
    with db.connect() as connection:
        connection.execute("INSERT INTO notes (text) VALUES ('kept')")
    again = Database(tmp_path / "sub" / "notes.sqlite", name="notes", schema=SCHEMA, version=3)  # no second CREATE
    with again.connect() as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 3
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT text FROM notes").fetchall() == [("kept",)]


def test_another_schema_version_is_refused_naming_the_file(tmp_path: Path) -> None:
    Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=2)
    with pytest.raises(
        StoreError, match=r"the notes .*notes.sqlite has schema version 2; this vlsearch reads version 1"
    ):
        Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=1)


def test_an_older_file_is_migrated_step_by_step_or_not_at_all(tmp_path: Path) -> None:
    Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=1)

    def add_tags(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE notes ADD COLUMN tags TEXT NOT NULL DEFAULT ''")

    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE notes ADD COLUMN author TEXT")
        db.execute("SELECT no_such_function()")

    with pytest.raises(StoreError, match="no such function"):
        Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=3, migrations={1: add_tags, 2: broken})
    with sqlite3.connect(tmp_path / "notes.sqlite") as connection:  # the failed upgrade left version 1 as it was
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
        assert [column[1] for column in connection.execute("PRAGMA table_info(notes)")] == ["id", "text"]
    with pytest.raises(StoreError, match="has schema version 1; this vlsearch reads version 3"):
        Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=3, migrations={2: broken})
    Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=2, migrations={1: add_tags})
    with sqlite3.connect(tmp_path / "notes.sqlite") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
        assert [column[1] for column in connection.execute("PRAGMA table_info(notes)")] == ["id", "text", "tags"]


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db = Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=1)
    with pytest.raises(StoreError, match=r"^notes .*notes.sqlite: NOT NULL constraint failed"):
        with db.transaction() as connection:
            connection.execute("INSERT INTO notes (text) VALUES ('first')")
            connection.execute("INSERT INTO notes (text) VALUES (NULL)")
    with db.connect() as connection:
        assert connection.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "notes.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="notes.sqlite"):
        Database(tmp_path / "notes.sqlite", name="notes", schema=SCHEMA, version=1)


@pytest.mark.parametrize(
    "open_file",
    [
        lambda path: AuditLog(path),
        lambda path: ReviewQueue(path),
        lambda path: FeedbackLog(path),
    ],
    ids=["audit log", "moderation queue", "feedback log"],
)
def test_every_sqlite_file_of_the_data_dir_opens_through_the_helper(tmp_path: Path, open_file) -> None:
    path = tmp_path / "file.sqlite"
    open_file(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] >= 1
