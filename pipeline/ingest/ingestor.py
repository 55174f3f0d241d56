"""Ingest: decode, OCR, caption and embed new or changed assets, and write them in batches.

A source item is an image, a PDF (one asset per page) or a video (one asset per sampled frame).
Pages and frames stream through the same batches as images, so a long video never sits in
memory whole. Each batch is one atomic store commit, so an interrupted run leaves whole records
only and a rerun continues where it stopped (unchanged assets are recognised by content hash).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from io import BufferedReader
from itertools import islice
from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image

from pipeline.config import Settings
from pipeline.errors import BadInput, VlsearchError
from pipeline.formatting import clock
from pipeline.images import DecodedImage, ImageLimits, decode_image, pdq_hash, thumbnail_jpeg
from pipeline.ingest.fetch import UrlPolicy, fetch_url
from pipeline.ingest.local_files import open_regular, path_of_open_file
from pipeline.ingest.pdf import PdfFile, is_pdf
from pipeline.ingest.sources import Collected, SourceItem
from pipeline.ingest.video import VIDEO_MIME_BY_SUFFIX, VideoFile, sniff_video
from pipeline.models import Captioner, Embedder
from pipeline.ocr import OcrEngine
from pipeline.records import AssetRecord, SourceKind, Vector, asset_id
from pipeline.store.base import Store, StoredAsset

log = logging.getLogger(__name__)

TEXT_LAYER = "pdf-text-layer"  # the ocr_model of a page whose text came from the PDF itself
HEAD_BYTES = 1024  # enough to recognise a PDF or a video container
STORED_MEANWHILE = "stored meanwhile by another ingest"
QUEUE_POLL_S = 0.1  # how often a waiting stage looks whether ingest stopped


@runtime_checkable
class _SerialisedWrites(Protocol):
    """A store whose writers take turns (LanceDB's lock file): the ingestor holds the turn from checking which
    assets are stored to writing, so two ingests of one folder never both report an asset as added."""

    def writes_alone(self) -> AbstractContextManager[None]: ...


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
class MediaPolicy:
    """How PDFs and videos become assets (the VLSEARCH_MAX_MEDIA_BYTES, _PDF_* and _VIDEO_* settings)."""

    max_bytes: int = 2 * 1024**3
    pdf_max_pages: int = 1000
    pdf_render_dpi: int = 150
    pdf_min_text_chars: int = 20
    video_fps: float = 1.0
    video_scene_threshold: float = 0.25
    video_max_frames: int = 3600

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPolicy:
        return cls(
            max_bytes=settings.max_media_bytes,
            pdf_max_pages=settings.pdf_max_pages,
            pdf_render_dpi=settings.pdf_render_dpi,
            pdf_min_text_chars=settings.pdf_min_text_chars,
            video_fps=settings.video_fps,
            video_scene_threshold=settings.video_scene_threshold,
            video_max_frames=settings.video_max_frames,
        )


Progress = Callable[[ItemResult], None]
# Called with how many more results to expect, as PDFs and videos turn out to hold several assets.
Found = Callable[[int], None]


@dataclass(frozen=True)
class _Content:
    image: Image.Image
    text_layer: str | None = None  # a PDF page's own text; None means OCR the image


@dataclass(frozen=True)
class _Part:
    """One asset to be: an image, a PDF page or a video frame. Its content is loaded only if it needs work."""

    item: SourceItem
    source: str  # how reports name it: "manual.pdf page 3", "clip.mp4 at 00:01:23"
    uri: str
    sha256: str
    id: str
    kind: SourceKind
    mime: str
    load: Callable[[], _Content]
    document: _Document | None = None  # the PDF or video it is a page or frame of
    page: int | None = None
    timestamp_s: float | None = None


@dataclass(frozen=True)
class _Source:
    """A PDF or video read far enough to know what it is and its content hash.

    A local file stays open (`opened`) until its decoder has opened it through `data`, a name for that open
    file, so the decoder reads the file that was checked and hashed, not whatever the path names by then.
    """

    kind: SourceKind
    data: Path | bytes
    sha256: str
    mime: str
    opened: BufferedReader | None = None

    def release(self) -> None:
        if self.opened is not None:
            self.opened.close()


@dataclass
class _Document:
    """A PDF or video being handed out as parts; once they are all written, stored parts it no longer has go."""

    uri: str
    produced: set[str] = field(default_factory=set)
    # Decoding stopped early, or a part failed in a way a rerun may fix (OCR, models): what this run
    # wrote is not the whole document, so stored parts stay until a run gets every part.
    incomplete: bool = False
    close: Callable[[], None] = lambda: None  # releases what its parts load from (an open PDF)


@dataclass
class _Work:
    part: _Part
    metadata: dict[str, str]
    outcome: Outcome


@dataclass(frozen=True)
class _Read:
    """An asset's content read on the OCR pool: its text (OCR or the PDF's own), PDQ hash and thumbnail."""

    work: _Work
    content: _Content
    text: str
    pdq: tuple[str, int]
    thumbnail: bytes


@dataclass
class _Batch:
    """One store commit on its way through the stages."""

    finished: list[_Document]  # documents whose last part is in this batch or an earlier one
    work: dict[str, _Work] = field(default_factory=dict)  # what is to be written, by asset id
    reads: list[Future[_Read | None]] = field(default_factory=list)  # None: OCR failed, reported already
    records: list[AssetRecord] = field(default_factory=list)


@dataclass(frozen=True)
class _End:
    """No more batches: the stages ran out of items, or one failed with `error`."""

    error: BaseException | None = None


class _Tally:
    """Results in order, passed on to the progress callback; the expected total grows as items expand.

    Stages on other threads report too; their results wait until the thread that called ingest takes them
    (`deliver`), so progress callbacks (a terminal bar, a Streamlit element) only ever run on that thread.
    """

    def __init__(self, progress: Progress | None, found: Found | None) -> None:
        self.report = IngestReport()
        self.progress = progress
        self.found = found
        self._owner = threading.get_ident()
        self._waiting: list[ItemResult | int] = []
        self._lock = threading.Lock()

    def done(self, result: ItemResult) -> None:
        self._event(result)

    def fail(self, source: str, reason: str) -> None:
        self.done(ItemResult(source, Outcome.FAILED, reason))

    def more(self, count: int) -> None:
        self._event(count)

    def _event(self, event: ItemResult | int) -> None:
        with self._lock:
            self._waiting.append(event)
        if threading.get_ident() == self._owner:
            self.deliver()

    def deliver(self) -> None:
        """Hand results (and newly expected counts) reported so far to the callbacks; on the owner's thread."""
        with self._lock:
            events, self._waiting = self._waiting, []
        for event in events:
            if isinstance(event, int):
                if self.found is not None:
                    self.found(event)
                continue
            self.report.results.append(event)
            if self.progress is not None:
                self.progress(event)


