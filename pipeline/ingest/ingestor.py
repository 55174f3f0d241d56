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
from collections.abc import Callable, Generator, Iterator, Sequence
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


class _Tally:
    """Results in order, passed on to the progress callback; the expected total grows as items expand."""

    def __init__(self, progress: Progress | None, found: Found | None) -> None:
        self.report = IngestReport()
        self.progress = progress
        self.found = found

    def done(self, result: ItemResult) -> None:
        self.report.results.append(result)
        if self.progress is not None:
            self.progress(result)

    def fail(self, source: str, reason: str) -> None:
        self.done(ItemResult(source, Outcome.FAILED, reason))


@dataclass
class _Slots:
    """Results expected from one source item: one until it turns out to hold more assets."""

    tally: _Tally
    expected: int = 1

    def expect(self, total: int) -> None:
        if total > self.expected and self.tally.found is not None:
            self.tally.found(total - self.expected)
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
    ) -> None:
        self.store = store
        self.ocr = ocr
        self.embedder = embedder
        self.captioner = captioner
        self.limits = limits
        self.batch_size = batch_size
        self.url_policy = url_policy
        self.media = media

    def ingest(
        self, items: Sequence[SourceItem], progress: Progress | None = None, found: Found | None = None
    ) -> IngestReport:
        """Ingest everything; raises only when the store itself fails (what was written stays).

        `progress` gets one result per asset (or per input that failed); each item counts as one
        until `found` is told how many more results it brings.
        """
        tally = _Tally(progress, found)
        first_seen: dict[str, str] = {}
        expanded: list[_Document] = []
        finished: list[_Document] = []
        parts = self._parts(items, tally, expanded)
        try:
            while True:
                batch = list(islice(parts, self.batch_size))
                # A document listed by now handed out its last part already: this batch writes it at the latest.
                finished = list(expanded)
                expanded.clear()
                if batch:
                    self._ingest_batch(batch, first_seen, tally.done)
                for document in finished:
                    self._remove_stale_parts(document)
                    document.close()
                if not batch:
                    break
        finally:
            parts.close()
            for document in finished + expanded:
                document.close()
            if tally.report.count(Outcome.ADDED) or tally.report.count(Outcome.UPDATED):
                self.store.optimize()
        return tally.report

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

    def _ingest_batch(self, batch: Sequence[_Part], first_seen: dict[str, str], done: Progress) -> None:
        stored_by_id, stored_uris = self._stored(batch)
        enrich: list[_Work] = []
        relabel: list[_Work] = []
        for part in batch:
            existing = stored_by_id.get(part.id)
            duplicate_of = first_seen.get(part.id) or (existing.uri if existing and existing.uri != part.uri else None)
            if duplicate_of:
                done(ItemResult(part.source, Outcome.UNCHANGED, f"same content as {duplicate_of}", part.id))
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
                done(ItemResult(part.source, Outcome.UNCHANGED, "", part.id))

        records = self._enrich(enrich, done) + self._relabel(relabel)
        work = {w.part.id: w for w in enrich + relabel}
        writing = self.store.writes_alone() if isinstance(self.store, _SerialisedWrites) else nullcontext()
        try:
            with writing:
                records = self._settle(records, work, done)
                self.store.upsert(records)
        except VlsearchError as error:
            for record in records:
                done(ItemResult(work[record.id].part.source, Outcome.FAILED, f"store write failed: {error}"))
            raise
        for record in records:
            done(ItemResult(work[record.id].part.source, work[record.id].outcome, "", record.id))

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

    def _enrich(self, work: list[_Work], done: Progress) -> list[AssetRecord]:
        read: list[tuple[_Work, _Content, str]] = []
        for w in work:
            try:
                content = w.part.load()
            except BadInput as problem:
                done(ItemResult(w.part.source, Outcome.FAILED, problem.reason))
                continue
            if content.text_layer is not None:
                read.append((w, content, content.text_layer))
                continue
            try:
                read.append((w, content, self.ocr.read(content.image)))
            except Exception as error:  # an OCR runtime error on one image must not stop the batch
                log.warning("OCR failed on %s: %s", w.part.source, error)
                _retry_later(w.part)
                done(ItemResult(w.part.source, Outcome.FAILED, f"OCR failed: {error}"))
        if not read:
            return []
        images = [content.image for _, content, _ in read]
        try:
            captions = self.captioner.caption(images) if self.captioner else [""] * len(read)
            vectors: list[Vector | None] = (
                list(self.embedder.embed_documents(images)) if self.embedder else [None] * len(read)
            )
        except (VlsearchError, RuntimeError, ValueError) as error:
            log.warning("model inference failed for a batch of %d: %s", len(read), error)
            for w, _, _ in read:
                _retry_later(w.part)
                done(ItemResult(w.part.source, Outcome.FAILED, f"model inference failed: {error}"))
            return []
        now = datetime.now(UTC)
        return [
            self._record(w, content, text, caption, vector, now)
            for (w, content, text), caption, vector in zip(read, captions, vectors)
        ]

    def _record(
        self, w: _Work, content: _Content, text: str, caption: str, vector: Vector | None, now: datetime
    ) -> AssetRecord:
        part, image = w.part, content.image
        pdq, quality = pdq_hash(image)
        return AssetRecord(
            id=part.id,
            uri=part.uri,
            sha256=part.sha256,
            width=image.width,
            height=image.height,
            mime=part.mime,
            source_kind=part.kind,
            ocr_text=text,
            caption=caption,
            pdq=pdq,
            pdq_quality=quality,
            thumbnail=thumbnail_jpeg(image, self.limits.thumbnail_px),
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
