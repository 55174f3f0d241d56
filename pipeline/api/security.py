"""Who is calling: a bearer token mapped to a role, checked on every request, counted against the token's request
allowance, and refusals written to the audit log with the token's name.

Open mode (VLSEARCH_AUTH=off) serves requests without a token as the local admin, but only on connections that
arrived at a loopback address: `serve` refuses to bind anything else in that mode, and this check also holds when
the app is mounted some other way."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipeline.access.audit import Action, Outcome
from pipeline.access.auth import AuthMode, Permission, Role, User, client_address, require
from pipeline.api.context import ApiContext, context
from pipeline.api.errors import http_error
from pipeline.errors import PermissionDenied

OPEN_USER = User("local", Role.ADMIN, AuthMode.OFF)
CREATE_TOKEN = "python -m pipeline tokens create --name NAME --role ROLE"
bearer = HTTPBearer(auto_error=False, description=f"an API token from `{CREATE_TOKEN}`")


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ctx: ApiContext = Depends(context),
) -> User:
    """The user behind the request's token (or the open-mode admin), once the request fits their allowance."""
    peer = request.client.host if request.client else None
    address = client_address(request.headers, peer, ctx.settings.trusted_proxies)
    if credentials is not None:
        token = ctx.tokens.authenticate(credentials.credentials)
        if token is None:
            ctx.requests.of(f"address {address}").spend()  # guesses cost the address its allowance (429 past it)
            ctx.audit.record(
                Action.SIGN_IN, actor=f"token from {address}", outcome=Outcome.REFUSED, reason="unknown or revoked"
            )
            raise _unauthorized("the bearer token is unknown or revoked")
        user = token.user()
        key = user.name
    elif ctx.open_access and is_loopback(_local_host(request)):
        user, key = OPEN_USER, f"address {address}"
    else:
        raise _unauthorized(f"send `Authorization: Bearer <token>`; an admin creates one with `{CREATE_TOKEN}`")
    ctx.requests.of(key).spend()
    return user


def allowed(permission: Permission) -> Callable[..., User]:
    """A dependency: the caller, when their role allows `permission`; 403 naming the roles that do, audited."""

    def check(request: Request, user: User = Depends(caller), ctx: ApiContext = Depends(context)) -> User:
        try:
            return require(user, permission)
        except PermissionDenied as error:
            ctx.audit.record(
                Action.API_REQUEST,
                user=user,
                outcome=Outcome.REFUSED,
                route=f"{request.method} {request.url.path}",
                reason=str(error),
            )
            raise

    return check


def _local_host(request: Request) -> str | None:
    server = request.scope.get("server")
    return server[0] if server else None


def _unauthorized(message: str) -> Exception:
    return http_error(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
