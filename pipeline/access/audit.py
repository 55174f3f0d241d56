"""The access audit log: who signed in or out, searched, ingested, decided or was refused, in one append-only
SQLite file under the data dir (audit.sqlite).

It is the one log an admin reads and exports. The moderation queue keeps, besides, each item's own
decision history (moderation.sqlite), because that row must be written in the same transaction as
the item's new state; a decision made in the app is recorded here too, with the same item id and
states, right after it commits. Same guarantees as the queue: WAL, synchronous=FULL, triggers that
abort any UPDATE, DELETE or REPLACE, one connection per call (safe across threads and processes), and a hash
chain over the rows (pipeline.access.chain) so that an edit made past the triggers shows in `verify`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.access.auth import User
from pipeline.access.chain import CHAIN_COLUMNS, ChainedTable, ChainReport
from pipeline.formatting import safe_cell
from pipeline.sqlite import Database

AUDIT_FILE = "audit.sqlite"
LOGGED_QUERY_CHARS = 200  # enough to see what was asked; the log is not a copy of every long query
SCHEMA_VERSION = 2  # 2: the hash chain (prev_hash, hash) and the trigger against REPLACE INTO
EVENTS = ChainedTable("events", ("at", "actor", "role", "action", "outcome", "detail"), "the audit log")
SCHEMA = (
    f"""CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        {", ".join(CHAIN_COLUMNS)}
    )""",
    "CREATE INDEX events_action ON events (action, id)",
    *EVENTS.triggers(),
)
MIGRATIONS = {1: EVENTS.add_chain}
CSV_COLUMNS = ("id", "time", "actor", "role", "action", "outcome", "detail")


class Action(StrEnum):
    SIGN_IN = "sign-in"
    SIGN_OUT = "sign-out"
    OPEN_PAGE = "open-page"
    API_REQUEST = "api-request"  # a request the HTTP API refused (the token's role does not allow the route)
    SEARCH = "search"
    INGEST = "ingest"
    DECISION = "decision"
    DESTRUCTIVE = "destructive"
    FEEDBACK = "feedback"
    EXPORT = "export"
    TOKEN_CREATE = "token-create"
    TOKEN_REVOKE = "token-revoke"


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    REFUSED = "refused"


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: float
    actor: str
    role: str
    action: Action
    outcome: Outcome
    detail: dict[str, Any]

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds")


def logged_query(text: str | None) -> str:
    """The query text as the log keeps it: at most LOGGED_QUERY_CHARS, marked when cut."""
    text = (text or "").strip()
    return text if len(text) <= LOGGED_QUERY_CHARS else text[:LOGGED_QUERY_CHARS] + "…"


class AuditLog:
    """Append and read audit events; nothing here can change or delete one."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._db = Database(path, name="audit log", schema=SCHEMA, version=SCHEMA_VERSION, migrations=MIGRATIONS)

    def record(
        self, action: Action, *, user: User | None = None, actor: str = "", outcome: Outcome = Outcome.OK, **detail: Any
    ) -> None:
        """One event by `user` (or, before anyone is signed in, the name given as `actor`)."""
        with self._db.transaction() as db:
            EVENTS.append(
                db,
                (
                    float(self.clock()),
                    user.name if user else actor,
                    user.role.value if user else "",
                    action.value,
                    outcome.value,
                    json.dumps(detail, ensure_ascii=False, default=str),
                ),
            )

    def verify(self, expected_heads: Collection[str] = ()) -> ChainReport:
        """Check the hash chain: the first row that was changed, removed or reordered, and the head hash."""
        with self._db.connect() as db:
            return EVENTS.verify(db, self.path, expected_heads)

    def events(
        self, *, action: Action | None = None, actor: str | None = None, limit: int | None = None
    ) -> list[AuditEvent]:
        """Events newest first, optionally of one action or one actor."""
        conditions, parameters = ["1 = 1"], []
        if action is not None:
            conditions.append("action = ?")
            parameters.append(action.value)
        if actor is not None:
            conditions.append("actor = ?")
            parameters.append(actor)
        bound = f" LIMIT {int(limit)}" if limit is not None else ""
        with self._db.connect() as db:
            rows = db.execute(
                f"SELECT id, at, actor, role, action, outcome, detail FROM events WHERE {' AND '.join(conditions)} "
                f"ORDER BY id DESC{bound}",
                parameters,
            ).fetchall()
        return [
            AuditEvent(row[0], row[1], row[2], row[3], Action(row[4]), Outcome(row[5]), json.loads(row[6]))
            for row in rows
        ]


def events_csv(events: list[AuditEvent]) -> bytes:
    """UTF-8 CSV with a BOM; query text is user input, so formula-like cells are defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        detail = json.dumps(event.detail, ensure_ascii=False)
        writer.writerow(
            [
                safe_cell(value)
                for value in (
                    event.id,
                    event.time,
                    event.actor,
                    event.role,
                    event.action.value,
                    event.outcome.value,
                    detail,
                )
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


def open_audit_log(data_dir: Path) -> AuditLog:
    return AuditLog(data_dir / AUDIT_FILE)
