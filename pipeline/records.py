"""The asset record every engine stores, and the search hit every engine returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]

# Fixed namespace: ids must stay stable across machines and releases.
ASSET_NAMESPACE = uuid.UUID("6f0f6b2e-5c1e-4a57-9d0e-7a3c1b9e2d41")


class SourceKind(StrEnum):
    IMAGE = "image"
    PDF_PAGE = "pdf_page"
    VIDEO_FRAME = "video_frame"


def asset_id(sha256: str, part: str | None = None) -> str:
    """Content-addressed id, so re-ingesting the same bytes is a no-op."""
    name = sha256 if part is None else f"{sha256}#{part}"
    return str(uuid.uuid5(ASSET_NAMESPACE, name))


@dataclass
class AssetRecord:
    id: str
    uri: str
    sha256: str
    width: int
    height: int
    mime: str
    source_kind: SourceKind
    ocr_text: str
    caption: str
    pdq: str
    pdq_quality: int
    thumbnail: bytes
    metadata: dict[str, str]
    ocr_model: str
    caption_model: str
    embed_model: str
    ingested_at: datetime
    vector: Vector | None = None
    parent_uri: str | None = None
    page: int | None = None
    timestamp_s: float | None = None


@dataclass(frozen=True)
class AssetSummary:
    """The parts of a record that aggregations read (no thumbnail): what `Store.summaries` returns."""

    id: str
    uri: str
    ingested_at: datetime
    ocr_text: str
    caption: str
    pdq: str
    pdq_quality: int
    metadata: dict[str, str]
    vector: Vector | None = None


@dataclass
class Scores:
    """Every number that placed a hit, so users can see why it ranked where it did."""

    fused: float
    bm25: float | None = None
    vector_distance: float | None = None
    rerank: float | None = None
    visual_pairs: int | None = None  # keypoints agreeing with the query image (pipeline/search/visual.py)
    proximity: float | None = None  # how close together the hit holds the typed words (pipeline/search/proximity.py)
    learned: float | None = None  # added for people's votes on similar queries (pipeline/search/learned.py)
    voted_up: int | None = None  # people who marked it relevant for the same or similar queries
    voted_down: int | None = None  # people who marked it not relevant


@dataclass(frozen=True)
class TimeWindow:
    """The stretch of a video that matched: [start_s, end_s), its matched frames and their summed score."""

    start_s: float
    end_s: float
    frames: int
    score: float


@dataclass
class Hit:
    record: AssetRecord
    scores: Scores = field(default_factory=lambda: Scores(fused=0.0))
    window: TimeWindow | None = None  # set on a video's grouped hit (pipeline/search/windows.py)
