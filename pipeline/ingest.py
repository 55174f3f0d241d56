"""Ingest: decode, OCR, caption and embed new or changed assets, and write them in batches.

Each batch is one atomic store commit, so an interrupted run leaves whole records only and a
rerun continues where it stopped (unchanged assets are recognised by content hash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path

from pipeline.errors import BadInput, VlsearchError
from pipeline.fetch import UrlPolicy, fetch_url
from pipeline.images import DecodedImage, decode_image, pdq_hash, read_image_file, thumbnail_jpeg
from pipeline.models import Captioner, Embedder
from pipeline.ocr import OcrEngine
from pipeline.records import AssetRecord, SourceKind, Vector, asset_id
from pipeline.sources import Collected, SourceItem
from pipeline.store.base import Store, StoredAsset

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class ItemResult:
    source: str
    outcome: Outcome
    reason: str = ""
    id: str | None = None


@dataclass
class IngestReport:
    results: list[ItemResult] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def failures(self) -> list[ItemResult]:
        return [result for result in self.results if result.outcome == Outcome.FAILED]

    def summary(self) -> dict[str, int]:
        return {outcome.value: self.count(outcome) for outcome in Outcome}


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    thumbnail_px: int = 256


Progress = Callable[[ItemResult], None]


@dataclass
class _Work:
    item: SourceItem
    image: DecodedImage
    id: str
    metadata: dict[str, str]
    outcome: Outcome


class Ingestor:
    """Turns source items into stored records; a bad item is reported and the batch goes on."""

    def __init__(
        self,
        store: Store,
        ocr: OcrEngine,
        embedder: Embedder | None,
        captioner: Captioner | None,
        limits: ImageLimits,
        batch_size: int = 16,
        url_policy: UrlPolicy = UrlPolicy(),
    ) -> None:
        self.store = store
        self.ocr = ocr
        self.embedder = embedder
        self.captioner = captioner
        self.limits = limits
        self.batch_size = batch_size
        self.url_policy = url_policy

    def ingest(self, items: Sequence[SourceItem], progress: Progress | None = None) -> IngestReport:
        """Ingest everything; raises only when the store itself fails (what was written stays)."""
        report = IngestReport()

        def done(result: ItemResult) -> None:
            report.results.append(result)
            if progress is not None:
                progress(result)

        first_seen: dict[str, str] = {}
        try:
            for start in range(0, len(items), self.batch_size):
                self._ingest_batch(items[start : start + self.batch_size], first_seen, done)
        finally:
            if report.count(Outcome.ADDED) or report.count(Outcome.UPDATED):
                self.store.optimize()
        return report

    def _ingest_batch(self, batch: Sequence[SourceItem], first_seen: dict[str, str], done: Progress) -> None:
        decoded: list[tuple[SourceItem, DecodedImage]] = []
        for item in batch:
            try:
                decoded.append((item, self._decode(item)))
            except BadInput as problem:
                done(ItemResult(item.origin, Outcome.FAILED, problem.reason))
        stored_by_id, stored_uris = self._stored(decoded)

        enrich: list[_Work] = []
        relabel: list[_Work] = []
        for item, image in decoded:
            doc_id = asset_id(image.sha256)
            existing = stored_by_id.get(doc_id)
            duplicate_of = first_seen.get(doc_id) or (existing.uri if existing and existing.uri != item.uri else None)
            if duplicate_of:
                done(ItemResult(item.origin, Outcome.UNCHANGED, f"same content as {duplicate_of}", doc_id))
                continue
            first_seen[doc_id] = item.origin
            # Metadata from a manifest overrides; a plain path keeps what an earlier manifest gave.
            metadata = {**(existing.metadata if existing else {}), **item.metadata}
            if existing is None:
                outcome = Outcome.UPDATED if item.uri in stored_uris else Outcome.ADDED
                enrich.append(_Work(item, image, doc_id, metadata, outcome))
            elif self._needs_enrichment(existing):
                enrich.append(_Work(item, image, doc_id, metadata, Outcome.UPDATED))
            elif metadata != existing.metadata:
                relabel.append(_Work(item, image, doc_id, metadata, Outcome.UPDATED))
            else:
                done(ItemResult(item.origin, Outcome.UNCHANGED, "", doc_id))

        records = self._enrich(enrich, done) + self._relabel(relabel)
        work = {w.id: w for w in enrich + relabel}
        try:
            self.store.upsert(records)
        except VlsearchError as error:
            for record in records:
                done(ItemResult(work[record.id].item.origin, Outcome.FAILED, f"store write failed: {error}"))
            raise
        for record in records:
            done(ItemResult(work[record.id].item.origin, work[record.id].outcome, "", record.id))

    def _decode(self, item: SourceItem) -> DecodedImage:
        if item.is_url:
            data = fetch_url(item.uri, self.url_policy).body
            return decode_image(data, item.uri, max_pixels=self.limits.max_pixels)
        return read_image_file(Path(item.uri), max_bytes=self.limits.max_bytes, max_pixels=self.limits.max_pixels)

    def _stored(self, decoded: Sequence[tuple[SourceItem, DecodedImage]]) -> tuple[dict[str, StoredAsset], set[str]]:
        if not decoded:
            return {}, set()
        found = self.store.lookup(
            uris=[item.uri for item, _ in decoded], ids=[asset_id(image.sha256) for _, image in decoded]
        )
        return {asset.id: asset for asset in found}, {asset.uri for asset in found}

    def _needs_enrichment(self, stored: StoredAsset) -> bool:
        """Redo an asset when a model it lacks (or a different one) is available now; never downgrade."""
        return (
            stored.ocr_model != self.ocr.name
            or (self.embedder is not None and stored.embed_model != self.embedder.name)
            or (self.captioner is not None and stored.caption_model != self.captioner.name)
        )

    def _enrich(self, work: list[_Work], done: Progress) -> list[AssetRecord]:
        read: list[tuple[_Work, str]] = []
        for w in work:
            try:
                read.append((w, self.ocr.read(w.image.image)))
            except Exception as error:  # an OCR runtime error on one image must not stop the batch
                log.warning("OCR failed on %s: %s", w.item.origin, error)
                done(ItemResult(w.item.origin, Outcome.FAILED, f"OCR failed: {error}"))
        if not read:
            return []
        images = [w.image.image for w, _ in read]
        try:
            captions = self.captioner.caption(images) if self.captioner else [""] * len(read)
            vectors: list[Vector | None] = (
                list(self.embedder.embed_documents(images)) if self.embedder else [None] * len(read)
            )
        except (VlsearchError, RuntimeError, ValueError) as error:
            log.warning("model inference failed for a batch of %d: %s", len(read), error)
            for w, _ in read:
                done(ItemResult(w.item.origin, Outcome.FAILED, f"model inference failed: {error}"))
            return []
        now = datetime.now(timezone.utc)
        return [
            self._record(w, text, caption, vector, now)
            for (w, text), caption, vector in zip(read, captions, vectors)
        ]

    def _record(self, w: _Work, text: str, caption: str, vector: Vector | None, now: datetime) -> AssetRecord:
        pdq, quality = pdq_hash(w.image.image)
        return AssetRecord(
            id=w.id,
            uri=w.item.uri,
            sha256=w.image.sha256,
            width=w.image.width,
            height=w.image.height,
            mime=w.image.mime,
            source_kind=SourceKind.IMAGE,
            ocr_text=text,
            caption=caption,
            pdq=pdq,
            pdq_quality=quality,
            thumbnail=thumbnail_jpeg(w.image.image, self.limits.thumbnail_px),
            metadata=w.metadata,
            ocr_model=self.ocr.name,
            caption_model=self.captioner.name if self.captioner else "",
            embed_model=self.embedder.name if self.embedder else "",
            ingested_at=now,
            vector=vector,
        )

    def _relabel(self, work: list[_Work]) -> list[AssetRecord]:
        """Metadata-only change: keep the stored OCR, caption and vector."""
        if not work:
            return []
        metadata = {w.id: w.metadata for w in work}
        records = self.store.get(list(metadata))
        for record in records:
            record.metadata = metadata[record.id]
        return records


def ingest_collected(ingestor: Ingestor, collected: Collected, progress: Progress | None = None) -> IngestReport:
    """Ingest what was collected and report the inputs that could not be read as failures beside the rest."""
    report = IngestReport()
    for problem in collected.problems:
        failure = ItemResult(problem.source, Outcome.FAILED, problem.reason)
        report.results.append(failure)
        if progress is not None:
            progress(failure)
    report.results.extend(ingestor.ingest(collected.items, progress).results)
    return report
