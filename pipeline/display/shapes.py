"""The JSON shapes scripts and integrations read: one pydantic model per shape, shared by the CLI's `--json` output
and the HTTP API's responses, so the two can never drift apart (ARCHITECTURE §7)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.display.results import window_label
from pipeline.records import AssetRecord, Hit
from pipeline.search.explain import why


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoresShape(Shape):
    fused: float
    bm25: float | None
    vector_distance: float | None
    rerank: float | None
    visual_pairs: int | None
    proximity: float | None
    learned: float | None
    voted_up: int | None
    voted_down: int | None


class WindowShape(Shape):
    start_s: float
    end_s: float
    frames: int
    score: float
    label: str


class AssetShape(Shape):
    """A stored asset as callers see it: everything but the vector and the thumbnail bytes."""

    id: str
    uri: str
    metadata: dict[str, str]
    ocr_text: str
    caption: str
    width: int
    height: int
    mime: str
    source_kind: str
    parent_uri: str | None
    page: int | None
    timestamp_s: float | None

    @classmethod
    def of(cls, record: AssetRecord) -> AssetShape:
        return cls(**_asset_fields(record))


class RecordShape(AssetShape):
    """GET /v1/assets/{id}: the asset plus its provenance (which models produced what, when, its PDQ hash)."""

    sha256: str
    pdq: str
    pdq_quality: int
    ocr_model: str
    caption_model: str
    embed_model: str
    ingested_at: str
    has_vector: bool

    @classmethod
    def of(cls, record: AssetRecord) -> RecordShape:
        return cls(
            **_asset_fields(record),
            sha256=record.sha256,
            pdq=record.pdq,
            pdq_quality=record.pdq_quality,
            ocr_model=record.ocr_model,
            caption_model=record.caption_model,
            embed_model=record.embed_model,
            ingested_at=record.ingested_at.isoformat(),
            has_vector=record.vector is not None,
        )


class HitShape(AssetShape):
    """One hit of `search --json` and POST /v1/search, best first."""

    scores: ScoresShape
    window: WindowShape | None
    reasons: list[str]

    @classmethod
    def of_hit(cls, hit: Hit, query_text: str = "") -> HitShape:
        """`query_text`: what keyword search looked for (SearchResult.keyword_text), which the reasons name."""
        scores, window = hit.scores, hit.window
        return cls(
            **_asset_fields(hit.record),
            scores=ScoresShape(
                fused=scores.fused,
                bm25=scores.bm25,
                vector_distance=scores.vector_distance,
                rerank=scores.rerank,
                visual_pairs=scores.visual_pairs,
                proximity=scores.proximity,
                learned=scores.learned,
                voted_up=scores.voted_up,
                voted_down=scores.voted_down,
            ),
            reasons=why(hit, query_text),
            window=None
            if window is None
            else WindowShape(
                start_s=window.start_s,
                end_s=window.end_s,
                frames=window.frames,
                score=window.score,
                label=window_label(window),
            ),
        )


def _asset_fields(record: AssetRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "uri": record.uri,
        "metadata": record.metadata,
        "ocr_text": record.ocr_text,
        "caption": record.caption,
        "width": record.width,
        "height": record.height,
        "mime": record.mime,
        "source_kind": str(record.source_kind),
        "parent_uri": record.parent_uri,
        "page": record.page,
        "timestamp_s": record.timestamp_s,
    }
