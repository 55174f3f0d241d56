"""The SQLite files in the data directory (audit log, moderation queue, feedback): one way to open them.

Each call opens its own connection, so any thread may use a `Database`; WAL lets readers run beside
the one writer, `synchronous = FULL` makes a commit survive a power cut, and the schema version is
checked on open so an older vlsearch never misreads a newer file; an older file is migrated step by step, in
the same transaction as the check, so it is upgraded entirely or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import StoreError
from pipeline.private import make_private_dir, make_private_file

BUSY_TIMEOUT_S = 10.0


Migration = Callable[[sqlite3.Connection], None]


class Database:
    """A SQLite file with a versioned schema, created on first open; `name` is how errors refer to it.

    `schema` creates the current version; `migrations[n]` upgrades a version-n file to n + 1."""

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        schema: Sequence[str],
        version: int,
        migrations: Mapping[int, Migration] | None = None,
    ) -> None:
        self.path = path
        self.name = name
        try:
            make_private_dir(path.parent)
        except OSError as error:
            raise StoreError(f"cannot create the folder of the {name} {path}: {error}") from error
        try:
            # 0600 before SQLite opens it: its -wal and -shm files take the database file's mode.
            make_private_file(path)
        except OSError as error:
            raise StoreError(f"cannot create the {name} {path}: {error}") from error
        with self.connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
        with self.transaction() as db:
            found = db.execute("PRAGMA user_version").fetchone()[0]
            if found == 0:
                for statement in schema:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {int(version)}")
            elif found != version:
                upgrades, steps = migrations or {}, range(found, version)
                if found > version or not all(step in upgrades for step in steps):
                    raise StoreError(
                        f"the {name} {path} has schema version {found}; this vlsearch reads version {version}"
                    )
                for step in steps:
                    upgrades[step](db)
                db.execute(f"PRAGMA user_version = {int(version)}")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; every SQLite error becomes a StoreError naming the file."""
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the {self.name} {self.path}: {error}") from error
        try:
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        except sqlite3.Error as error:
            raise StoreError(f"{self.name} {self.path}: {error}") from error
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any exception rolls everything back."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