@dataclass
class _Slots:
    """Results expected from one source item: one until it turns out to hold more assets."""

    tally: _Tally
    expected: int = 1

    def expect(self, total: int) -> None:
        if total > self.expected:
            self.tally.more(total - self.expected)
        self.expected = max(self.expected, total)


class Ingestor:
    """Turns source items into stored records; a bad item, page or frame is reported and the rest go on."""

    def __init__(
        self,
        store: Store,
        ocr: OcrEngine,
        embedder: Embedder | None,
        captioner: Captioner | None,
        limits: ImageLimits,
        batch_size: int = 16,
        url_policy: UrlPolicy = UrlPolicy(),
        media: MediaPolicy = MediaPolicy(),
        ocr_workers: int = 1,
    ) -> None:
        self.store = store
        self.ocr = ocr
        self.embedder = embedder
        self.captioner = captioner
        self.limits = limits
        self.batch_size = batch_size
        self.url_policy = url_policy
        self.media = media
        self.ocr_workers = ocr_workers

    def ingest(
        self, items: Sequence[SourceItem], progress: Progress | None = None, found: Found | None = None
    ) -> IngestReport:
        """Ingest everything; raises only when the store itself fails (what was written stays).

        `progress` gets one result per asset (or per input that failed); each item counts as one
        until `found` is told how many more results it brings. Both are called on this thread.

        Stages overlap: one thread reads items and plans batches, the OCR pool reads their text, another
        thread runs the models, and this thread writes each batch as one commit, in order. Queues of one
        batch between stages keep at most about five batches of decoded images in memory
        (5 x VLSEARCH_INGEST_BATCH_SIZE), however many items there are or however long a video is.
        """
        tally = _Tally(progress, found)
        documents: list[_Document] = []
        stop = threading.Event()
        planned: queue.Queue[_Batch | _End] = queue.Queue(maxsize=1)
        enriched: queue.Queue[_Batch | _End] = queue.Queue(maxsize=1)
        ocr_pool = ThreadPoolExecutor(max_workers=self.ocr_workers, thread_name_prefix="vlsearch-ocr")
        stages = [
            threading.Thread(
                target=self._plan_stage,
                args=(items, tally, documents, ocr_pool, planned, stop),
                name="vlsearch-ingest-plan",
                daemon=True,
            ),
            threading.Thread(
                target=self._model_stage,
                args=(tally, planned, enriched, stop),
                name="vlsearch-ingest-models",
                daemon=True,
            ),
        ]
        for stage in stages:
            stage.start()
        try:
            while (batch := _take(enriched, tally)) is not None:
                self._write(batch, tally)
                for document in batch.finished:
                    self._remove_stale_parts(document)
                    document.close()
                tally.deliver()
        finally:
            stop.set()
            ocr_pool.shutdown(wait=False, cancel_futures=True)  # a stage waiting on a cancelled read stops now
            for stage in stages:
                stage.join()
            ocr_pool.shutdown(wait=True)
            for document in documents:
                document.close()
            tally.deliver()
            if tally.report.count(Outcome.ADDED) or tally.report.count(Outcome.UPDATED):
                self.store.optimize()
        return tally.report

    def _plan_stage(
        self,
        items: Sequence[SourceItem],
        tally: _Tally,
        documents: list[_Document],
        ocr_pool: Executor,
        planned: queue.Queue[_Batch | _End],
        stop: threading.Event,
    ) -> None:
        """Expand items into parts, sort each batch's parts into unchanged, relabel and enrich, load what needs
        enriching and hand it to the OCR pool; batches go on in order."""
        expanded: list[_Document] = []
        parts = self._parts(items, tally, expanded)
        first_seen: dict[str, str] = {}
        try:
            while not stop.is_set():
                parts_of_batch = list(islice(parts, self.batch_size))
                # A document listed by now handed out its last part already: this batch writes it at the latest.
                documents.extend(expanded)
                batch = _Batch(finished=list(expanded))
                expanded.clear()
                if parts_of_batch:
                    self._plan(batch, parts_of_batch, first_seen, tally, ocr_pool)
                if not _put(planned, batch, stop) or not parts_of_batch:
                    break
            _put(planned, _End(), stop)
        except BaseException as error:  # the writer raises it on its thread
            _put(planned, _End(error), stop)
        finally:
            parts.close()
            documents.extend(expanded)

    def _model_stage(
        self,
        tally: _Tally,
        planned: queue.Queue[_Batch | _End],
        enriched: queue.Queue[_Batch | _End],
        stop: threading.Event,
    ) -> None:
        """Wait for each batch's OCR, then caption and embed it as one batch of model calls."""
        try:
            while (batch := _get(planned, stop)) is not None:
                if isinstance(batch, _End):
                    _put(enriched, batch, stop)
                    return
                if reads := [read for read in (future.result() for future in batch.reads) if read is not None]:
                    batch.records.extend(self._enrich(reads, tally.done))
                if not _put(enriched, batch, stop):
                    return
        except BaseException as error:
            _put(enriched, _End(error), stop)

    # planning a batch -------------------------------------------------------------------------

    def _plan(
        self,
        batch: _Batch,
        parts: Sequence[_Part],
        first_seen: dict[str, str],
        tally: _Tally,
        ocr_pool: Executor,
    ) -> None:
        stored_by_id, stored_uris = self._stored(parts)
        enrich: list[_Work] = []
        relabel: list[_Work] = []
        for part in parts:
            existing = stored_by_id.get(part.id)
            duplicate_of = first_seen.get(part.id) or (existing.uri if existing and existing.uri != part.uri else None)
            if duplicate_of:
                tally.done(ItemResult(part.source, Outcome.UNCHANGED, f"same content as {duplicate_of}", part.id))
                continue
            first_seen[part.id] = part.source
            # Metadata from a manifest overrides; a plain path keeps what an earlier manifest gave.
            metadata = {**(existing.metadata if existing else {}), **part.item.metadata}
            if existing is None:
                outcome = Outcome.UPDATED if part.uri in stored_uris else Outcome.ADDED
                enrich.append(_Work(part, metadata, outcome))
            elif self._needs_enrichment(existing):
                enrich.append(_Work(part, metadata, Outcome.UPDATED))
            elif metadata != existing.metadata:
                relabel.append(_Work(part, metadata, Outcome.UPDATED))
            else:
                tally.done(ItemResult(part.source, Outcome.UNCHANGED, "", part.id))
        batch.work = {w.part.id: w for w in enrich + relabel}
        batch.records.extend(self._relabel(relabel))
        for w in enrich:
            try:
                content = w.part.load()
            except BadInput as problem:
                tally.done(ItemResult(w.part.source, Outcome.FAILED, problem.reason))
                continue
            batch.reads.append(ocr_pool.submit(self._read_content, w, content, tally.done))

    def _read_content(self, w: _Work, content: _Content, done: Progress) -> _Read | None:
        """OCR (or the PDF's own text), PDQ hash and thumbnail: the per-image CPU work, run on the OCR pool."""
        text = content.text_layer
        if text is None:
            try:
                text = self.ocr.read(content.image)
            except Exception as error:  # an OCR runtime error on one image must not stop the batch
                log.warning("OCR failed on %s: %s", w.part.source, error)
                _retry_later(w.part)
                done(ItemResult(w.part.source, Outcome.FAILED, f"OCR failed: {error}"))
                return None
        return _Read(w, content, text, pdq_hash(content.image), thumbnail_jpeg(content.image, self.limits.thumbnail_px))

    # expanding items into parts -------------------------------------------------------------

    def _parts(self, items: Sequence[SourceItem], tally: _Tally, expanded: list[_Document]) -> Generator[_Part]:
        for item in items:
            try:
                source = self._read(item)
            except BadInput as problem:
                tally.fail(item.origin, problem.reason)
                continue
            if isinstance(source, DecodedImage):
                yield _Part(
                    item=item,
                    source=item.origin,
                    uri=item.uri,
                    sha256=source.sha256,
                    id=asset_id(source.sha256),
                    kind=SourceKind.IMAGE,
                    mime=source.mime,
                    load=partial(_Content, source.image),
                )
            else:
                try:
                    if source.kind == SourceKind.PDF_PAGE:
                        yield from self._pdf_parts(item, source, _Slots(tally), expanded)
                    else:
                        yield from self._video_parts(item, source, _Slots(tally), expanded)
                finally:
                    source.release()

    def _read(self, item: SourceItem) -> DecodedImage | _Source:
        """Fetch or open the item; a PDF or video is told from an image by its first bytes, then its declared type."""
        if item.is_url:
            fetched = fetch_url(item.uri, self.url_policy)
            kind, mime = _media_kind(fetched.body[:HEAD_BYTES], fetched.content_type)
            if kind == SourceKind.IMAGE:
                return decode_image(fetched.body, item.uri, max_pixels=self.limits.max_pixels)
            return _Source(kind, fetched.body, hashlib.sha256(fetched.body).hexdigest(), mime)
        return self._read_file(Path(item.uri), item.root)

    def _read_file(self, path: Path, root: Path | None) -> DecodedImage | _Source:
        """Only a regular file (below `root` when it has one) is opened, without blocking; it is read from that
        one open file, so a path swapped meanwhile changes nothing."""
        source = str(path)
        file = open_regular(path, source, root)
        try:
            head = file.read(HEAD_BYTES)
            size = os.fstat(file.fileno()).st_size
            kind, mime = _media_kind(head, _declared_type(path))
            limit = self.limits.max_bytes if kind == SourceKind.IMAGE else self.media.max_bytes
            if size == 0:
                raise BadInput(source, "empty file")
            if size > limit:
                media = "" if kind == SourceKind.IMAGE else " for PDFs and videos"
                raise BadInput(source, f"file is {size:,} bytes, over the {limit:,}-byte limit{media}")
            if kind == SourceKind.IMAGE:
                data = head + file.read(limit + 1 - len(head))
                file.close()
                return decode_image(data, source, max_pixels=self.limits.max_pixels)
            file.seek(0)
            sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        except OSError as error:
            file.close()
            raise BadInput(source, f"cannot read file ({error.strerror or error})") from error
        except BaseException:
            file.close()
            raise
        return _Source(kind, path_of_open_file(file, path), sha256, mime, opened=file)

    def _pdf_parts(
        self, item: SourceItem, source: _Source, slots: _Slots, expanded: list[_Document]
    ) -> Iterator[_Part]:
        try:
            pdf = PdfFile(source.data, item.origin)
        except BadInput as problem:
            slots.tally.fail(item.origin, problem.reason)
            return
        pages = min(pdf.page_count, self.media.pdf_max_pages)
        skipped = pdf.page_count - pages
        slots.expect(pages + (1 if skipped else 0))
        # Pages render when their batch needs them, so the PDF stays open until ingest has written them.
        document = _Document(item.uri, close=pdf.close)
        try:
            for number in range(1, pages + 1):
                part = _Part(
                    item=item,
                    source=f"{item.origin} page {number}",
                    uri=f"{item.uri}#page={number}",
                    sha256=source.sha256,
                    id=asset_id(source.sha256, f"page={number}"),
                    kind=SourceKind.PDF_PAGE,
                    mime=source.mime,
                    load=partial(self._read_page, pdf, number),
                    document=document,
                    page=number,
                )
                document.produced.add(part.id)
                yield part
        except GeneratorExit:  # ingest stopped early (the store failed): nothing will render these pages
            pdf.close()
            raise
        if skipped:
            slots.tally.fail(
                item.origin,
                f"{skipped:,} {'page' if skipped == 1 else 'pages'} after page {pages:,} not ingested: the PDF has "
                f"{pdf.page_count:,} pages, the limit is {pages:,} (VLSEARCH_PDF_MAX_PAGES)",
            )
        expanded.append(document)

    def _read_page(self, pdf: PdfFile, number: int) -> _Content:
        page = pdf.read_page(number, dpi=self.media.pdf_render_dpi, max_pixels=self.limits.max_pixels)
        characters = sum(not char.isspace() for char in page.text)
        return _Content(page.image, page.text if characters >= self.media.pdf_min_text_chars else None)

    def _video_parts(
        self, item: SourceItem, source: _Source, slots: _Slots, expanded: list[_Document]
    ) -> Iterator[_Part]:
        try:
            video = VideoFile(source.data, item.origin)
        except BadInput as problem:
            slots.tally.fail(item.origin, problem.reason)
            return
        document = _Document(item.uri)
        media = self.media
        with video:
            try:
                frames = video.frames(
                    fps=media.video_fps,
                    scene_threshold=media.video_scene_threshold,
                    max_frames=media.video_max_frames,
                    max_pixels=self.limits.max_pixels,
                )
                for frame in frames:
                    slots.expect(len(document.produced) + 1)
                    second = frame.timestamp_s
                    part = _Part(
                        item=item,
                        source=f"{item.origin} at {clock(second)}",
                        uri=f"{item.uri}#t={second:.3f}",
                        sha256=source.sha256,
                        id=asset_id(source.sha256, f"t={second:.3f}"),
                        kind=SourceKind.VIDEO_FRAME,
                        mime=source.mime,
                        load=partial(_Content, frame.image),
                        document=document,
                        timestamp_s=second,
                    )
                    document.produced.add(part.id)
                    yield part
            except BadInput as problem:
                document.incomplete = True
                slots.expect(len(document.produced) + 1)
                slots.tally.fail(item.origin, problem.reason)
        if video.cut_short_at is not None:
            slots.expect(len(document.produced) + 1)
            slots.tally.fail(
                item.origin,
                f"frames after {clock(video.cut_short_at)} not ingested: {media.video_max_frames:,} frames "
                "sampled already (VLSEARCH_VIDEO_MAX_FRAMES)",
            )
        expanded.append(document)

    def _remove_stale_parts(self, document: _Document) -> None:
        """Drop pages or frames at the document's uri that this run did not produce: an older version's,
        or ones the current settings no longer sample.

        Runs after the new parts are written, so a search finds the old version or the new one, never
        neither; and only once a run has produced the whole document, so a failure loses nothing stored.
        """
        if document.incomplete:
            return
        where = "parent_uri = '" + document.uri.replace("'", "''") + "'"
        stored = self.store.count(where)
        if stored:
            ids = self.store.ids_where(where, stored)
            self.store.delete([doc_id for doc_id in ids if doc_id not in document.produced])

    # enriching and writing a batch ----------------------------------------------------------

    def _write(self, batch: _Batch, tally: _Tally) -> None:
        """Write the batch as one commit and report each record; a store failure fails the batch and stops ingest."""
        records, work = batch.records, batch.work
        if not records:
            return
        writing = self.store.writes_alone() if isinstance(self.store, _SerialisedWrites) else nullcontext()
        try:
            with writing:
                records = self._settle(records, work, tally.done)
                self.store.upsert(records)
        except VlsearchError as error:
            for record in records:
                tally.done(ItemResult(work[record.id].part.source, Outcome.FAILED, f"store write failed: {error}"))
            raise
        for record in records:
            tally.done(ItemResult(work[record.id].part.source, work[record.id].outcome, "", record.id))

    def _settle(self, records: list[AssetRecord], work: dict[str, _Work], done: Progress) -> list[AssetRecord]:
        """Check again, right before the write, whether assets this batch is about to add are stored by now.

        Another ingest of the same files may have written them while this one ran OCR and the models: each
        is then reported by the run that wrote it first. Where the store lets writers take turns, this check
        and the write happen in one turn, so the reports of concurrent runs add up to what was stored.
        """
        new = [record.id for record in records if work[record.id].outcome == Outcome.ADDED]
        if not new:
            return records
        stored = {asset.id: asset for asset in self.store.lookup(uris=[], ids=new)}
        kept = []
        for record in records:
            theirs = stored.get(record.id)
            if theirs is None or work[record.id].outcome != Outcome.ADDED:
                kept.append(record)
            elif (theirs.uri, theirs.metadata, theirs.ocr_model, theirs.caption_model, theirs.embed_model) == (
                record.uri,
                record.metadata,
                record.ocr_model,
                record.caption_model,
                record.embed_model,
            ):
                done(ItemResult(work[record.id].part.source, Outcome.UNCHANGED, STORED_MEANWHILE, record.id))
            else:
                work[record.id].outcome = Outcome.UPDATED
                kept.append(record)
        return kept

    def _stored(self, batch: Sequence[_Part]) -> tuple[dict[str, StoredAsset], set[str]]:
        if not batch:
            return {}, set()
        found = self.store.lookup(uris=[part.uri for part in batch], ids=[part.id for part in batch])
        return {asset.id: asset for asset in found}, {asset.uri for asset in found}

    def _needs_enrichment(self, stored: StoredAsset) -> bool:
        """Redo an asset when a model it lacks (or a different one) is available now; never downgrade.

        A page read from its PDF's text layer is as good as OCR gets, so it is never redone for OCR.
        """
        return (
            stored.ocr_model not in (self.ocr.name, TEXT_LAYER)
            or (self.embedder is not None and stored.embed_model != self.embedder.name)
            or (self.captioner is not None and stored.caption_model != self.captioner.name)
        )

    def _enrich(self, reads: list[_Read], done: Progress) -> list[AssetRecord]:
        """Caption and embed a batch, images of similar size together so a GPU batch pads little."""
        if not reads:
            return []
        by_size = sorted(range(len(reads)), key=lambda index: _pixels(reads[index].content.image))
        images = [reads[index].content.image for index in by_size]
        try:
            captions = self.captioner.caption(images) if self.captioner else [""] * len(images)
            vectors: list[Vector | None] = (
                list(self.embedder.embed_documents(images)) if self.embedder else [None] * len(images)
            )
        except (VlsearchError, RuntimeError, ValueError) as error:
            log.warning("model inference failed for a batch of %d: %s", len(reads), error)
            for read in reads:
                _retry_later(read.work.part)
                done(ItemResult(read.work.part.source, Outcome.FAILED, f"model inference failed: {error}"))
            return []
        now = datetime.now(UTC)
        records: list[AssetRecord | None] = [None] * len(reads)
        for index, caption, vector in zip(by_size, captions, vectors):
            records[index] = self._record(reads[index], caption, vector, now)
        return [record for record in records if record is not None]

    def _record(self, read: _Read, caption: str, vector: Vector | None, now: datetime) -> AssetRecord:
        w, content = read.work, read.content
        part, image = w.part, content.image
        pdq, quality = read.pdq
        return AssetRecord(
            id=part.id,
            uri=part.uri,
            sha256=part.sha256,
            width=image.width,
            height=image.height,
            mime=part.mime,
            source_kind=part.kind,
            ocr_text=read.text,
            caption=caption,
            pdq=pdq,
            pdq_quality=quality,
            thumbnail=read.thumbnail,
            metadata=w.metadata,
            ocr_model=TEXT_LAYER if content.text_layer is not None else self.ocr.name,
            caption_model=self.captioner.name if self.captioner else "",
            embed_model=self.embedder.name if self.embedder else "",
            ingested_at=now,
            vector=vector,
            parent_uri=part.document.uri if part.document else None,
            page=part.page,
            timestamp_s=part.timestamp_s,
        )

    def _relabel(self, work: list[_Work]) -> list[AssetRecord]:
        """Metadata-only change: keep the stored OCR, caption and vector."""
        if not work:
            return []
        metadata = {w.part.id: w.metadata for w in work}
        records = self.store.get(list(metadata))
        for record in records:
            record.metadata = metadata[record.id]
        return records


