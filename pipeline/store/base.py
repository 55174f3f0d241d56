"""The Store contract every engine implements, checked by tests/store_conformance.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pipeline.errors import BadInput
from pipeline.records import AssetRecord, AssetSummary, Hit, Vector

# Built-in record fields a filter may use, with their kinds; metadata columns are text.
FILTERABLE_FIELDS: dict[str, str] = {
    "uri": "text",
    "mime": "text",
    "source_kind": "text",
    "parent_uri": "text",
    "width": "number",
    "height": "number",
    "page": "number",
    "timestamp_s": "number",
    "ocr_model": "text",
    "caption_model": "text",
    "embed_model": "text",
}
RESERVED_NAMES = frozenset(FILTERABLE_FIELDS) | {
    "id",
    "sha256",
    "ocr_text",
    "caption",
    "pdq",
    "pdq_quality",
    "thumbnail",
    "metadata",
    "ingested_at",
    "vector",
    "path",
    "url",
}
MIN_CANDIDATES = 100


class Fusion(StrEnum):
    RELATIVE = "relative"
    RANKED = "ranked"


@dataclass(frozen=True)
class StoredAsset:
    """What ingest needs to decide added / updated / unchanged without loading whole records."""

    id: str
    uri: str
    sha256: str
    ocr_model: str
    caption_model: str
    embed_model: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class StoreStats:
    """What `stats` reports: the collection's size, what produced its records, and where it lives."""

    count: int
    engine: str
    location: str
    vector_dim: int
    with_vector: int
    with_caption: int
    metadata_columns: list[str]
    models: dict[str, dict[str, int]]  # ocr_model / caption_model / embed_model -> model name -> records
    source_kinds: dict[str, int]
    indexes: list[str]
    server: dict[str, Any] = field(default_factory=dict)  # a server engine's version and health

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Store(Protocol):
    engine: str

    def upsert(self, records: Sequence[AssetRecord]) -> None:
        """Insert or replace by id, atomically; older records at the same uri are removed."""

    def lookup(self, *, uris: Sequence[str], ids: Sequence[str]) -> list[StoredAsset]:
        """Stored assets whose uri or id is among those given."""

    def get(self, ids: Sequence[str]) -> list[AssetRecord]:
        """Full records (with thumbnail and vector), in the order asked, missing ids left out."""

    def delete(self, ids: Sequence[str]) -> int:
        """Remove by id; returns how many were removed."""

    def count(self, where: str | None = None) -> int: ...

    def ids_where(self, where: str, limit: int) -> list[str]:
        """Ids of up to `limit` records a filter matches, in no particular order (e.g. a document's pages)."""

    def iter_ids(self, batch_size: int = 500) -> Iterator[list[str]]:
        """Every stored id, in batches (for migration and maintenance)."""

    def metadata_columns(self) -> list[str]: ...

    def distinct_values(self, column: str, limit: int = 200) -> list[tuple[str, int]]:
        """Non-empty values of a metadata column with how many assets hold each (for filter pickers and facets)."""

    def keyword_search(self, text: str, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        """BM25 over ocr_text, caption, metadata values and file name: (id, score), best first."""

    def visual_search(self, words: str, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        """BM25 over the stored visual words (visual_words.py): (id, score), best first: candidates that may look
        the same as the query image, for search to verify."""

    def keyword_count(self, text: str, *, where: str | None = None) -> int | None:
        """How many records keyword search finds for `text` (any term), or None where the engine cannot count."""

    def summaries(self, *, where: str | None = None, with_vector: bool = False) -> list[AssetSummary]:
        """Every record a filter matches, without its thumbnail, in id order: what insights aggregate over."""

    def newest(self, *, limit: int, offset: int = 0, where: str | None = None) -> list[AssetRecord]:
        """Records a filter matches, newest first (ingested_at, then id), from `offset`: browsing without a query."""

    def vector_search(self, vector: Vector, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        """Nearest by cosine: (id, cosine distance), nearest first."""

    def hybrid(
        self,
        *,
        text: str | None,
        vector: Vector | None,
        alpha: float,
        limit: int,
        where: str | None = None,
        fusion: Fusion = Fusion.RELATIVE,
    ) -> list[Hit]:
        """Fused keyword + vector search with the semantics of ARCHITECTURE section 4."""

    def optimize(self) -> None:
        """Bring indexes up to date after writes."""

    def stats(self) -> StoreStats: ...

    def close(self) -> None:
        """Release files and connections; the store is not used afterwards. Safe to call twice."""


def top_values(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    """Most frequent first, ties by value, so both engines list facet values in the same order."""
    ranked = sorted(((value, count) for value, count in counts.items() if value), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]


def check_column(column: str, known: Sequence[str]) -> None:
    """Refuse a column the collection does not have, naming the ones it has."""
    if column not in known:
        raise BadInput(f"column {column!r}", f"not a metadata column (known: {', '.join(known) or 'none'})")
