"""API tokens: one bearer secret per integration (e.g. "zendesk"), each with a role, for the HTTP API.

The secret is shown once, when it is made, and only its SHA-256 is kept (tokens.sqlite under the data dir). A slow
password hash (Argon2, as for users) guards secrets that people choose and that can be guessed; a token is 256
random bits, so nobody can run through the possible secrets whatever the hash costs, and a fast hash lets every API
request be checked by one indexed lookup. Whoever reads the file learns no usable secret.

One unrevoked token per name (a revoked name can be used again); to rotate, create a token under a new name, move
the integration over, then revoke the old one. Same guarantees as the other SQLite files (pipeline.sqlite): WAL,
one connection per call, so the store is safe across threads and processes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.access.auth import AuthMode, Role, User, check_name
from pipeline.errors import BadInput
from pipeline.sqlite import Database

TOKENS_FILE = "tokens.sqlite"
TOKEN_PREFIX = "vls_"
SECRET_BYTES = 32
# What TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES) looks like: anything else is refused before hashing.
TOKEN_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")
# A token used all day long would otherwise cost a write per request; a minute is precise enough to tell
# which integrations are still in use.
LAST_USED_RESOLUTION_S = 60.0
SCHEMA_VERSION = 1
SCHEMA = (
    """CREATE TABLE tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        secret_sha256 BLOB NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    )""",
    # The file itself refuses a second unrevoked token of one name, whichever process writes it.
    "CREATE UNIQUE INDEX tokens_unrevoked_name ON tokens (name) WHERE revoked_at IS NULL",
)
COLUMNS = "name, role, created_at, last_used_at, revoked_at"


@dataclass(frozen=True)
class ApiToken:
    name: str
    role: Role
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    def user(self) -> User:
        """Who the API acts for: `token:<name>`, a name no local user can have (':' is not allowed in one)."""
        return User(name=f"token:{self.name}", role=self.role, mode=AuthMode.TOKEN)

    def to_json(self) -> dict[str, Any]:
        """The shape `tokens list --json` prints: times in ISO 8601 UTC (null when never); no secret, no hash."""
        return {
            "name": self.name,
            "role": self.role.value,
            "created_at": _iso(self.created_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


def _iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def _token(row: tuple[Any, ...]) -> ApiToken:
    name, role, created_at, last_used_at, revoked_at = row
    return ApiToken(name, Role(role), created_at, last_used_at, revoked_at)


class TokenStore:
    """Create, list, revoke and check API tokens in one SQLite file."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._db = Database(path, name="API token store", schema=SCHEMA, version=SCHEMA_VERSION)

    def create(self, name: str, role: Role) -> str:
        """A new token for the integration `name`; returns its secret, which is not kept and cannot be shown again."""
        check_name(name, f"token name {name!r}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        with self._db.transaction() as db:  # BEGIN IMMEDIATE: nobody can add the same name between check and insert
            if db.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
                raise BadInput(f"token {name!r}", "already exists; revoke it first, or choose another name")
            db.execute(
                "INSERT INTO tokens (name, role, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
                (name, role.value, _digest(secret), float(self.clock())),
            )
        return secret

    def tokens(self) -> list[ApiToken]:
        """Every token, revoked ones included, by name (then oldest first)."""
        with self._db.connect() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM tokens ORDER BY name, id").fetchall()
        return [_token(row) for row in rows]

    def revoke(self, name: str) -> ApiToken:
        """Revoke the unrevoked token of `name`: the API refuses it from its next request on."""
        with self._db.transaction() as db:
            row = db.execute(
                f"UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING {COLUMNS}",
                (float(self.clock()), name),
            ).fetchone()
            if row is None:
                known = db.execute("SELECT 1 FROM tokens WHERE name = ?", (name,)).fetchone()
                raise BadInput(f"token {name!r}", "is already revoked" if known else f"no such token in {self.path}")
        return _token(row)

    def authenticate(self, secret: str) -> ApiToken | None:
        """The token whose secret this is, or None for an unknown, malformed or revoked one.

        The secret is found by the SHA-256 of what was sent, so no comparison of secrets is left to time: the
        lookup's timing can only tell something about a hash of the attempt, never about a stored secret."""
        if not TOKEN_SHAPE.fullmatch(secret):
            return None
        digest = _digest(secret)
        with self._db.connect() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM tokens WHERE secret_sha256 = ? AND revoked_at IS NULL", (digest,)
            ).fetchone()
            if row is None:
                return None
            token = _token(row)
            now = float(self.clock())
            if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION_S:
                # Conditional, so concurrent requests within the minute write the time once.
                db.execute(
                    "UPDATE tokens SET last_used_at = ? WHERE secret_sha256 = ? "
                    "AND (last_used_at IS NULL OR last_used_at <= ?)",
                    (now, digest, now - LAST_USED_RESOLUTION_S),
                )
                token = ApiToken(token.name, token.role, token.created_at, now, token.revoked_at)
        return token


def open_tokens(data_dir: Path) -> TokenStore:
    return TokenStore(data_dir / TOKENS_FILE)
