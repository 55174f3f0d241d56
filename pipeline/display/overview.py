"""What the home page says about a deployment: the collection, the engine, and the model mode in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.services import Services
from pipeline.store import Store

ENGINE_NAMES = {"lancedb": "LanceDB", "weaviate": "Weaviate"}
ENGINE_KINDS = {"lancedb": "embedded, on local disk", "weaviate": "server"}
MODE_NAMES = {"full": "full", "partial": "partial", "ocr+keyword": "OCR + keyword"}
MODE_MEANINGS = {
    "full": "Every asset is OCR'd, captioned and embedded by Qwen3-VL; search fuses BM25 over OCR text and "
    "captions with vector similarity, so a query finds images by meaning as well as by the words in them.",
    "partial": "Some models could not be loaded (see the notice): search uses the ones that were and falls "
    "back to keywords where a model is missing.",
    "ocr+keyword": "No captions and no vectors: assets are found by the text OCR reads in them (BM25), and an "
    "image query matches by the text read from it. Photos without text are only found through their metadata.",
}
INGEST_COMMAND = "vlsearch ingest --manifest samples/manifest.jsonl"


@dataclass(frozen=True)
class Overview:
    count: int
    engine: str
    engine_kind: str
    location: str
    with_vector: int
    with_caption: int
    mode: str
    mode_meaning: str
    rerank_available: bool
    notices: list[str]
    metadata_columns: list[str]
    data_dir: str


def collection_overview(services: Services) -> Overview:
    """Collection size and what produced it, the engine, and what the model mode means for search."""
    stats = services.store.stats()
    mode = services.models.mode
    return Overview(
        count=stats.count,
        engine=ENGINE_NAMES.get(services.store.engine, services.store.engine),
        engine_kind=ENGINE_KINDS.get(services.store.engine, ""),
        location=stats.location,
        with_vector=stats.with_vector,
        with_caption=stats.with_caption,
        mode=MODE_NAMES.get(mode, mode),
        mode_meaning=MODE_MEANINGS.get(mode, ""),
        rerank_available=services.models.reranker is not None,
        notices=[*services.settings.earlier_version_notices(), *services.models.notices],
        metadata_columns=stats.metadata_columns,
        data_dir=str(services.settings.data_dir),
    )


def facet_values(store: Store) -> dict[str, list[tuple[str, int]]]:
    """Every metadata column with its values and counts, most frequent first: the dashboard's filter choices."""
    return {column: store.distinct_values(column) for column in store.metadata_columns()}
