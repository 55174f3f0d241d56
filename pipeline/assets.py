"""One stored asset as the app shows it: the best image at hand, its fields and a short title."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.records import AssetRecord
from pipeline.search.rerank import document_image


@dataclass(frozen=True)
class AssetView:
    image: Image.Image | None
    original: bool
    fields: list[tuple[str, str]]


def asset_view(record: AssetRecord, *, max_file_bytes: int) -> AssetView:
    """The original when its uri is a readable local file, else the stored thumbnail, and every built-in field.

    URLs are not fetched for display (slow, and the source may have changed since ingest).
    """
    image = document_image(record, max_file_bytes)
    original = image is not None and image.size == (record.width, record.height)
    return AssetView(image=image, original=original, fields=asset_fields(record))


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


def asset_title(record: AssetRecord) -> str:
    """A short name for cards: the ticket id when the asset is a ticket, else the file name."""
    return record.metadata.get("ticket_id") or Path(record.uri.rstrip("/")).name or record.id


def fit_width(record: AssetRecord, *, max_width: int, max_height: int) -> int:
    """Display width that keeps the picture within the box, so cards of tall and wide assets line up."""
    if record.width <= 0 or record.height <= 0:
        return max_width
    return max(1, min(max_width, round(max_height * record.width / record.height)))
