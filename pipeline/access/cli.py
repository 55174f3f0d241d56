"""`python -m pipeline users ...`: manage the local users file (accounts, roles, Argon2id password hashes);
`python -m pipeline tokens ...`: manage the HTTP API's tokens (one per integration, stored as SHA-256 hashes).

Whoever can run this can already read and write the data dir, so the commands themselves ask for no sign-in;
the files they write are readable by their owner only. Creating and revoking a token is audited under the
operating-system account that ran the command."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.access.audit import Action, open_audit_log
from pipeline.access.auth import Role, UsersFile, parse_role
from pipeline.access.tokens import TokenStore, open_tokens
from pipeline.config import Settings
from pipeline.errors import VlsearchError

users_app = typer.Typer(no_args_is_help=True, help="Local users of the app: who may sign in, with which role.")
tokens_app = typer.Typer(no_args_is_help=True, help="HTTP API tokens: one per integration, each with a role.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

RoleOption = Annotated[str, typer.Option("--role", help=f"one of {', '.join(Role)}")]


def _users() -> UsersFile:
    return UsersFile(Settings().users_path)


def _fail(error: VlsearchError) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(2)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command()
def add(
    name: Annotated[str, typer.Argument(help="user name: letters, digits, . _ @ -")],
    role: RoleOption,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Add a user; the password is prompted for (twice) unless --password-stdin."""
    try:
        users = _users()
        account = users.add(name, parse_role(role, "--role"), _password(password_stdin))
    except VlsearchError as error:
        raise _fail(error) from error
    out.print(f"added {escape(account.name)} ({account.role}) to {escape(str(users.path))}")


@users_app.command("list")
def list_users() -> None:
    """Users and roles, then the file's OIDC role mapping: one tab-separated line each."""
    try:
        users = _users()
        accounts, roles = users.accounts(), users.roles()
    except VlsearchError as error:
        raise _fail(error) from error
    # Plain tab-separated lines, for scripts as much as for people.
    for account in accounts.values():
        typer.echo(f"{account.name}\t{account.role}")
    for who, role in roles.items():
        typer.echo(f"{who}\t{role}\t(OIDC)")


@users_app.command()
def remove(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Remove a user; their open app sessions lose access on their next click."""
    try:
        _users().remove(name)
    except VlsearchError as error:
        raise _fail(error) from error
    out.print(f"removed {escape(name)}")


@users_app.command("set-role")
def set_role(name: Annotated[str, typer.Argument(help="user name")], role: RoleOption) -> None:
    """Change a user's role; it applies to their open sessions on their next click."""
    try:
        account = _users().set_role(name, parse_role(role, "--role"))
    except VlsearchError as error:
        raise _fail(error) from error
    out.print(f"{escape(account.name)} is now {account.role}")


# API tokens -----------------------------------------------------------------------------------


def _tokens() -> TokenStore:
    return open_tokens(Settings().data_dir)


def _operator() -> str:
    """Who ran the command, for the audit log: the command line has no sign-in, so the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "cli"


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Option("--name", help="the integration, e.g. zendesk: letters, digits, . _ @ -")],
    role: RoleOption,
) -> None:
    """Create a token and print its secret, once: only its hash is kept."""
    try:
        parsed = parse_role(role, "--role")
        settings = Settings()
        secret = open_tokens(settings.data_dir).create(name, parsed)
        # Audited before the secret is shown: if the log cannot be written, the token stays unusable (nobody has
        # its secret) until it is revoked.
        open_audit_log(settings.data_dir).record(Action.TOKEN_CREATE, actor=_operator(), token=name, role=parsed.value)
    except VlsearchError as error:
        raise _fail(error) from error
    # The notice on stderr, the secret alone on stdout: TOKEN=$(vlsearch tokens create ...) captures just it.
    err.print(f"created token {escape(name)} ({parsed}); it will not be shown again, store it now:")
    typer.echo(secret)


@tokens_app.command("list")
def list_tokens(as_json: Annotated[bool, typer.Option("--json", help="print tokens as JSON")] = False) -> None:
    """Tokens, revoked ones included: name, role, created, last used, revoked (never the secret)."""
    try:
        tokens = _tokens().tokens()
    except VlsearchError as error:
        raise _fail(error) from error
    if as_json:
        sys.stdout.write(json.dumps([token.to_json() for token in tokens], indent=2) + "\n")
        return
    # Plain tab-separated lines, for scripts as much as for people; "-" where a time is not set.
    for token in tokens:
        times = token.to_json()
        row = [
            token.name,
            token.role.value,
            *(times[key] or "-" for key in ("created_at", "last_used_at", "revoked_at")),
        ]
        typer.echo("\t".join(row))


@tokens_app.command("revoke")
def revoke_token(name: Annotated[str, typer.Argument(help="token name")]) -> None:
    """Revoke a token: the API refuses it from its next request on."""
    try:
        settings = Settings()
        token = open_tokens(settings.data_dir).revoke(name)
        open_audit_log(settings.data_dir).record(
            Action.TOKEN_REVOKE, actor=_operator(), token=token.name, role=token.role.value
        )
    except VlsearchError as error:
        raise _fail(error) from error
    out.print(f"revoked token {escape(token.name)}")
