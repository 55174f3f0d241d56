"""Vector stores behind one protocol; `build_store` picks the engine from settings."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.errors import StoreError
from pipeline.store.base import Fusion, Store, StoredAsset, StoreStats

__all__ = ["Fusion", "Store", "StoreStats", "StoredAsset", "build_store"]


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
            from pipeline.store.weaviate_engine import WeaviateStore
            from pipeline.store.weaviate_schema import load_spec

            if not settings.weaviate_url:
                raise StoreError("VLSEARCH_STORE=weaviate needs VLSEARCH_WEAVIATE_URL, e.g. http://localhost:8080")
            spec = load_spec(settings.weaviate_schema_file, settings.weaviate_profile).with_overrides(
                quantization=settings.weaviate_quantization,
                replication_factor=settings.weaviate_replication_factor,
                shard_count=settings.weaviate_shards,
            )
            return WeaviateStore(
                settings.weaviate_url,
                api_key=settings.weaviate_api_key.get_secret_value() if settings.weaviate_api_key else None,
                grpc_port=settings.weaviate_grpc_port,
                collection=settings.collection,
                dim=settings.embed_dim,
                spec=spec,
                timeout_s=settings.weaviate_timeout_s,
                ready_timeout_s=settings.weaviate_ready_timeout_s,
                consistency=settings.weaviate_consistency,
            )
        case other:
            raise ValueError(f"unknown engine {other!r}")
