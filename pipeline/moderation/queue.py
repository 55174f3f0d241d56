"""The review queue: uploads that matched, their state, the reviewer leases and the audit log, in SQLite.

Guarantees, all from SQLite itself (WAL journal, synchronous=FULL, one connection per call):
- a decision is one transaction: the item's new state and its audit row are written together
  or not at all, so a crash at any point leaves the previous state and no half decision;
- the audit log is append-only: triggers abort any UPDATE, DELETE or REPLACE on it, and its rows form a hash
  chain (pipeline.access.chain), so an edit made past the triggers shows in `verify`;
- items.state moves only by a decision, even for someone writing to the file with plain SQL: triggers
  refuse an audit row that is not a legal transition from the item's current state, a state change that
  is not the one the last audit row records (so the row must be written first, in the same transaction),
  an item inserted in any state but pending or twice, and deleting an item that has decisions;
- claims and decisions take the write lock first (BEGIN IMMEDIATE), read the lease and write in
  the same transaction, so two reviewers can never both hold an item or decide it twice. A
  lease expires after `lease_s` and can then be taken by anyone; deciding an unclaimed (or
  expired) item claims it in the same transaction;
- enqueueing is idempotent by the upload's SHA-256.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pipeline.access.chain import CHAIN_COLUMNS, ChainedTable, ChainReport, Problem
from pipeline.errors import BadInput, LeaseConflict
from pipeline.moderation.matching import Match
from pipeline.sqlite import Database

SCHEMA_VERSION = 2  # 2: the hash chain over audit_log and the triggers that tie items.state to it
DEFAULT_LEASE_S = 600.0
MAX_REVIEWER_CHARS = 100


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REMOVED = "removed"
    ESCALATED = "escalated"


# approved and removed are final; an escalated item waits for a (senior) reviewer's final call.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.APPROVED, State.REMOVED, State.ESCALATED}),
    State.ESCALATED: frozenset({State.APPROVED, State.REMOVED}),
    State.APPROVED: frozenset(),
    State.REMOVED: frozenset(),
}
OPEN_STATES = frozenset(state for state, targets in TRANSITIONS.items() if targets)

AUDIT_LOG = ChainedTable("audit_log", ("item_id", "at", "reviewer", "from_state", "to_state", "note"), "audit_log")
# The legal transitions as SQL rows; the triggers carry them, so changing TRANSITIONS needs a schema migration.
_LEGAL = ", ".join(f"('{source}', '{target}')" for source, targets in TRANSITIONS.items() for target in sorted(targets))
DECISION_TRIGGERS = (
    f"""CREATE TRIGGER audit_log_legal_decision BEFORE INSERT ON audit_log
    WHEN (NEW.from_state, NEW.to_state) NOT IN (VALUES {_LEGAL})
        OR NEW.from_state IS NOT (SELECT state FROM items WHERE id = NEW.item_id)
    BEGIN SELECT RAISE(ABORT, 'audit_log: a decision must be a legal move from the item''s current state'); END""",
    """CREATE TRIGGER items_state_follows_audit_log BEFORE UPDATE OF state ON items
    WHEN NEW.state IS NOT OLD.state AND NOT EXISTS (
        SELECT 1 FROM (SELECT item_id, from_state, to_state FROM audit_log ORDER BY id DESC LIMIT 1)
        WHERE item_id = NEW.id AND from_state = OLD.state AND to_state = NEW.state)
    BEGIN SELECT RAISE(ABORT, 'items.state changes only by a decision, its audit_log row written first'); END""",
    """CREATE TRIGGER items_start_pending BEFORE INSERT ON items
    WHEN NEW.state IS NOT 'pending' OR EXISTS (SELECT 1 FROM items WHERE id = NEW.id OR sha256 = NEW.sha256)
        OR EXISTS (SELECT 1 FROM audit_log WHERE item_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'items: an item is queued once, as pending (no REPLACE INTO, no second insert)'); END""",
    """CREATE TRIGGER items_keep_decided BEFORE DELETE ON items
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE item_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'items: an item with decisions cannot be deleted (its history would go with it)'); END""",
)
SCHEMA = (
    """CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        uri TEXT NOT NULL,
        thumbnail BLOB NOT NULL,
        category TEXT NOT NULL,
        matches TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'removed', 'escalated')),
        claimed_by TEXT,
        lease_expires_at REAL,
        reviewer TEXT,
        note TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        decided_at REAL
    )""",
    "CREATE INDEX items_state ON items (state, id)",
    f"""CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items (id),
        at REAL NOT NULL,
        reviewer TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        {", ".join(CHAIN_COLUMNS)}
    )""",
    "CREATE INDEX audit_log_item ON audit_log (item_id, id)",
    *AUDIT_LOG.triggers(),
    *DECISION_TRIGGERS,
)


def _add_chain_and_decision_triggers(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: chain the decisions already made, in one transaction, then tie items.state to them."""
    AUDIT_LOG.add_chain(db)
    for statement in DECISION_TRIGGERS:
        db.execute(statement)


