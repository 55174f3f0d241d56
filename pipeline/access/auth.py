"""Who may use the app and what each role may do: roles, permissions, the local users file, OIDC role mapping.

Three modes (VLSEARCH_AUTH): `oidc` (identity from the provider Streamlit's st.login talks to, role
from a mapping of e-mails and domains), `local` (a users file with Argon2id password hashes, for
small teams) and `off` (no sign-in, everyone is admin: only for one person on their own machine).
`auto`, the default, picks oidc when Streamlit's [auth] secrets exist, else local when the users
file exists, and otherwise refuses to run open: a shared deployment never starts without access
control by accident. Checks live here, in the library call path, so a hidden button is never the
only thing between a user and an action.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.config import Settings
from pipeline.errors import AuthNotConfigured, BadInput, PermissionDenied, SignInFailed

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_NAME_CHARS = 64
WRONG_NAME_OR_PASSWORD = "wrong user name or password"
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
ADD_ADMIN = "python -m pipeline users add NAME --role admin"


class Role(StrEnum):
    ANALYST = "analyst"
    SUPPORT = "support"
    MODERATOR = "moderator"
    ADMIN = "admin"


class Permission(StrEnum):
    SEARCH = "search"
    INGEST = "ingest"
    MODERATE = "moderate"
    DESTRUCTIVE = "destructive"
    READ_AUDIT = "read audit"
    MANAGE_USERS = "manage users"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SUPPORT: frozenset({Permission.SEARCH}),
    Role.ANALYST: frozenset({Permission.SEARCH, Permission.INGEST}),
    Role.MODERATOR: frozenset({Permission.SEARCH, Permission.MODERATE, Permission.DESTRUCTIVE}),
    Role.ADMIN: frozenset(Permission),
}


class AuthMode(StrEnum):
    LOCAL = "local"
    OIDC = "oidc"
    OFF = "off"
    TOKEN = "token"  # an integration calling the HTTP API with a bearer token (pipeline.access.tokens)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    mode: AuthMode

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


def require(user: User | None, permission: Permission) -> User:
    """The user, when their role allows `permission`; PermissionDenied otherwise (also for nobody signed in)."""
    if user is None or not user.may(permission):
        who = "nobody is signed in" if user is None else f"{user.name} is {user.role}"
        raise PermissionDenied(who, permission, [role.value for role in Role if permission in PERMISSIONS[role]])
    return user


def parse_role(value: str, source: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError as error:
        raise BadInput(source, f"{value!r} is not a role (one of {', '.join(Role)})") from error


def resolve_mode(setting: str, *, oidc_configured: bool, users_file: Path) -> AuthMode:
    """The mode to run in, or AuthNotConfigured saying how to set one up."""
    if setting == "off":
        return AuthMode.OFF
    if setting in ("oidc", "auto") and oidc_configured:
        return AuthMode.OIDC
    if setting == "oidc":
        raise AuthNotConfigured(
            "VLSEARCH_AUTH=oidc, but Streamlit has no [auth] section in .streamlit/secrets.toml "
            "(redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url)"
        )
    if users_file.exists():
        return AuthMode.LOCAL
    raise AuthNotConfigured(
        f"no sign-in is configured: there is no users file at {users_file}. Add an admin with `{ADD_ADMIN}`, "
        "configure OIDC in .streamlit/secrets.toml, or set VLSEARCH_AUTH=off for a single-user machine"
    )


# local users --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    password_hash: str


def check_name(name: str, source: str | None = None) -> str:
    if not USER_NAME.fullmatch(name):
        raise BadInput(
            source or f"user name {name!r}",
            "use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise BadInput("password", f"{len(password)} characters; use {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS}")
    return password


class UsersFile:
    """Accounts and the OIDC role mapping in one JSON file, re-read on every call so CLI edits apply at once.

    {"users": {"ann": {"role": "admin", "password": "$argon2id$..."}}, "roles": {"example.com": "analyst"}}
    Written atomically (temporary file + rename) and readable by its owner only.
    """

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._check_s: float | None = None  # how long an Argon2 check takes here; see _as_long_as_a_check

    # reads -------------------------------------------------------------------------------

    def accounts(self) -> dict[str, Account]:
        return self._read()[0]

    def roles(self) -> dict[str, Role]:
        """The file's OIDC mapping: e-mail or domain (lower-case) -> role."""
        return self._read()[1]

    def account(self, name: str) -> Account | None:
        return self.accounts().get(name)

    def verify(self, name: str, password: str) -> User:
        """The user when the password matches its hash (Argon2id, constant-time compare); SignInFailed otherwise,
        with the same message for a name that does not exist."""
        account = self.account(name)
        if account is None:
            self._as_long_as_a_check()
            raise SignInFailed(WRONG_NAME_OR_PASSWORD, unknown_name=True)
        started = time.perf_counter()
        try:
            self.hasher.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise SignInFailed(WRONG_NAME_OR_PASSWORD) from None
        finally:
            self._check_s = time.perf_counter() - started
        return User(account.name, account.role, AuthMode.LOCAL)

    def _as_long_as_a_check(self) -> None:
        """Wait about as long as a real Argon2 check takes, without doing one.

        An unknown name costs no 64 MiB Argon2 run (else random names would burn memory and CPU at will), but it
        still takes as long as a wrong password, so response times do not tell which names exist. The duration
        is measured on the last real check (or, before any, on one hash, once)."""
        if self._check_s is None:
            started = time.perf_counter()
            self.hasher.hash("a password nobody has")
            self._check_s = time.perf_counter() - started
        time.sleep(self._check_s)

    # writes ------------------------------------------------------------------------------

    def add(self, name: str, role: Role, password: str) -> Account:
        accounts, roles = self._read(missing_ok=True)
        if check_name(name) in accounts:
            raise BadInput(f"user {name!r}", "already exists (use set-role, or remove it first)")
        accounts[name] = Account(name, role, self.hasher.hash(check_password(password)))
        self._write(accounts, roles)
        return accounts[name]

    def remove(self, name: str) -> None:
        accounts, roles = self._read()
        self._keep_an_admin(accounts, self._known(accounts, name), None)
        del accounts[name]
        self._write(accounts, roles)

    def set_role(self, name: str, role: Role) -> Account:
        accounts, roles = self._read()
        account = self._known(accounts, name)
        self._keep_an_admin(accounts, account, role)
        accounts[name] = Account(name, role, account.password_hash)
        self._write(accounts, roles)
        return accounts[name]

    @staticmethod
    def _keep_an_admin(accounts: dict[str, Account], account: Account, new_role: Role | None) -> None:
        """Refuse to remove or demote the last admin: nobody could read the audit log or manage users after."""
        admins = [entry.name for entry in accounts.values() if entry.role == Role.ADMIN]
        if admins == [account.name] and new_role != Role.ADMIN:
            raise BadInput(f"user {account.name!r}", "is the only admin; make another user admin first")

    def _known(self, accounts: dict[str, Account], name: str) -> Account:
        if name not in accounts:
            raise BadInput(f"user {name!r}", f"no such user in {self.path}")
        return accounts[name]

    # storage -----------------------------------------------------------------------------

    def _read(self, *, missing_ok: bool = False) -> tuple[dict[str, Account], dict[str, Role]]:
        source = str(self.path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if missing_ok:
                return {}, {}
            raise BadInput(source, f"no users file; add a user with `{ADD_ADMIN}`") from None
        except OSError as error:
            raise BadInput(source, f"cannot read the users file: {error.strerror}") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno} column {error.colno}"
            raise BadInput(source, f"not valid JSON: {error.msg} at {where}") from error
        if not isinstance(data, dict) or not isinstance(data.get("users", {}), dict):
            raise BadInput(source, 'expected an object with a "users" object (and optionally a "roles" object)')
        accounts = {name: _account(source, name, entry) for name, entry in data.get("users", {}).items()}
        mapping = data.get("roles", {})
        if not isinstance(mapping, dict):
            raise BadInput(source, '"roles" must map e-mails or domains to roles')
        roles = {str(who).lower(): parse_role(str(role), f"{source}: roles.{who}") for who, role in mapping.items()}
        return accounts, roles

    def _write(self, accounts: dict[str, Account], roles: dict[str, Role]) -> None:
        data: dict[str, Any] = {
            "users": {a.name: {"role": a.role.value, "password": a.password_hash} for a in accounts.values()},
            "roles": {who: role.value for who, role in roles.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file, indent=2, ensure_ascii=False)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _account(source: str, name: str, entry: object) -> Account:
    where = f"{source}: users.{name}"
    if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str) for key in ("role", "password")):
        raise BadInput(where, 'each user needs a "role" and a "password" (an Argon2 hash written by `users add`)')
    if not entry["password"].startswith("$argon2"):
        raise BadInput(where, "the password is not an Argon2 hash; set users with `python -m pipeline users add`")
    return Account(check_name(name, where), parse_role(entry["role"], where), entry["password"])


