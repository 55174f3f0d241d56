"""The FastAPI application: routers, error handlers, the body limit and metrics middleware, and the context built
once at startup (models load lazily on first use, as everywhere else)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.api.context import ApiContext, build_context
from pipeline.api.errors import error_body, install_error_handlers
from pipeline.api.metrics import ApiMetrics, RequestMetrics
from pipeline.api.routes import assets, insights, moderation, search, service, vectorizer
from pipeline.config import Settings
from pipeline.errors import RequestTooLarge

API_VERSION = "1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over `settings` (default: from the environment and the config file, as the CLI reads them)."""
    settings = settings or Settings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built: ApiContext = build_context(settings, metrics)
        app.state.context = built
        try:
            yield
        finally:
            built.close()

    app = FastAPI(
        title="vlsearch",
        version=API_VERSION,
        summary="Image-and-text hybrid search for helpdesks, upload pipelines and Weaviate",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (search.router, insights.router, assets.router, moderation.router, service.router, vectorizer.router):
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


class BodyLimit:
    """413 for a body over `max_bytes`: at once from Content-Length, or as soon as a streamed body passes it
    (the route's read fails with RequestTooLarge before anything was acted on)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise RequestTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body("too_large", str(RequestTooLarge(limit)))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
