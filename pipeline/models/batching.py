"""Micro-batching of query embeddings: concurrent searches share one forward pass.

A GPU embeds a batch of short queries in little more time than one, so under load the API
gathers the queries that arrive within a few milliseconds and runs them together. The
first caller of a batch leads it: it waits out the window (or until the batch is full),
runs the forward pass in its own thread and hands every other caller its rows. No thread
of its own, no polling: callers wait on a condition or on the batch's future.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from PIL import Image

from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.models import Embedder, Models, Query, Vectors


@dataclass
class _Request:
    """One caller's queries and, once its batch has run, their vectors or the failure."""

    queries: list[Query]
    vectors: Future[Vectors] = field(default_factory=Future)


@dataclass
class _Batch:
    """Requests gathered for one forward pass."""

    deadline: float
    requests: list[_Request] = field(default_factory=list)
    size: int = 0  # queries, over all requests
    closed: bool = False


class MicroBatchingEmbedder:
    """An Embedder that runs the queries of concurrent callers arriving within `window_ms` in one forward pass.

    Documents go straight to the inner embedder (ingest batches them already). A forward pass that fails fails
    every caller of its batch with the same exception, except bad input, which is attributed by embedding each
    caller's queries on their own, so one caller's bad query never fails another's search.
    """

    def __init__(self, inner: Embedder, *, window_ms: float, max_batch: int) -> None:
        if window_ms < 0 or max_batch < 1:
            raise ValueError(f"micro-batching needs window_ms >= 0 and max_batch >= 1, not {window_ms} and {max_batch}")
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.window_s = window_ms / 1000
        self.max_batch = max_batch
        self.forward_passes = 0
        self.queries_embedded = 0
        self._condition = threading.Condition()
        self._open: _Batch | None = None

    def embed_documents(self, images: Sequence[Image.Image]) -> Vectors:
        """One vector per image, straight from the inner embedder."""
        return self.inner.embed_documents(images)

    def embed_queries(self, queries: Sequence[Query]) -> Vectors:
        """One vector per query, computed together with the queries of callers arriving at about the same time."""
        request = _Request(list(queries))
        # Checked before joining, so an empty query is this caller's error alone.
        for index, query in enumerate(request.queries):
            if not (query.text or "").strip() and query.image is None:
                raise BadInput(f"query {index}", "a query needs text, an image or both")
        if self.window_s == 0 or not request.queries:
            return self._forward(request.queries)
        with self._condition:
            batch = self._open
            if batch is not None and batch.size + len(request.queries) > self.max_batch:
                self._close(batch)  # no room: its leader runs it now, this caller starts the next one
                batch = None
            leads = batch is None
            if batch is None:
                batch = self._open = _Batch(deadline=time.monotonic() + self.window_s)
            batch.requests.append(request)
            batch.size += len(request.queries)
            if batch.size >= self.max_batch:
                self._close(batch)
        if leads:
            self._lead(batch)
        return request.vectors.result()

    def _close(self, batch: _Batch) -> None:
        """Take the batch out of reach of new callers and wake its leader (the condition must be held)."""
        batch.closed = True
        if self._open is batch:
            self._open = None
        self._condition.notify_all()

    def _lead(self, batch: _Batch) -> None:
        """Wait until the window has passed or the batch is full, then run it."""
        with self._condition:
            while not batch.closed and (remaining := batch.deadline - time.monotonic()) > 0:
                self._condition.wait(remaining)
            self._close(batch)
        self._settle(batch.requests)

    def _settle(self, requests: list[_Request]) -> None:
        """Run the requests in one forward pass and give each its rows, or the failure to all of them.

        Bad input (an image too elongated for the model, say) is attributed by running each request alone.
        """
        try:
            vectors = self._forward([query for request in requests for query in request.queries])
        except BaseException as failure:  # every caller waits on its future: none may be left hanging
            if isinstance(failure, BadInput) and len(requests) > 1:
                for request in requests:
                    self._settle([request])
            else:
                for request in requests:
                    request.vectors.set_exception(failure)
            return
        offset = 0
        for request in requests:
            request.vectors.set_result(vectors[offset : offset + len(request.queries)].copy())
            offset += len(request.queries)

    def _forward(self, queries: list[Query]) -> Vectors:
        vectors = self.inner.embed_queries(queries)
        with self._condition:
            self.forward_passes += 1
            self.queries_embedded += len(queries)
        return vectors


def with_query_batching(models: Models, settings: Settings) -> Models:
    """The models a server uses: concurrent query embeddings micro-batched (as they are, with no embedder or window)."""
    if models.embedder is None or settings.query_batch_window_ms == 0:
        return models
    embedder = MicroBatchingEmbedder(
        models.embedder, window_ms=settings.query_batch_window_ms, max_batch=settings.query_batch_max
    )
    return replace(models, embedder=embedder, notices=list(models.notices))
