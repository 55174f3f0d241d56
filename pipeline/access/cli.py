"""`python -m pipeline users ...`: manage the local users file (accounts, roles, Argon2id password hashes).

Whoever can run this can already read and write the data dir, so the command itself asks for no sign-in;
the file it writes is readable by its owner only."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.access.auth import Role, UsersFile, parse_role
from pipeline.config import Settings
from pipeline.errors import VlsearchError

users_app = typer.Typer(no_args_is_help=True, help="Local users of the app: who may sign in, with which role.")
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
