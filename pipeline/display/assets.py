"""One stored asset as the app shows it: the best image at hand, its fields, a short title, and for a
PDF page or video frame the document or video it came from (to open the page, or play the video).
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from pipeline.errors import BadInput
from pipeline.formatting import clock, file_name, is_url, whole_seconds
from pipeline.ingest.pdf import render_page
from pipeline.records import AssetRecord, Hit, SourceKind
from pipeline.search.rerank import document_image

PAGE_MAX_SIDE = 1600  # a page shown large: body text readable, the image still quick to send
# Streamlit reads a played local file whole into the server's memory, on every rerun that shows the player.
PLAYER_MAX_BYTES = 512 * 1024**2
DEFAULT_MIME = {SourceKind.PDF_PAGE: "application/pdf", SourceKind.VIDEO_FRAME: "video/mp4"}


@dataclass(frozen=True)
class Parent:
    """The PDF or video a page or frame came from, as this server can offer it to a browser.

    At most one of `path` (a readable file here), `url` (an address the browser opens itself)
    and `problem` (why neither, in words for the user) is set.
    """

    uri: str
    name: str
    kind: SourceKind
    mime: str
    path: Path | None = None
    url: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class AssetView:
    image: Image.Image | None
    original: bool
    fields: list[tuple[str, str]]
    note: str = ""  # what the image is: the original, a rendered page, or the stored thumbnail and why
    parent: Parent | None = None


def parent_of(record: AssetRecord) -> Parent | None:
    """The document or video of a page or frame (None for an image), and whether it can be opened from here."""
    if record.source_kind == SourceKind.IMAGE or not record.parent_uri:
        return None
    uri = record.parent_uri
    name = file_name(uri)
    parent = Parent(
        uri=uri,
        name=name,
        kind=record.source_kind,
        mime=mimetypes.guess_type(name)[0] or DEFAULT_MIME[record.source_kind],
    )
    if is_url(uri):
        return replace(parent, url=uri)
    path = Path(uri)
    if not (path.is_file() and os.access(path, os.R_OK)):
        return replace(parent, problem=f"{uri} is not readable on this server (moved or deleted since ingest)")
    size = path.stat().st_size
    if record.source_kind == SourceKind.VIDEO_FRAME and size > PLAYER_MAX_BYTES:
        return replace(
            parent,
            problem=(
                f"{name} is {size / 1024**2:,.0f} MB: the app plays videos up to {PLAYER_MAX_BYTES / 1024**2:,.0f} MB, "
                f"open {uri} in a player instead"
            ),
        )
    return replace(parent, path=path)


def asset_view(record: AssetRecord, *, max_file_bytes: int, page_max_side: int = PAGE_MAX_SIDE) -> AssetView:
    """The best picture at hand and every built-in field.

    A PDF page is rendered from its document when that is a readable local file; an image is
    the original when its uri is one; anything else shows the stored thumbnail. URLs are not
    fetched for display (slow, and the source may have changed since ingest).
    """
    parent = parent_of(record)
    if record.source_kind == SourceKind.PDF_PAGE and parent is not None and parent.path is not None:
        try:
            page = render_page(parent.path, record.page or 1, max_side=page_max_side)
            return AssetView(page, True, asset_fields(record), f"page {record.page} of {parent.name}", parent)
        except BadInput as error:  # changed since ingest: the thumbnail still shows what was indexed
            parent = replace(parent, path=None, problem=str(error))
    image = document_image(record, max_file_bytes)
    original = (
        record.source_kind == SourceKind.IMAGE and image is not None and image.size == (record.width, record.height)
    )
    if original:
        note = "original"
    elif parent is not None and parent.url is not None:
        note = f"stored thumbnail ({parent.name} is at a URL, not on this server)"
    elif parent is not None and record.source_kind == SourceKind.VIDEO_FRAME:
        note = f"stored thumbnail of the frame at {clock(record.timestamp_s or 0.0)}"
    else:
        note = "stored thumbnail (the original is not readable here)"
    return AssetView(image=image, original=original, fields=asset_fields(record), note=note, parent=parent)


def player_span(hit: Hit) -> tuple[int, int | None]:
    """Whole seconds the player starts at and pauses at: the hit's time window (start rounded down, end up).

    Streamlit's player takes whole seconds; without a window it starts at the frame and plays on.
    """
    if hit.window is None:
        return whole_seconds(hit.record.timestamp_s or 0.0), None
    return whole_seconds(hit.window.start_s), whole_seconds(hit.window.end_s, round_up=True)


def asset_fields(record: AssetRecord) -> list[tuple[str, str]]:
    """Built-in fields as (name, text) rows; optional ones only when set."""
    fields = [
        ("id", record.id),
        ("uri", record.uri),
        ("sha256", record.sha256),
        ("size", f"{record.width} × {record.height}"),
        ("mime", record.mime),
        ("source kind", str(record.source_kind)),
        ("ocr model", record.ocr_model or "—"),
        ("caption model", record.caption_model or "—"),
        ("embed model", record.embed_model or "—"),
        ("ingested at", record.ingested_at.isoformat(timespec="seconds")),
        ("pdq quality", str(record.pdq_quality)),
    ]
    optional = [("parent uri", record.parent_uri), ("page", record.page), ("timestamp (s)", record.timestamp_s)]
    return fields + [(name, str(value)) for name, value in optional if value is not None]


def fit_width(record: AssetRecord, *, max_width: int, max_height: int) -> int:
    """Display width that keeps the picture within the box, so cards of tall and wide assets line up."""
    if record.width <= 0 or record.height <= 0:
        return max_width
    return max(1, min(max_width, round(max_height * record.width / record.height)))
