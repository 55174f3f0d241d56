"""One exception family; only the CLI, the app and the API turn these into messages."""

from __future__ import annotations


class VlsearchError(Exception):
    """Base of every error vlsearch raises on purpose."""


class BadInput(VlsearchError):
    """A user-supplied input (file, URL, manifest row, query, filter) was rejected."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ModelUnavailable(VlsearchError):
    """Model weights could not be found locally nor downloaded."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"model {model!r} is unavailable: {reason}")
        self.model = model
        self.reason = reason


class StoreError(VlsearchError):
    """The vector store refused or failed an operation; `reasons` gives each refused record's own, by uri."""

    def __init__(self, message: str, reasons: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or {}


class PermissionDenied(VlsearchError):
    """The caller's role does not allow the action; the message names the roles that do."""

    def __init__(self, who: str, permission: str, needed_roles: list[str]) -> None:
        super().__init__(f"not allowed to {permission}: {who}, and it needs the {' or '.join(needed_roles)} role")
        self.who = who
        self.permission = permission
        self.needed_roles = needed_roles


class SignInFailed(VlsearchError):
    """Wrong name or password, or the name is locked out for a while; `retry_after_s` > 0 when locked.
    `unknown_name` (never shown: the message is the same) lets the app audit guesses at random names sparingly."""

    def __init__(self, message: str, retry_after_s: float = 0.0, *, unknown_name: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.unknown_name = unknown_name


class AuthNotConfigured(VlsearchError):
    """No way to sign in is set up, and running open was not asked for."""


class LimitReached(VlsearchError):
    """A per-user allowance is used up; `retry_after_s` says when the next call fits."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Busy(LimitReached):
    """The process already runs as many model-heavy queries as it may (VLSEARCH_MAX_CONCURRENT_QUERIES): try again
    in `retry_after_s` rather than queue behind them."""


class LeaseConflict(VlsearchError):
    """Another reviewer holds a live lease on a moderation queue item."""

    def __init__(self, item_id: int, holder: str, expires_at: float, until: str) -> None:
        super().__init__(f"item {item_id} is claimed by {holder!r} until {until}")
        self.item_id = item_id
        self.holder = holder
        self.expires_at = expires_at


class RemovalFailed(VlsearchError):
    """A Remove decision could not delete its content; the item stays undecided (and claimed) so it can be retried."""

    def __init__(self, item_id: int, reviewer: str, reason: str) -> None:
        super().__init__(
            f"item {item_id} was not removed: deleting its content failed ({reason}); it stays claimed by "
            f"{reviewer}, try Remove again"
        )
        self.item_id = item_id
        self.reason = reason


class RequestTooLarge(VlsearchError):
    """An HTTP request body is over VLSEARCH_API_MAX_BODY_BYTES; nothing of it was acted on."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over the {limit:,}-byte limit (VLSEARCH_API_MAX_BODY_BYTES)")
        self.limit = limit