MIGRATIONS = {1: _add_chain_and_decision_triggers}


@dataclass(frozen=True)
class QueueItem:
    id: int
    uri: str
    sha256: str
    thumbnail: bytes
    category: str
    matches: list[Match]
    state: State
    claimed_by: str | None
    lease_expires_at: float | None
    reviewer: str | None
    note: str
    created_at: float
    decided_at: float | None

    def holder(self, now: float) -> str | None:
        """The reviewer whose lease is live at `now`, if any."""
        if self.claimed_by and self.lease_expires_at is not None and self.lease_expires_at > now:
            return self.claimed_by
        return None


@dataclass(frozen=True)
class Waiting:
    """Items in one state: how many, how many the reviewer skipped, how many other reviewers hold."""

    state: State
    total: int
    skipped: int
    held_by_others: int

    def describe(self) -> str:
        """'2 pending: 1 skipped by you, 1 claimed by another reviewer' (or just '0 pending')."""
        reasons = []
        if self.skipped:
            reasons.append(f"{self.skipped} skipped by you")
        if self.held_by_others:
            others = "another reviewer" if self.held_by_others == 1 else "other reviewers"
            reasons.append(f"{self.held_by_others} claimed by {others}")
        return f"{self.total} {self.state}" + (f": {', '.join(reasons)}" if reasons else "")


@dataclass(frozen=True)
class Enqueued:
    item_id: int
    created: bool
    state: State


@dataclass(frozen=True)
class AuditEntry:
    id: int
    item_id: int
    at: float
    reviewer: str
    from_state: State
    to_state: State
    note: str
    uri: str
    sha256: str
    category: str
    rules: list[str]


def iso_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def check_reviewer(reviewer: str) -> str:
    name = reviewer.strip()
    if not name:
        raise BadInput("reviewer", "a reviewer name is required")
    if len(name) > MAX_REVIEWER_CHARS:
        raise BadInput("reviewer", f"name is {len(name)} characters, at most {MAX_REVIEWER_CHARS}")
    return name


