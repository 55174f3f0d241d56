"""Stored records of PDF pages and video frames, built directly with the agreed uri and id convention.

Search and display tests use these instead of ingesting real files: what they check is how
hits of pages and frames are grouped and shown, not how the files are read.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

from PIL import Image

from pipeline.records import AssetRecord, SourceKind, asset_id
from tests.store_conformance import make_record


def file_sha(parent_uri: str) -> str:
    return hashlib.sha256(parent_uri.encode()).hexdigest()


def thumbnail() -> bytes:
    """A real (tiny) JPEG, as the app decodes thumbnails to show them."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "gray").save(buffer, format="JPEG")
    return buffer.getvalue()


def page_record(parent_uri: str, page: int, ocr_text: str, metadata: dict[str, str] | None = None) -> AssetRecord:
    """Page `page` (1-based) of the PDF at parent_uri."""
    sha = file_sha(parent_uri)
    return replace(
        make_record(f"page-{page}", ocr_text, metadata=metadata),
        id=asset_id(sha, f"page={page}"),
        uri=f"{parent_uri}#page={page}",
        sha256=sha,
        mime="image/png",
        thumbnail=thumbnail(),
        source_kind=SourceKind.PDF_PAGE,
        parent_uri=parent_uri,
        page=page,
    )


def frame_record(parent_uri: str, timestamp_s: float, ocr_text: str) -> AssetRecord:
    """The frame sampled at timestamp_s from the video at parent_uri."""
    sha = file_sha(parent_uri)
    return replace(
        make_record(f"frame-{timestamp_s}", ocr_text),
        id=asset_id(sha, f"t={timestamp_s:.3f}"),
        uri=f"{parent_uri}#t={timestamp_s:.3f}",
        sha256=sha,
        mime="image/jpeg",
        thumbnail=thumbnail(),
        source_kind=SourceKind.VIDEO_FRAME,
        parent_uri=parent_uri,
        timestamp_s=timestamp_s,
    )


def image_record(name: str, ocr_text: str) -> AssetRecord:
    """A plain image (/collection/<name>.png)."""
    return replace(make_record(name, ocr_text), thumbnail=thumbnail())
