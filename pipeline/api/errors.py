"""Every failure answers JSON `{"error": {"code", "message", "field"}}` with the reason the CLI would give; a bug
answers a 500 that says where to look, never a stack trace."""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.errors import (
    AuthNotConfigured,
    BadInput,
    LeaseConflict,
    LimitReached,
    ModelUnavailable,
    PermissionDenied,
    RemovalFailed,
    RequestTooLarge,
    StoreError,
    VlsearchError,
)

log = logging.getLogger(__name__)

# The library's errors, most specific first: (class, HTTP status, code).
STATUS_OF: tuple[tuple[type[VlsearchError], int, str], ...] = (
    (BadInput, 422, "bad_input"),
    (PermissionDenied, 403, "forbidden"),
    (LimitReached, 429, "too_many_requests"),
    (LeaseConflict, 409, "claimed"),
    (RequestTooLarge, 413, "too_large"),
    (ModelUnavailable, 503, "model_unavailable"),
    (StoreError, 503, "store_unavailable"),
    (RemovalFailed, 503, "removal_failed"),
    (AuthNotConfigured, 503, "auth_not_configured"),
)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def http_error(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> HTTPException:
    """An HTTPException whose body is the API's error shape (raised by routes for 401, 404 and the like)."""
    return HTTPException(status, detail=error_body(code, message, field)["error"], headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VlsearchError, _library_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)  # FastAPI's and Starlette's own (404, 405)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _bug)


async def _library_error(request: Request, error: Exception) -> JSONResponse:
    status, code = next(((status, code) for kind, status, code in STATUS_OF if isinstance(error, kind)), (400, "error"))
    headers = {}
    if isinstance(error, LimitReached):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    field = error.source if isinstance(error, BadInput) else None
    return JSONResponse(error_body(code, str(error), field), status_code=status, headers=headers)


async def _http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail
    if not isinstance(detail, dict):  # Starlette's own: an unknown route (404), a wrong method (405)
        phrase = HTTPStatus(error.status_code).phrase
        detail = error_body(phrase.lower().replace(" ", "_"), str(detail or phrase))["error"]
    return JSONResponse({"error": detail}, status_code=error.status_code, headers=error.headers)


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    """Pydantic's findings, one sentence each, the first one's location as the field."""
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    fields = [".".join(str(part) for part in problem.get("loc", ()) if part != "body") for problem in problems]
    message = "; ".join(
        f"{field or 'body'}: {problem.get('msg', 'invalid')}" for field, problem in zip(fields, problems, strict=True)
    )
    return JSONResponse(
        error_body("invalid_request", message or "invalid request", fields[0] if fields else None), status_code=422
    )


async def _bug(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse(
        error_body("internal", "internal error: the server's log has the details"),
        status_code=500,
    )
