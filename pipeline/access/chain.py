"""A hash chain over an append-only SQLite table (the access audit log, the moderation decision history).

Each row stores `prev_hash`, the hash of the row before it (GENESIS for the first), and `hash` = sha256 of
prev_hash + the row's canonical content (table name, id and the covered columns as JSON). An edited, removed or
reordered row therefore breaks the chain exactly where it happened, and `verify` names that row.

What the chain cannot do: someone who can write the file can drop the triggers and recompute every hash after
an edit. Only a head hash recorded somewhere else earlier (`vlsearch audit verify --json`, then
`--expect-head`) exposes such a rewrite: it must still be the hash of a row on the chain.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

GENESIS = "0" * 64  # what the first row of every chain links to
# In CREATE TABLE and in the version-1 migration alike, so new and migrated files have the same columns.
CHAIN_COLUMNS = ("prev_hash TEXT NOT NULL DEFAULT ''", "hash TEXT NOT NULL DEFAULT ''")
MIGRATION_BATCH = 1000


def row_hash(prev_hash: str, table: str, row_id: int, values: Sequence[object]) -> str:
    """sha256 hex of prev_hash + [table, id, *values] as compact ASCII JSON: the same bytes on every machine."""
    content = json.dumps([table, row_id, *values], separators=(",", ":"), default=repr)  # repr: a tampered BLOB
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def is_hash(text: str) -> bool:
    return len(text) == 64 and all(char in "0123456789abcdef" for char in text)


@dataclass(frozen=True)
class Problem:
    """The first place a file's history does not hold together."""

    table: str
    row_id: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"table": self.table, "row": self.row_id, "reason": self.reason}


@dataclass(frozen=True)
class ChainReport:
    """One file's chain: how many rows, the hash of the last one, the first problem, the recorded heads seen."""

    file: Path
    table: str
    rows: int
    head: str
    problem: Problem | None
    heads_found: frozenset[str] = frozenset()

    @property
    def intact(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, object]:
        return {
            "file": str(self.file),
            "table": self.table,
            "rows": self.rows,
            "head": self.head,
            "intact": self.intact,
            "problem": None if self.problem is None else self.problem.to_json(),
        }


@dataclass(frozen=True)
class ChainedTable:
    """An append-only table on a hash chain: its name, the columns the hash covers besides `id`, and how
    error messages call it. Its CREATE TABLE ends with CHAIN_COLUMNS; `triggers` completes the schema."""

    name: str
    columns: tuple[str, ...]
    label: str

    def triggers(self) -> tuple[str, ...]:
        """No UPDATE, no DELETE, no INSERT that reuses an id (REPLACE INTO deletes without firing DELETE
        triggers) and no INSERT that does not link to the last row's hash."""
        table, label = self.name, self.label
        refuse = "BEGIN SELECT RAISE(ABORT, '{}'); END"
        return (
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            + refuse.format(f"{label} is append-only: rows cannot be changed"),
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            + refuse.format(f"{label} is append-only: rows cannot be deleted"),
            f"CREATE TRIGGER {table}_no_reused_id BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            + refuse.format(f"{label} is append-only: a row id cannot be written again"),
            f"CREATE TRIGGER {table}_chained BEFORE INSERT ON {table} "
            f"WHEN NEW.prev_hash IS NOT COALESCE((SELECT hash FROM {table} ORDER BY id DESC LIMIT 1), '{GENESIS}') "
            + refuse.format(f"{label} is append-only: a new row must carry the hash of the last row as prev_hash"),
        )

    def append(self, db: sqlite3.Connection, values: Sequence[object]) -> int:
        """Insert one row at the end of the chain and return its id. Call inside BEGIN IMMEDIATE, so no other
        writer appends between reading the last hash and inserting. `values` must be of the columns' storage
        types (a float for REAL), so the hash verifies against what SQLite gives back."""
        last = db.execute(f"SELECT id, hash FROM {self.name} ORDER BY id DESC LIMIT 1").fetchone()
        row_id, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        names = ", ".join(("id", *self.columns, "prev_hash", "hash"))
        marks = ", ".join("?" * (len(self.columns) + 3))
        db.execute(
            f"INSERT INTO {self.name} ({names}) VALUES ({marks})",
            (row_id, *values, prev_hash, row_hash(prev_hash, self.name, row_id, values)),
        )
        return row_id

    def add_chain(self, db: sqlite3.Connection) -> None:
        """Migrate a version-1 table (no chain): add the columns, chain the existing rows in id order, then put
        in the triggers. Runs inside the caller's transaction, so it happens entirely or not at all."""
        for old_trigger in ("no_update", "no_delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {self.name}_{old_trigger}")
        for column in CHAIN_COLUMNS:
            db.execute(f"ALTER TABLE {self.name} ADD COLUMN {column}")
        prev_hash, last_id = GENESIS, 0
        select = f"SELECT id, {', '.join(self.columns)} FROM {self.name} WHERE id > ? ORDER BY id LIMIT ?"
        while batch := db.execute(select, (last_id, MIGRATION_BATCH)).fetchall():
            for row_id, *values in batch:
                digest = row_hash(prev_hash, self.name, row_id, values)
                db.execute(f"UPDATE {self.name} SET prev_hash = ?, hash = ? WHERE id = ?", (prev_hash, digest, row_id))
                prev_hash, last_id = digest, row_id
        for statement in self.triggers():
            db.execute(statement)

    def verify(self, db: sqlite3.Connection, file: Path, expected_heads: Collection[str] = ()) -> ChainReport:
        """Walk the chain in id order and report the first row whose link or content does not hold, and which of
        `expected_heads` (hashes recorded earlier) are hashes of rows on the intact part."""
        rows, prev_hash, prev_id, found = 0, GENESIS, 0, set(expected_heads) & {GENESIS}
        cursor = db.execute(f"SELECT id, {', '.join(self.columns)}, prev_hash, hash FROM {self.name} ORDER BY id")
        for row_id, *values, stored_prev, stored in cursor:
            problem = self._broken_link(row_id, stored_prev, prev_hash, prev_id)
            if problem is None:
                computed = row_hash(stored_prev, self.name, row_id, values)
                if stored != computed:
                    problem = Problem(
                        self.name,
                        row_id,
                        f"the row's content does not match its hash (stored {_short(stored)}, the content gives "
                        f"{_short(computed)}): it was changed after it was written",
                    )
            if problem is not None:
                return ChainReport(file, self.name, rows, prev_hash, problem, frozenset(found))
            rows, prev_hash, prev_id = rows + 1, stored, row_id
            if stored in expected_heads:
                found.add(stored)
        return ChainReport(file, self.name, rows, prev_hash, None, frozenset(found))

    def _broken_link(self, row_id: int, stored_prev: str, prev_hash: str, prev_id: int) -> Problem | None:
        if stored_prev == prev_hash:
            return None
        if prev_id == 0:
            return Problem(
                self.name,
                row_id,
                f"the first row must link to the genesis value but its prev_hash is {_short(stored_prev)}: "
                "rows before it were removed, or the chain was rewritten",
            )
        gap = f"; rows {prev_id + 1} to {row_id - 1} are missing" if row_id > prev_id + 1 else ""
        return Problem(
            self.name,
            row_id,
            f"its prev_hash {_short(stored_prev)} is not the hash of row {prev_id} ({_short(prev_hash)}): "
            f"a row before it was removed or rewritten{gap}",
        )


def _short(digest: str) -> str:
    return repr(digest[:12] + "…") if len(digest) > 12 else repr(digest)
