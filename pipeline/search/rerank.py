"""Rerank stage: the model's relevance probability reorders the top fused hits.

Fused scores are relative to one query and cannot serve as a cutoff; the reranker's
probability can. Scores are cached per (model, query, asset), and a per-query time budget
keeps a slow device from stalling search: what was not scored in time keeps its fused order.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.errors import BadInput, VlsearchError
from pipeline.images import read_image_file
from pipeline.models import Query, RerankDocument, Reranker
from pipeline.records import AssetRecord, Hit


@dataclass
class RerankOutcome:
    hits: list[Hit]
    scored: int
    partial: bool
    dropped: int
    error: str | None = None


class RerankCache:
    """Bounded LRU of scores, so paging through or repeating a query costs no model time.

    Shared by concurrent searches: a lookup that moves an entry while another search evicts it must not fail.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._scores: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: tuple[str, str, str]) -> float | None:
        with self._lock:
            score = self._scores.get(key)
            if score is not None:
                self._scores.move_to_end(key)
                self.hits += 1
            return score

    def put(self, key: tuple[str, str, str], score: float) -> None:
        with self._lock:
            self._scores[key] = score
            self._scores.move_to_end(key)
            while len(self._scores) > self.max_entries:
                self._scores.popitem(last=False)


def query_key(query: Query) -> str:
    """Stable identity of a query's content (text and image pixels)."""
    digest = hashlib.sha256((query.text or "").encode())
    if query.image is not None:
        digest.update(f"{query.image.size}{query.image.mode}".encode())
        digest.update(query.image.tobytes())
    return digest.hexdigest()


def document_image(record: AssetRecord, max_file_bytes: int) -> Image.Image | None:
    """The original when it is a readable local file, else the stored thumbnail."""
    path = Path(record.uri)
    if path.is_file():
        try:
            return read_image_file(path, max_bytes=max_file_bytes, max_pixels=100_000_000).image
        except BadInput:
            pass  # changed or removed since ingest: the thumbnail still shows what was indexed
    try:
        return Image.open(io.BytesIO(record.thumbnail)).convert("RGB")
    except OSError:
        return None  # no usable picture: the reranker still judges caption and OCR text


class RerankStage:
    def __init__(
        self,
        reranker: Reranker,
        *,
        depth: int,
        batch_size: int,
        budget_s: float,
        max_file_bytes: int,
        cache: RerankCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reranker = reranker
        self.depth = depth
        self.batch_size = batch_size
        self.budget_s = budget_s
        self.max_file_bytes = max_file_bytes
        self.cache = cache if cache is not None else RerankCache()
        self.clock = clock

    def apply(self, query: Query, hits: list[Hit], *, min_relevance: float | None = None) -> RerankOutcome:
        """Score the top `depth` hits, order them by probability (fused score breaks ties)."""
        candidates, rest = hits[: self.depth], hits[self.depth :]
        key = query_key(query)
        pending: list[Hit] = []
        for hit in candidates:
            cached = self.cache.get((self.reranker.name, key, hit.record.id))
            if cached is None:
                pending.append(hit)
            else:
                hit.scores.rerank = cached
        started = self.clock()
        partial = False
        error = None
        done = 0
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            # The first batch always runs (a budget set too small still reranks something);
            # later ones only when the time per pair so far says they fit in the budget.
            elapsed = self.clock() - started
            if done and elapsed + elapsed / done * len(chunk) > self.budget_s:
                partial = True
                break
            documents = [
                RerankDocument(
                    image=document_image(hit.record, self.max_file_bytes),
                    caption=hit.record.caption,
                    ocr_text=hit.record.ocr_text,
                )
                for hit in chunk
            ]
            try:
                scores = self.reranker.score(query, documents)
            except VlsearchError as failure:
                partial, error = True, str(failure)
                break
            for hit, score in zip(chunk, scores):
                hit.scores.rerank = score
                self.cache.put((self.reranker.name, key, hit.record.id), score)
            done += len(chunk)
        scored = [hit for hit in candidates if hit.scores.rerank is not None]
        unscored = [hit for hit in candidates if hit.scores.rerank is None] + rest
        scored.sort(key=lambda hit: (-(hit.scores.rerank or 0.0), -hit.scores.fused))
        if min_relevance is None:
            return RerankOutcome(scored + unscored, len(scored), partial, 0, error)
        # A cutoff promises that every hit shown passed it, so unscored hits go too.
        kept = [hit for hit in scored if (hit.scores.rerank or 0.0) >= min_relevance]
        return RerankOutcome(kept, len(scored), partial, len(hits) - len(kept), error)