# sign-in lockout ------------------------------------------------------------------------------

UNKNOWN_ADDRESS = "unknown"
MAX_TRACKED_PAIRS = 50_000  # (name, address) pairs with failures kept in memory; the stalest go first


class SignInThrottle:
    """Lockout per name AND address, with exponential backoff.

    After `max_failures` failures in a row for one name from one address, that pair is refused for `lockout_s`;
    each further failure doubles the wait, up to `max_lockout_s`. Attempts during a lockout are refused without
    being counted, so nobody can keep one going by failing once a minute; and a stranger failing on purpose from
    their address does not lock the user out of their own. A pair's failures are forgotten `max_lockout_s` after
    its lockout ends, and a success clears them. Thread-safe; one per process."""

    def __init__(
        self,
        max_failures: int,
        lockout_s: float,
        max_lockout_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_lockout_s = max(max_lockout_s, lockout_s)
        self.clock = clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def lockout_after(self, failures: int) -> float:
        """How long `failures` failures in a row lock a pair out: 0, then lockout_s, doubling, up to the maximum."""
        if failures < self.max_failures:
            return 0.0
        return min(self.max_lockout_s, self.lockout_s * 2.0 ** min(failures - self.max_failures, 64))

    def check(self, name: str, address: str = UNKNOWN_ADDRESS) -> None:
        with self._lock:
            failures, last = self._failures.get((name, address), (0, 0.0))
        wait = last + self.lockout_after(failures) - self.clock()
        if wait > 0:
            where = "an unknown address" if address == UNKNOWN_ADDRESS else address
            raise SignInFailed(
                f"too many failed sign-ins for {name!r} from {where}: try again in {_seconds(wait)}",
                retry_after_s=wait,
            )

    def failed(self, name: str, address: str = UNKNOWN_ADDRESS) -> None:
        with self._lock:
            now = self.clock()
            failures, last = self._failures.get((name, address), (0, 0.0))
            if self._forgotten(failures, last, now):
                failures = 0
            self._failures[(name, address)] = (failures + 1, now)
            if len(self._failures) > MAX_TRACKED_PAIRS:
                self._prune(now)

    def succeeded(self, name: str, address: str = UNKNOWN_ADDRESS) -> None:
        with self._lock:
            self._failures.pop((name, address), None)

    def _forgotten(self, failures: int, last: float, now: float) -> bool:
        return now - last > self.lockout_after(failures) + self.max_lockout_s

    def _prune(self, now: float) -> None:
        """Drop forgotten pairs, then (a flood of random names) the stalest, so memory stays bounded."""
        for key, (failures, last) in list(self._failures.items()):
            if self._forgotten(failures, last, now):
                del self._failures[key]
        excess = len(self._failures) - MAX_TRACKED_PAIRS * 9 // 10
        if excess > 0:
            stalest = sorted(self._failures, key=lambda key: self._failures[key][1])[:excess]
            for key in stalest:
                del self._failures[key]


def _seconds(wait: float) -> str:
    seconds = max(1, round(wait))
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


def sign_in(
    users: UsersFile, throttle: SignInThrottle, name: str, password: str, address: str = UNKNOWN_ADDRESS
) -> User:
    """Check the lockout of this name from this address, then the password; a failure counts towards the
    lockout, a success clears it. (No real name is longer than MAX_NAME_CHARS: longer ones are cut, so a
    megabyte typed as a name is not kept.)"""
    name = name.strip()[: MAX_NAME_CHARS + 1]
    throttle.check(name, address)
    try:
        user = users.verify(name, password)
    except SignInFailed:
        throttle.failed(name, address)
        raise
    throttle.succeeded(name, address)
    return user


def client_address(headers: Mapping[str, str], peer: str | None, trusted_proxies: int = 0) -> str:
    """The address sign-in failures are counted under.

    The connection's own address (`peer`; Streamlit's st.context.ip_address), unless the app runs behind
    `trusted_proxies` reverse proxies (VLSEARCH_TRUSTED_PROXIES) that each append the address they saw to
    X-Forwarded-For: then the entry the outermost of them appended. Entries to its left are whatever the client
    wrote, so they are never used; with no trusted proxy the header is ignored altogether. UNKNOWN_ADDRESS when
    neither gives an address."""
    if trusted_proxies > 0:
        forwarded = ",".join(value for key, value in headers.items() if key.lower() == "x-forwarded-for")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= trusted_proxies and _is_address(entries[-trusted_proxies]):
            return entries[-trusted_proxies]
    return peer if peer and _is_address(peer) else UNKNOWN_ADDRESS


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class SignInAuditFilter:
    """Which failed sign-ins get a row in the audit log.

    A wrong password for a real name always does: the lockout already bounds those per address. Guesses at names
    that do not exist and attempts refused during a lockout cost an attacker nothing to repeat, so they are
    written at most once per name and `per_window` times in all per `window_s`; the rest are counted, and the
    count goes into the next row written for that kind ("not_logged"). Thread-safe; one per process."""

    def __init__(self, per_window: int = 20, window_s: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self.per_window = per_window
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[str, tuple[float, set[str]]] = {}
        self._not_logged: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, name: str, failure: SignInFailed) -> int | None:
        """None when this failure gets no row; else how many of its kind were left out before it."""
        kind = "unknown name" if failure.unknown_name else "locked" if failure.retry_after_s > 0 else None
        if kind is None:
            return 0
        with self._lock:
            now = self.clock()
            started, names = self._windows.get(kind, (now, set()))
            if now - started >= self.window_s:
                started, names = now, set()
            self._windows[kind] = (started, names)
            if name in names or len(names) >= self.per_window:
                self._not_logged[kind] = self._not_logged.get(kind, 0) + 1
                return None
            names.add(name)
            return self._not_logged.pop(kind, 0)


# OIDC ----------------------------------------------------------------------------------------


def role_mapping(settings: Settings, users: UsersFile) -> dict[str, Role]:
    """The users file's [roles], overridden by VLSEARCH_OIDC_ROLES."""
    mapping = users.roles() if users.path.exists() else {}
    mapping.update({who: parse_role(role, f"VLSEARCH_OIDC_ROLES {who}") for who, role in settings.oidc_roles.items()})
    return mapping


def oidc_user(
    claims: Mapping[str, Any], roles: Mapping[str, Role], default: Role | None, *, require_verified: bool = True
) -> User:
    """The user the identity provider vouched for, with the role their e-mail (else its domain) maps to.

    Roles hang on e-mail addresses, so the address must be the user's: only an `email_verified` claim that is the
    boolean true counts (a self-signup account at a provider that does not check addresses could otherwise claim
    anyone's). `require_verified=False` (VLSEARCH_OIDC_REQUIRE_VERIFIED_EMAIL=false) also admits a missing claim,
    for providers that only hold verified addresses and never send it."""
    email = str(claims.get("email") or "").strip().lower()
    if "@" not in email:
        raise SignInFailed("the identity provider sent no e-mail address; add the `email` scope to its client")
    _check_verified(email, claims.get("email_verified"), require_verified)
    role = roles.get(email) or roles.get(email.rsplit("@", 1)[1]) or default
    if role is None:
        raise SignInFailed(f"{email} has no role in vlsearch: ask an admin to add it to the role mapping")
    return User(email, role, AuthMode.OIDC)


def _check_verified(email: str, verified: object, required: bool) -> None:
    if verified is True or (verified is None and not required):
        return
    if verified is None:
        raise SignInFailed(
            f"the identity provider did not say that {email} is verified (its token has no email_verified claim), "
            "so it gets no role; an admin can accept such providers with VLSEARCH_OIDC_REQUIRE_VERIFIED_EMAIL=false"
        )
    if verified is False or str(verified).strip().lower() == "false":
        raise SignInFailed(f"the identity provider has not verified {email}; verify it there, then sign in again")
    raise SignInFailed(
        f"the identity provider sent email_verified = {str(verified)[:40]!r} for {email}, not the boolean true "
        "vlsearch needs, so it gets no role; ask an admin to check the provider's claims"
    )
