"""Prometheus figures for GET /metrics: requests and latency per route, ingest outcomes, model call durations and
rerank batches. One registry per app, so two apps in one process (tests, a worker) never mix their counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.models import Captioner, Embedder, Models, Reranker

MODEL_METHODS = frozenset({"embed_documents", "embed_queries", "caption", "score"})
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vlsearch_http_requests",
            "HTTP requests by route and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "vlsearch_http_request_seconds",
            "HTTP request latency by route",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingest_outcomes = Counter(
            "vlsearch_ingest_outcomes",
            "assets ingested through the API by outcome",
            ("outcome",),
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "vlsearch_model_call_seconds",
            "duration of model calls by role and method",
            ("role", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rerank_batches = Counter(
            "vlsearch_rerank_batches",
            "reranker forward passes (one batch of query-document pairs each)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def instrument(self, models: Models) -> Models:
        """The same models, each call timed (and each rerank batch counted)."""
        return Models(
            embedder=cast(Embedder, self._timed(models.embedder, "embedder")),
            captioner=cast(Captioner, self._timed(models.captioner, "captioner")),
            reranker=cast(Reranker, self._timed(models.reranker, "reranker")),
            notices=models.notices,
        )

    def _timed(self, role: object | None, name: str) -> object | None:
        if role is None:
            return None
        on_call = self.rerank_batches.inc if name == "reranker" else None
        return _TimedRole(role, name, self.model_seconds, on_call)


class _TimedRole:
    """Passes every attribute through; the model methods are timed into a histogram."""

    def __init__(self, inner: object, role: str, histogram: Histogram, on_call: Callable[[], None] | None) -> None:
        self._inner = inner
        self._role = role
        self._histogram = histogram
        self._on_call = on_call

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in MODEL_METHODS:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._on_call is not None:
                self._on_call()
            with self._histogram.labels(self._role, name).time():
                return value(*args, **kwargs)

        return timed


class RequestMetrics:
    """ASGI middleware: counts and times every request under its route's template (/v1/assets/{asset_id}), so an
    id in the path does not create a series per asset; unknown paths count as one "unmatched" route."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
