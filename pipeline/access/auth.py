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
        # Verified against when the name is unknown, so a wrong name costs as much time as a wrong password.
        self._decoy = self.hasher.hash("decoy password")

    # reads -------------------------------------------------------------------------------

    def accounts(self) -> dict[str, Account]:
        return self._read()[0]

    def roles(self) -> dict[str, Role]:
        """The file's OIDC mapping: e-mail or domain (lower-case) -> role."""
        return self._read()[1]

    def account(self, name: str) -> Account | None:
        return self.accounts().get(name)

    def verify(self, name: str, password: str) -> User:
        """The user when the password matches its hash (Argon2id, constant-time compare); SignInFailed otherwise."""
        account = self.account(name)
        try:
            self.hasher.verify(account.password_hash if account else self._decoy, password)
        except (VerificationError, InvalidHashError):
            account = None
        if account is None:
            raise SignInFailed("wrong user name or password")
        return User(account.name, account.role, AuthMode.LOCAL)

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


class SignInThrottle:
    """Per-name lockout: after `max_failures` failures in a row the name is refused for `lockout_s`, and each
    further failure locks it again, so guessing stays at a few tries a minute. Thread-safe; one per process."""

    def __init__(self, max_failures: int, lockout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def check(self, name: str) -> None:
        with self._lock:
            count, last = self._failures.get(name, (0, 0.0))
        wait = last + self.lockout_s - self.clock()
        if count >= self.max_failures and wait > 0:
            raise SignInFailed(
                f"too many failed sign-ins for {name!r}: try again in {max(1, round(wait))} s", retry_after_s=wait
            )

    def failed(self, name: str) -> None:
        with self._lock:
            count, _ = self._failures.get(name, (0, 0.0))
            self._failures[name] = (count + 1, self.clock())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


def sign_in(users: UsersFile, throttle: SignInThrottle, name: str, password: str) -> User:
    """Check the lockout, then the password; a failure counts towards the lockout, a success clears it."""
    name = name.strip()
    throttle.check(name)
    try:
        user = users.verify(name, password)
    except SignInFailed:
        throttle.failed(name)
        raise
    throttle.succeeded(name)
    return user


# OIDC ----------------------------------------------------------------------------------------


def role_mapping(settings: Settings, users: UsersFile) -> dict[str, Role]:
    """The users file's [roles], overridden by VLSEARCH_OIDC_ROLES."""
    mapping = users.roles() if users.path.exists() else {}
    mapping.update({who: parse_role(role, f"VLSEARCH_OIDC_ROLES {who}") for who, role in settings.oidc_roles.items()})
    return mapping


def oidc_user(claims: Mapping[str, Any], roles: Mapping[str, Role], default: Role | None) -> User:
    """The user the identity provider vouched for, with the role their e-mail (else its domain) maps to."""
    email = str(claims.get("email") or "").strip().lower()
    if "@" not in email:
        raise SignInFailed("the identity provider sent no e-mail address; add the `email` scope to its client")
    if claims.get("email_verified") is False:
        raise SignInFailed(f"the identity provider has not verified {email}; verify it there, then sign in again")
    role = roles.get(email) or roles.get(email.rsplit("@", 1)[1]) or default
    if role is None:
        raise SignInFailed(f"{email} has no role in vlsearch: ask an admin to add it to the role mapping")
    return User(email, role, AuthMode.OIDC)
