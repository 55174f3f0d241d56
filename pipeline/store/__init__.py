"""Vector stores behind one protocol; `build_store` picks the engine from settings."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.errors import StoreError
from pipeline.store.base import Fusion, Store, StoredAsset

__all__ = ["Fusion", "Store", "StoredAsset", "build_store"]


def build_store(settings: Settings) -> Store:
    """The configured engine, opened and ready."""
    match settings.store:
        case "lancedb":
            from pipeline.store.lance_engine import LanceStore

            return LanceStore(
                settings.lance_dir,
                table=settings.collection,
                dim=settings.embed_dim,
                ann_min_rows=settings.ann_min_rows,
            )
        case "weaviate":
            raise StoreError("the Weaviate engine is not available in this release; use VLSEARCH_STORE=lancedb")
        case other:
            raise ValueError(f"unknown engine {other!r}")