def _pixels(image: Image.Image) -> int:
    return image.width * image.height


def _put(target: queue.Queue[_Batch | _End], item: _Batch | _End, stop: threading.Event) -> bool:
    """Put, waiting for room; False when ingest stopped meanwhile (the writer failed or was interrupted)."""
    while not stop.is_set():
        try:
            target.put(item, timeout=QUEUE_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(source: queue.Queue[_Batch | _End], stop: threading.Event) -> _Batch | _End | None:
    """The next batch, waiting for one; None when ingest stopped meanwhile."""
    while not stop.is_set():
        try:
            return source.get(timeout=QUEUE_POLL_S)
        except queue.Empty:
            continue
    return None


def _take(enriched: queue.Queue[_Batch | _End], tally: _Tally) -> _Batch | None:
    """The writer's next batch, handing on other stages' results while it waits; None at the end, and a
    stage's error raised here."""
    while True:
        try:
            item = enriched.get(timeout=QUEUE_POLL_S)
        except queue.Empty:
            tally.deliver()
            continue
        if isinstance(item, _Batch):
            return item
        if item.error is not None:
            raise item.error
        return None


def _retry_later(part: _Part) -> None:
    if part.document is not None:
        part.document.incomplete = True


def _declared_type(path: Path) -> str:
    """The media type a file's extension claims for PDFs and videos; images are judged by content alone."""
    suffix = path.suffix.lower()
    return "application/pdf" if suffix == ".pdf" else VIDEO_MIME_BY_SUFFIX.get(suffix, "")


def _media_kind(head: bytes, declared: str) -> tuple[SourceKind, str]:
    """What a source holds, by its first bytes and else the type its name or server declares, with its MIME type."""
    if is_pdf(head):
        return SourceKind.PDF_PAGE, "application/pdf"
    if video := sniff_video(head):
        return SourceKind.VIDEO_FRAME, video
    if declared == "application/pdf":
        return SourceKind.PDF_PAGE, declared
    if declared.startswith("video/"):
        return SourceKind.VIDEO_FRAME, declared
    return SourceKind.IMAGE, declared


def ingest_collected(
    ingestor: Ingestor, collected: Collected, progress: Progress | None = None, found: Found | None = None
) -> IngestReport:
    """Ingest what was collected and report the inputs that could not be read as failures beside the rest."""
    report = IngestReport()
    for problem in collected.problems:
        failure = ItemResult(problem.source, Outcome.FAILED, problem.reason)
        report.results.append(failure)
        if progress is not None:
            progress(failure)
    report.results.extend(ingestor.ingest(collected.items, progress, found).results)
    return report