class ReviewQueue:
    """The moderation queue in one SQLite file; safe to use from several processes and threads at once."""

    def __init__(self, path: Path, *, lease_s: float = DEFAULT_LEASE_S, clock: Callable[[], float] = time.time) -> None:
        if lease_s <= 0:
            raise BadInput("lease", f"{lease_s} s: a lease must last a positive time")
        self.path = path
        self.lease_s = lease_s
        self.clock = clock
        self._db = Database(path, name="moderation queue", schema=SCHEMA, version=SCHEMA_VERSION, migrations=MIGRATIONS)

    # writes -------------------------------------------------------------------------------

    def enqueue(self, *, uri: str, sha256: str, thumbnail: bytes, matches: Sequence[Match]) -> Enqueued:
        """Queue an upload for review unless the same content (by SHA-256) is already queued."""
        if not matches:
            raise BadInput(uri, "nothing matched: only uploads that match a rule are queued")
        payload = json.dumps([match.to_json() for match in matches], ensure_ascii=False)
        with self._db.transaction() as db:
            found = db.execute("SELECT id, state FROM items WHERE sha256 = ?", (sha256,)).fetchone()
            if found is not None:
                return Enqueued(found[0], False, State(found[1]))
            (item_id,) = db.execute(
                "INSERT INTO items (sha256, uri, thumbnail, category, matches, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (sha256, uri, thumbnail, matches[0].category, payload, self.clock()),
            ).fetchone()
        return Enqueued(item_id, True, State.PENDING)

    def claim(self, item_id: int, reviewer: str) -> QueueItem:
        """Take (or renew) the lease on an open item; refused while another reviewer's lease is live."""
        reviewer = check_reviewer(reviewer)
        with self._db.transaction() as db:
            item = self._claimable(db, item_id, reviewer)
            if item.state not in OPEN_STATES:
                raise BadInput(
                    f"item {item_id}", f"is already {item.state}; only pending or escalated items are claimed"
                )
            db.execute(
                "UPDATE items SET claimed_by = ?, lease_expires_at = ? WHERE id = ?",
                (reviewer, self.clock() + self.lease_s, item_id),
            )
        return self.get(item_id)

    def claim_next(
        self,
        reviewer: str,
        *,
        state: State | str = State.PENDING,
        category: str | None = None,
        skip: Collection[int] = (),
    ) -> QueueItem | None:
        """Claim the reviewer's next item: the one they hold, else the oldest free one; None when none is left."""
        reviewer = check_reviewer(reviewer)
        with self._db.transaction() as db:
            now = self.clock()
            item_id = self._next_id(db, reviewer, now, state, category, skip, None)
            if item_id is None:
                return None
            db.execute(
                "UPDATE items SET claimed_by = ?, lease_expires_at = ? WHERE id = ?",
                (reviewer, now + self.lease_s, item_id),
            )
        return self.get(item_id)

    def peek_next(
        self,
        reviewer: str,
        *,
        state: State | str = State.PENDING,
        category: str | None = None,
        skip: Collection[int] = (),
        prefer: int | None = None,
    ) -> QueueItem | None:
        """The item claim_next would give, without claiming it: showing an item must not take it from the other
        reviewers. `prefer` comes first when it is still free for the reviewer (an item whose skip was undone)."""
        reviewer = check_reviewer(reviewer)
        with self._db.connect() as db:
            item_id = self._next_id(db, reviewer, self.clock(), state, category, skip, prefer)
        return None if item_id is None else self.get(item_id)

    def _next_id(
        self,
        db: sqlite3.Connection,
        reviewer: str,
        now: float,
        state: State | str,
        category: str | None,
        skip: Collection[int],
        prefer: int | None,
    ) -> int | None:
        """The preferred item, else the one the reviewer holds, else the oldest free one, leaving out `skip`."""
        wanted = _state(state)
        if wanted not in OPEN_STATES:
            raise BadInput(f"state {wanted}", "only pending or escalated items wait for a review")
        where, parameters = _filters(wanted, category)
        skipped = f" AND id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        row = db.execute(
            f"SELECT id FROM items {where}{skipped} "
            "AND (claimed_by IS NULL OR claimed_by = ? OR lease_expires_at <= ?) "
            "ORDER BY id IS NOT ?, claimed_by IS NOT ?, id LIMIT 1",
            (*parameters, *skip, reviewer, now, prefer, reviewer),
        ).fetchone()
        return None if row is None else int(row[0])

    def release(self, item_id: int, reviewer: str) -> None:
        """Give a lease back early (the reviewer skips the item); a lease held by someone else is left alone."""
        with self._db.transaction() as db:
            db.execute(
                "UPDATE items SET claimed_by = NULL, lease_expires_at = NULL WHERE id = ? AND claimed_by = ?",
                (item_id, check_reviewer(reviewer)),
            )

    def drop_claim(self, item_id: int) -> str | None:
        """End whoever's lease is live on the item (an admin freeing a stale claim); returns that reviewer, or None
        when nobody held it. The caller checks who may do this and audits it."""
        with self._db.transaction() as db:
            row = db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise BadInput(f"item {item_id}", "no such item in the moderation queue")
            holder = _item(row).holder(self.clock())
            db.execute("UPDATE items SET claimed_by = NULL, lease_expires_at = NULL WHERE id = ?", (item_id,))
        return holder

    def decide(self, item_id: int, state: State | str, reviewer: str, note: str = "") -> QueueItem:
        """Move an item to a new state and append the audit row, in one transaction; claims the item if free."""
        reviewer = check_reviewer(reviewer)
        target = _state(state)
        with self._db.transaction() as db:
            item = self._claimable(db, item_id, reviewer)
            if target not in TRANSITIONS[item.state]:
                allowed = ", ".join(sorted(TRANSITIONS[item.state])) or "nothing: the decision is final"
                raise BadInput(f"item {item_id}", f"cannot go from {item.state} to {target} (allowed: {allowed})")
            now = float(self.clock())
            self._append_audit(db, item_id, now, reviewer, item.state, target, note)  # first: the trigger checks it
            db.execute(
                "UPDATE items SET state = ?, reviewer = ?, note = ?, decided_at = ?, claimed_by = NULL, "
                "lease_expires_at = NULL WHERE id = ?",
                (target.value, reviewer, note, now, item_id),
            )
        return self.get(item_id)

    def _append_audit(
        self, db: sqlite3.Connection, item_id: int, at: float, reviewer: str, source: State, target: State, note: str
    ) -> None:
        AUDIT_LOG.append(db, (item_id, at, reviewer, source.value, target.value, note))

    def _claimable(self, db: sqlite3.Connection, item_id: int, reviewer: str) -> QueueItem:
        row = db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise BadInput(f"item {item_id}", "no such item in the moderation queue")
        item = _item(row)
        holder = item.holder(self.clock())
        if holder is not None and holder != reviewer:
            expires_at = item.lease_expires_at or 0.0
            raise LeaseConflict(item_id, holder, expires_at, iso_time(expires_at))
        return item

    # reads --------------------------------------------------------------------------------

    def verify(self, expected_heads: Collection[str] = ()) -> ChainReport:
        """Check the decision history's hash chain, then that every item is in the state its history left it."""
        with self._db.connect() as db:
            report = AUDIT_LOG.verify(db, self.path, expected_heads)
            problem = None if report.problem else _history_mismatch(db)
        return report if problem is None else replace(report, problem=problem)

    def get(self, item_id: int) -> QueueItem:
        with self._db.connect() as db:
            row = db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise BadInput(f"item {item_id}", "no such item in the moderation queue")
        return _item(row)

    def items(
        self, *, state: State | str | None = None, category: str | None = None, limit: int | None = None
    ) -> list[QueueItem]:
        """Items oldest first, optionally in one state and with a match in one category."""
        where, parameters = _filters(None if state is None else _state(state), category)
        bound = " LIMIT ?" if limit is not None else ""
        with self._db.connect() as db:
            rows = db.execute(
                f"SELECT {ITEM_COLUMNS} FROM items {where} ORDER BY id{bound}",
                (*parameters, *([limit] if limit is not None else [])),
            ).fetchall()
        return [_item(row) for row in rows]

    def waiting(
        self, reviewer: str, *, state: State | str, category: str | None = None, skip: Collection[int] = ()
    ) -> Waiting:
        """What is in `state` (and `category`) and why the reviewer is not shown it: skipped, or claimed by others.
        The page's "nothing left" says this, so it always adds up to the counters above it."""
        now = self.clock()
        items = self.items(state=state, category=category)
        skipped = sum(1 for item in items if item.id in skip)
        held = sum(1 for item in items if item.id not in skip and item.holder(now) not in (None, reviewer))
        return Waiting(_state(state), len(items), skipped, held)

    def claims(self) -> list[QueueItem]:
        """Open items with a live lease, oldest first: what a stale claim can be released from."""
        now = self.clock()
        return [item for item in self.items() if item.state in OPEN_STATES and item.holder(now) is not None]

    def categories(self) -> list[str]:
        """Every category any queued item matched."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT DISTINCT json_extract(value, '$.category') FROM items, json_each(items.matches) ORDER BY 1"
            ).fetchall()
        return [row[0] for row in rows]

    def counts(self) -> dict[State, int]:
        with self._db.connect() as db:
            found = dict(db.execute("SELECT state, count(*) FROM items GROUP BY state").fetchall())
        return {state: found.get(state.value, 0) for state in State}

    def audit_log(self, item_id: int | None = None) -> list[AuditEntry]:
        """Every decision, oldest first, with what the item was and why it was queued."""
        where = "WHERE audit_log.item_id = ?" if item_id is not None else ""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT audit_log.id, item_id, at, audit_log.reviewer, from_state, to_state, audit_log.note, "
                f"uri, sha256, category, matches FROM audit_log JOIN items ON items.id = item_id {where} "
                "ORDER BY audit_log.id",
                () if item_id is None else (item_id,),
            ).fetchall()
        return [
            AuditEntry(
                id=row[0],
                item_id=row[1],
                at=row[2],
                reviewer=row[3],
                from_state=State(row[4]),
                to_state=State(row[5]),
                note=row[6],
                uri=row[7],
                sha256=row[8],
                category=row[9],
                rules=list(dict.fromkeys(match["rule"] for match in json.loads(row[10]))),
            )
            for row in rows
        ]

    def activity(self) -> list[tuple[str, str, int]]:
        """(UTC day, event, count) with event `queued` or a decided state: the review workload over time."""
        with self._db.connect() as db:
            return db.execute(
                "SELECT date(created_at, 'unixepoch') AS day, 'queued', count(*) FROM items GROUP BY day "
                "UNION ALL SELECT date(at, 'unixepoch') AS day, to_state, count(*) FROM audit_log "
                "GROUP BY day, to_state ORDER BY 1, 2"
            ).fetchall()


ITEM_COLUMNS = (
    "id, uri, sha256, thumbnail, category, matches, state, claimed_by, lease_expires_at, reviewer, note, "
    "created_at, decided_at"
)


def _item(row: tuple) -> QueueItem:
    return QueueItem(
        id=row[0],
        uri=row[1],
        sha256=row[2],
        thumbnail=row[3],
        category=row[4],
        matches=[Match.from_json(match) for match in json.loads(row[5])],
        state=State(row[6]),
        claimed_by=row[7],
        lease_expires_at=row[8],
        reviewer=row[9],
        note=row[10],
        created_at=row[11],
        decided_at=row[12],
    )


def _history_mismatch(db: sqlite3.Connection) -> Problem | None:
    """The first item whose state is not where its decisions left it, or the first decision whose item is gone."""
    row = db.execute(
        "SELECT id, state, last FROM (SELECT id, state, (SELECT to_state FROM audit_log WHERE item_id = items.id "
        "ORDER BY audit_log.id DESC LIMIT 1) AS last FROM items) WHERE state IS NOT coalesce(last, 'pending') "
        "ORDER BY id LIMIT 1"
    ).fetchone()
    if row is not None:
        item_id, state, last = row
        history = f"its last decision moved it to {last!r}" if last else "it has no decision"
        return Problem("items", item_id, f"the item is {state!r} but {history}: its state was changed directly")
    orphan = db.execute(
        "SELECT audit_log.id, item_id FROM audit_log LEFT JOIN items ON items.id = item_id "
        "WHERE items.id IS NULL ORDER BY audit_log.id LIMIT 1"
    ).fetchone()
    if orphan is not None:
        return Problem("audit_log", orphan[0], f"the decision is about item {orphan[1]}, which was deleted")
    return None


def _filters(state: State | None, category: str | None) -> tuple[str, list[object]]:
    """WHERE clause (always present, so callers can add AND ...) for a state and a matched category."""
    conditions = ["1 = 1"]
    parameters: list[object] = []
    if state is not None:
        conditions.append("state = ?")
        parameters.append(state.value)
    if category is not None:
        conditions.append("EXISTS (SELECT 1 FROM json_each(matches) WHERE json_extract(value, '$.category') = ?)")
        parameters.append(category)
    return "WHERE " + " AND ".join(conditions), parameters


def _state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError as error:
        raise BadInput(f"state {value!r}", f"not a review state (one of {', '.join(State)})") from error
