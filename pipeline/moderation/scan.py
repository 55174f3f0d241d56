"""Scan uploads: match each against the library and the rules, and queue those that match for review."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import BadInput
from pipeline.images import DecodedImage, ImageLimits, read_image_file, thumbnail_jpeg
from pipeline.ingest.sources import SourceItem
from pipeline.moderation.matching import Match, Matcher
from pipeline.moderation.queue import Enqueued, ReviewQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanResult:
    source: str
    matches: tuple[Match, ...] = ()
    queued: Enqueued | None = None
    error: str = ""


def describe_scan(results: Sequence[ScanResult]) -> str:
    """One line for whoever uploaded: how many uploads wait for a moderator and which could not be checked;
    empty when every upload was checked and none matched."""
    queued = [result for result in results if result.queued is not None]
    failed = [result for result in results if result.error]
    parts = []
    if queued:
        named = ", ".join(f"{result.source} ({result.matches[0].category})" for result in queued)
        parts.append(f"{len(queued)} of {len(results)} queued for moderation review: {named}")
    if failed:
        named = "; ".join(f"{result.source}: {result.error}" for result in failed)
        parts.append(f"{len(failed)} could not be checked for moderation ({named})")
    return ". ".join(parts) + ("." if parts else "")


class Scanner:
    def __init__(self, matcher: Matcher, queue: ReviewQueue, limits: ImageLimits) -> None:
        self.matcher = matcher
        self.queue = queue
        self.limits = limits

    def scan(
        self, items: Sequence[SourceItem], progress: Callable[[ScanResult], None] | None = None
    ) -> list[ScanResult]:
        """Scan local files; an unreadable file is reported and the scan goes on (a queue failure stops it)."""
        results = []
        for item in items:
            try:
                if item.is_url:
                    raise BadInput(item.origin, "scan reads local files; download the image first")
                decoded = read_image_file(
                    Path(item.uri), max_bytes=self.limits.max_bytes, max_pixels=self.limits.max_pixels
                )
            except BadInput as problem:
                result = ScanResult(item.origin, error=problem.reason)
            else:
                result = self.scan_image(decoded, item.uri, item.origin)
            results.append(result)
            if progress is not None:
                progress(result)
        return results

    def scan_image(self, decoded: DecodedImage, uri: str | Callable[[], str], source: str | None = None) -> ScanResult:
        """Match one decoded image and queue it when anything matched. `uri` may be a function that keeps the image
        and says where (an API upload is written to the uploads folder only when it has to be reviewed)."""
        source = source or (uri if isinstance(uri, str) else "upload")
        try:
            matches = self.matcher.match(decoded.image)
        except Exception as error:  # OCR or a model failing on one image must not stop the scan
            log.warning("matching failed on %s: %s", source, error)
            return ScanResult(source, error=f"matching failed: {error}")
        if not matches:
            return ScanResult(source)
        queued = self.queue.enqueue(
            uri=uri if isinstance(uri, str) else uri(),
            sha256=decoded.sha256,
            thumbnail=thumbnail_jpeg(decoded.image, self.limits.thumbnail_px),
            matches=matches,
        )
        return ScanResult(source, tuple(matches), queued)
