"""One exception family; only the CLI and the app turn these into messages."""

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
    """The vector store refused or failed an operation."""
