"""Server engine: Weaviate through weaviate-client v4.

The collection is defined by weaviate/collection.toml (see weaviate_schema.py). Objects use
the record id as their uuid, the vector is the self-provided named vector "default", and
keyword search is BM25F over the analysed copies `ocr_tokens` / `caption_tokens` and
`label_tokens` (metadata values and the file name; queries go through the same
analyzer.search_tokens as the documents). Hybrid search runs on the server
(`query.hybrid` with explicit alpha and fusion type); the per-hit figures that explain a
hybrid hit are filled in as follows (the arithmetic and the parsing of Weaviate's explain_score
text live in weaviate_scores.py, which says why and where the text formats come from):
- fused: Weaviate's score. Scores travel as float32, so ranked fusion is recomputed in
  float64 from the ranks Weaviate reports in explain_score (the same numbers as
  pipeline/store/fusion.py), and relative fusion is clamped to [0, 1].
- bm25: the "original score" of the keyword result set in explain_score; with ranked
  fusion (whose explanation has no scores) one extra BM25 query restricted to those hits.
- vector_distance: cosine distance computed here from the stored vector returned with the
  hit, for hits that came from the vector result set.
If explain_score does not parse, bm25 and vector_distance are None (one warning per query)
and the fused score and order are Weaviate's own.
Writes are not atomic across objects as they are in LanceDB: new objects are imported
first and older objects at the same uri are deleted only once their replacement is in.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.config import ConsistencyLevel
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery, Sort
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import WeaviateBaseError

import weaviate
from pipeline.errors import BadInput, StoreError
from pipeline.records import AssetRecord, AssetSummary, Hit, Scores, SourceKind, Vector
from pipeline.store.analyzer import label_text, search_tokens
from pipeline.store.base import Fusion, StoredAsset, StoreStats, check_column, top_values
from pipeline.store.visual_words import visual_words
from pipeline.store.weaviate_filters import numeric_value, parse_weaviate_filter
from pipeline.store.weaviate_schema import CollectionSpec, PropertySpec, create_arguments, load_spec
from pipeline.store.weaviate_scores import (
    Explained,
    fused_score,
    in_side,
    parse_explain,
    server_alpha,
    side_weights,
)

log = logging.getLogger(__name__)

DEFAULT_GRPC_PORT = 50051
LABELS = "label_tokens"  # analysed metadata values and file name, searched with the text
VISUAL_WORDS = "visual_words"  # the thumbnail's ORB words (visual_words.py), searched by image queries alone
MIN_SERVER_VERSION = (1, 33, 0)  # Not and ContainsNone filters
LOOKUP_BATCH = 500
FETCH_LIMIT = 4 * LOOKUP_BATCH  # several objects may share a uri until the stale ones are deleted
FILTERED_LISTING_MAX = 10_000  # the server's default QUERY_MAXIMUM_RESULTS: the most one filtered listing returns
COLUMNS_MAX_AGE_S = 30.0
TRANSIENT_MARKERS = (
    "timeout",
    "timed out",
    "deadline",
    "unavailable",
    "connection",
    "reset by peer",
    "too many",
    "resource exhausted",
    "rate limit",
    "429",
    "502",
    "503",
    "504",
    "temporar",
    "try again",
    "not ready",
)
_REFUSED = re.compile(r"\b(?:401|403)\b|unauthori[sz]ed|forbidden|anonymous access", re.IGNORECASE)


class WeaviateStore:
    """Store protocol over one Weaviate collection."""

    engine = "weaviate"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        grpc_port: int | None = None,
        collection: str = "assets",
        dim: int = 2048,
        spec: CollectionSpec | None = None,
        timeout_s: float = 30.0,
        insert_timeout_s: float = 120.0,
        ready_timeout_s: float = 30.0,
        batch_size: int = 100,
        insert_retries: int = 3,
        consistency: str = "QUORUM",
    ) -> None:
        self.url = url
        self.dim = dim
        self.spec = spec or load_spec()
        self.name = collection[:1].upper() + collection[1:]  # Weaviate capitalises collection names
        self.batch_size = batch_size
        self.insert_retries = insert_retries
        try:
            # Every read and write of this store names its consistency level (see weaviate/README.md).
            self.consistency = ConsistencyLevel(consistency.upper())
        except ValueError as error:
            wanted = "ONE, QUORUM or ALL"
            raise StoreError(f"the Weaviate consistency level must be {wanted}, got {consistency!r}") from error
        self._client = self._connect(url, api_key, grpc_port, timeout_s, insert_timeout_s, ready_timeout_s)
        try:
            self._collection = self._open_collection().with_consistency_level(self.consistency)
            self._columns: list[str] = []
            self._columns_read_at = 0.0
            self._refresh_columns()
            self._check_stored_dimension()
            if self._labels_added:
                self._fill_labels()
        except BaseException:
            self._client.close()
            raise

    # connection and schema -------------------------------------------------------------------

    @staticmethod
    def _connect(
        url: str,
        api_key: str | None,
        grpc_port: int | None,
        timeout_s: float,
        insert_timeout_s: float,
        ready_timeout_s: float,
    ) -> weaviate.WeaviateClient:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(f"the Weaviate URL must look like http://host:8080 or https://host, got {url!r}")
        secure = parts.scheme == "https"
        try:
            http_port = parts.port or (443 if secure else 80)
        except ValueError as error:
            raise StoreError(f"the Weaviate URL {url!r} has a bad port: {error}") from error
        deadline = time.monotonic() + ready_timeout_s
        delay = 0.25
        while True:
            client: weaviate.WeaviateClient | None = None
            try:
                client = weaviate.connect_to_custom(
                    http_host=parts.hostname,
                    http_port=http_port,
                    http_secure=secure,
                    grpc_host=parts.hostname,
                    grpc_port=grpc_port or DEFAULT_GRPC_PORT,
                    grpc_secure=secure,
                    auth_credentials=Auth.api_key(api_key) if api_key else None,
                    additional_config=AdditionalConfig(
                        timeout=Timeout(
                            init=max(1.0, min(ready_timeout_s, 10.0)), query=timeout_s, insert=insert_timeout_s
                        )
                    ),
                )
                if client.is_ready():
                    _check_version(url, client)
                    return client
                problem = "the server is up but not ready yet"
            except StoreError:
                if client is not None:
                    client.close()
                raise
            except (WeaviateBaseError, OSError) as error:
                problem = str(error).strip() or type(error).__name__
            if client is not None:
                client.close()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or _refused_credentials(problem):
                raise StoreError(f"cannot reach Weaviate at {url}: {problem}")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 2.0)

    def _open_collection(self) -> Any:
        collections = self._client.collections
        try:
            if not collections.exists(self.name):
                try:
                    collections.create(self.name, **create_arguments(self.spec))
                    log.info("created the Weaviate collection %s at %s", self.name, self.url)
                except WeaviateBaseError as error:
                    if "already exists" not in str(error):
                        raise
            collection = collections.get(self.name)
            config = collection.config.get()
        except WeaviateBaseError as error:
            raise StoreError(f"cannot open the Weaviate collection {self.name} at {self.url}: {error}") from error
        if not config.vector_config or self.spec.vector_name not in config.vector_config:
            raise StoreError(
                f"the Weaviate collection {self.name} at {self.url} has no named vector "
                f"{self.spec.vector_name!r}; it was not created by vlsearch: use another VLSEARCH_COLLECTION"
            )
        existing = {prop.name: prop for prop in config.properties}
        # A collection made before metadata and file names were searchable: its objects need their labels.
        self._labels_added = bool(existing) and LABELS not in existing and LABELS in self.spec.boosts
        wanted = list(self.spec.properties)
        for name in existing:
            if name.startswith(self.spec.metadata_prefix):
                wanted.extend(self.spec.metadata_properties(name[len(self.spec.metadata_prefix) :]))
        for prop in wanted:
            have = existing.get(prop.name)
            if have is None:
                self._add_property(collection, prop)
            elif str(have.data_type.value) != str(prop.data_type.value):
                raise StoreError(
                    f"the Weaviate collection {self.name} at {self.url} stores {prop.name} as {have.data_type.value}, "
                    f"vlsearch needs {prop.data_type.value}; use another VLSEARCH_COLLECTION"
                )
        return collection

    def _fill_labels(self) -> None:
        """Write the labels of objects stored without them, by importing each again from its stored record (the
        import replaces an object whole; OCR text, caption, vector and metadata come back unchanged).

        Runs once, when the property is added. An object it cannot relabel keeps working and is found by its
        text as before; the warning says which, and writing it again (a changed manifest row, a migrate) fixes it.
        """
        try:
            unlabelled = [
                str(obj.uuid)
                for obj in self._collection.iterator(return_properties=[LABELS])
                if not obj.properties.get(LABELS)
            ]
            if unlabelled:
                log.info("adding %s to %d objects of %s", LABELS, len(unlabelled), self.name)
            failed: list[tuple[AssetRecord, str]] = []
            for start in range(0, len(unlabelled), LOOKUP_BATCH):
                records = self.get(unlabelled[start : start + LOOKUP_BATCH])
                failed += self._import([(record, self._properties(record), self._vector(record)) for record in records])
        except (WeaviateBaseError, StoreError) as error:
            log.warning(
                "labelling the objects of %s stopped (%s): metadata and file names find only some", self.name, error
            )
            return
        if failed:
            details = "; ".join(f"{record.uri}: {message}" for record, message in failed[:5])
            log.warning("Weaviate refused to label %d objects of %s: %s", len(failed), self.name, details)

    def _add_property(self, collection: Any, prop: PropertySpec) -> None:
        try:
            collection.config.add_property(prop.to_property())
            log.info("added property %s to the Weaviate collection %s", prop.name, self.name)
        except WeaviateBaseError as error:
            if "already exists" not in str(error):  # another writer added it first
                raise StoreError(f"cannot add property {prop.name} to {self.name} at {self.url}: {error}") from error

    def _check_stored_dimension(self) -> None:
        response = self._query(
            lambda: self._collection.query.fetch_objects(
                limit=1,
                filters=Filter.by_property("has_vector").equal(True),
                include_vector=[self.spec.vector_name],
                return_properties=[],
            )
        )
        for obj in response.objects:
            stored = len(_vector_of(obj, self.spec.vector_name) or [])
            if stored and stored != self.dim:
                raise StoreError(
                    f"the Weaviate collection {self.name} at {self.url} holds {stored}-d vectors but "
                    f"VLSEARCH_EMBED_DIM is {self.dim}; use the same dimension or another VLSEARCH_COLLECTION"
                )

    def _refresh_columns(self) -> list[str]:
        try:
            properties = self._collection.config.get().properties
        except WeaviateBaseError as error:
            raise StoreError(f"cannot read the schema of {self.name} at {self.url}: {error}") from error
        prefix = self.spec.metadata_prefix
        self._columns = sorted(prop.name[len(prefix) :] for prop in properties if prop.name.startswith(prefix))
        self._columns_read_at = time.monotonic()
        return self._columns

    def _known_columns(self) -> list[str]:
        if time.monotonic() - self._columns_read_at > COLUMNS_MAX_AGE_S:
            self._refresh_columns()
        return self._columns

    def close(self) -> None:
        self._client.close()

    def drop(self) -> None:
        """Delete the whole collection: for tests, and before re-creating it with new creation-only settings."""
        try:
            self._client.collections.delete(self.name)
        except WeaviateBaseError as error:
            raise StoreError(f"deleting the collection {self.name} at {self.url} failed: {error}") from error

    def __enter__(self) -> WeaviateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """Liveness, readiness and version of the server, for dashboards and `stats`."""
        try:
            return {
                "url": self.url,
                "live": self._client.is_live(),
                "ready": self._client.is_ready(),
                "version": self._client.get_meta().get("version"),
            }
        except WeaviateBaseError as error:
            return {"url": self.url, "live": False, "ready": False, "version": None, "error": str(error)}

    # writes ----------------------------------------------------------------------------------

    def upsert(self, records: Sequence[AssetRecord]) -> None:
        if not records:
            return
        latest = list({record.id: record for record in records}.values())
        objects = [(record, self._properties(record), self._vector(record)) for record in latest]
        try:
            self._add_metadata_columns({key for record in latest for key in record.metadata})
            stale = self._stale_ids(latest)
        except StoreError as error:  # nothing was imported: name the records, as a refused import does
            uris = ", ".join(record.uri for record in latest[:20])
            more = f" (and {len(latest) - 20} more)" if len(latest) > 20 else ""
            raise StoreError(
                f"none of {len(latest)} records was written ({uris}{more}): {error}",
                {record.uri: str(error) for record in latest},
            ) from error
        failed = self._import(objects)
        if failed:
            succeeded_uris = {record.uri for record in latest} - {record.uri for record, _ in failed}
            self._delete_ids([doc_id for doc_id, uri in stale if uri in succeeded_uris])
            details = "; ".join(f"{record.uri}: {message}" for record, message in failed[:20])
            more = f" (and {len(failed) - 20} more)" if len(failed) > 20 else ""
            raise StoreError(
                f"Weaviate refused {len(failed)} of {len(latest)} records: {details}{more}",
                {record.uri: message for record, message in failed},
            )
        self._delete_ids([doc_id for doc_id, _ in stale])

    def _import(self, objects: list[tuple[AssetRecord, dict[str, Any], Any]]) -> list[tuple[AssetRecord, str]]:
        """Batch import; transient failures are retried, the rest come back with the server's message."""
        pending = objects
        refused: list[tuple[AssetRecord, str]] = []
        for attempt in range(self.insert_retries + 1):
            try:
                with self._collection.batch.fixed_size(batch_size=self.batch_size) as batch:
                    for record, properties, vector in pending:
                        batch.add_object(properties=properties, uuid=record.id, vector=vector)
                errors = {str(error.object_.uuid): error.message for error in self._collection.batch.failed_objects}
            except WeaviateBaseError as error:
                errors = {record.id: str(error) for record, _, _ in pending}
            if not errors:
                return refused
            retry = []
            for item in pending:
                message = errors.get(item[0].id)
                if message is None:
                    continue
                if _transient(message) and attempt < self.insert_retries:
                    retry.append(item)
                else:
                    refused.append((item[0], message))
            if not retry:
                return refused
            log.warning("retrying %d objects Weaviate could not take: %s", len(retry), errors[retry[0][0].id])
            time.sleep(min(0.5 * 2**attempt, 8.0))
            pending = retry
        return refused

    def _stale_ids(self, records: Sequence[AssetRecord]) -> list[tuple[str, str]]:
        """(id, uri) of stored objects at the uris being written that are not among the new ids."""
        new_ids = {record.id for record in records}
        uris = sorted({record.uri for record in records})
        stale: list[tuple[str, str]] = []
        for start in range(0, len(uris), LOOKUP_BATCH):
            chunk = uris[start : start + LOOKUP_BATCH]
            for obj in self._fetch(Filter.by_property("uri").contains_any(chunk), ["uri"]):
                if str(obj.uuid) not in new_ids:
                    stale.append((str(obj.uuid), obj.properties["uri"]))
        return stale

    def delete(self, ids: Sequence[str]) -> int:
        return self._delete_ids(_valid_uuids(ids))

    def _delete_ids(self, ids: Sequence[str]) -> int:
        removed = 0
        for start in range(0, len(ids), LOOKUP_BATCH):
            chunk = list(ids[start : start + LOOKUP_BATCH])
            try:
                result = self._collection.data.delete_many(where=Filter.by_id().contains_any(chunk))
            except WeaviateBaseError as error:
                raise StoreError(
                    f"deleting {len(chunk)} objects from {self.name} at {self.url} failed: {error}"
                ) from error
            removed += result.successful
        return removed

    def optimize(self) -> None:
        """Nothing to do: Weaviate updates its inverted and HNSW indexes on write."""

    # reads -----------------------------------------------------------------------------------

    def lookup(self, *, uris: Sequence[str], ids: Sequence[str]) -> list[StoredAsset]:
        columns = self._refresh_columns()
        names = ["uri", "sha256", "ocr_model", "caption_model", "embed_model", *self._meta_names(columns)]
        found: dict[str, StoredAsset] = {}
        keys = [("uri", value) for value in dict.fromkeys(uris)] + [("id", value) for value in _valid_uuids(ids)]
        for start in range(0, len(keys), LOOKUP_BATCH):
            chunk = keys[start : start + LOOKUP_BATCH]
            parts: list[_Filters] = []
            if chunk_uris := [value for kind, value in chunk if kind == "uri"]:
                parts.append(Filter.by_property("uri").contains_any(chunk_uris))
            if chunk_ids := [value for kind, value in chunk if kind == "id"]:
                parts.append(Filter.by_id().contains_any(chunk_ids))
            for obj in self._fetch(Filter.any_of(parts), names):
                props = obj.properties
                found[str(obj.uuid)] = StoredAsset(
                    id=str(obj.uuid),
                    uri=props["uri"],
                    sha256=props["sha256"],
                    ocr_model=props.get("ocr_model") or "",
                    caption_model=props.get("caption_model") or "",
                    embed_model=props.get("embed_model") or "",
                    metadata=self._metadata_of(props),
                )
        return list(found.values())

    def get(self, ids: Sequence[str]) -> list[AssetRecord]:
        wanted = _valid_uuids(ids)
        if not wanted:
            return []
        names = self._record_properties(self._refresh_columns())
        by_id: dict[str, AssetRecord] = {}
        for start in range(0, len(wanted), LOOKUP_BATCH):
            chunk = wanted[start : start + LOOKUP_BATCH]
            for obj in self._fetch(Filter.by_id().contains_any(chunk), names, with_vector=True):
                by_id[str(obj.uuid)] = self._record(obj)
        asked = (_valid_uuids([doc_id]) for doc_id in ids)
        return [by_id[found[0]] for found in asked if found and found[0] in by_id]

    def count(self, where: str | None = None) -> int:
        filters = self._filters(where)
        result = self._query(lambda: self._collection.aggregate.over_all(total_count=True, filters=filters))
        return int(result.total_count or 0)

    def ids_where(self, where: str, limit: int) -> list[str]:
        # fetch_objects answers at most QUERY_MAXIMUM_RESULTS (10,000 by default) objects.
        filters = self._filters(where)
        response = self._query(
            lambda: self._collection.query.fetch_objects(filters=filters, limit=limit, return_properties=[])
        )
        return [str(obj.uuid) for obj in response.objects]

    def iter_ids(self, batch_size: int = 500) -> Iterator[list[str]]:
        # The cursor API walks the ids in uuid order; objects added behind the cursor are not seen.
        batch: list[str] = []
        try:
            for obj in self._collection.iterator(return_properties=[], cache_size=batch_size):
                batch.append(str(obj.uuid))
                if len(batch) == batch_size:
                    yield batch
                    batch = []
        except WeaviateBaseError as error:
            raise StoreError(f"listing the ids of {self.name} at {self.url} failed: {error}") from error
        if batch:
            yield batch

    def metadata_columns(self) -> list[str]:
        return list(self._refresh_columns())

    def distinct_values(self, column: str, limit: int = 200) -> list[tuple[str, int]]:
        if column not in self._known_columns():
            check_column(column, self._refresh_columns())
        group_by = GroupByAggregate(prop=self.spec.metadata_prefix + column, limit=limit + 1)  # +1: "" may be a group
        result = self._query(lambda: self._collection.aggregate.over_all(group_by=group_by, total_count=True))
        counts: dict[str, int] = {}
        for group in result.groups:
            value = str(group.grouped_by.value or "")
            counts[value] = counts.get(value, 0) + int(group.total_count or 0)
        return top_values(counts, limit)

    def keyword_search(self, text: str, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        terms = search_tokens(text).strip()
        if not terms:
            return []
        filters = self._filters(where)
        response = self._query(
            lambda: self._collection.query.bm25(
                query=terms,
                query_properties=self.spec.query_properties(),
                limit=limit,
                filters=filters,
                return_metadata=MetadataQuery(score=True),
                return_properties=[],
            )
        )
        return [(str(obj.uuid), float(obj.metadata.score or 0.0)) for obj in response.objects]

    def visual_search(self, words: str, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        if not words.strip():
            return []
        filters = self._filters(where)
        response = self._query(
            lambda: self._collection.query.bm25(
                query=words,
                query_properties=[VISUAL_WORDS],
                limit=limit,
                filters=filters,
                return_metadata=MetadataQuery(score=True),
                return_properties=[],
            )
        )
        return [(str(obj.uuid), float(obj.metadata.score or 0.0)) for obj in response.objects]

    def keyword_count(self, text: str, *, where: str | None = None) -> int | None:
        """None: Weaviate's BM25 answers a limited number of objects and aggregates do not take a BM25 query."""
        return None

    def summaries(self, *, where: str | None = None, with_vector: bool = False) -> list[AssetSummary]:
        names = ["uri", "ingested_at", "ocr_text", "caption", "pdq", "pdq_quality"]
        names += self._meta_names(self._refresh_columns())
        vector = [self.spec.vector_name] if with_vector else False
        if where:
            # The cursor API takes no filter; a filtered listing stops at the server's QUERY_MAXIMUM_RESULTS.
            matched = self.count(where)
            if matched > FILTERED_LISTING_MAX:
                raise StoreError(
                    f"the filter {where!r} matches {matched} assets in {self.name}; Weaviate lists at most "
                    f"{FILTERED_LISTING_MAX} per filtered query: narrow the filter"
                )
            filters = self._filters(where)
            response = self._query(
                lambda: self._collection.query.fetch_objects(
                    filters=filters, limit=max(matched, 1), include_vector=vector, return_properties=names
                )
            )
            objects = list(response.objects)
        else:
            try:
                objects = list(self._collection.iterator(return_properties=names, include_vector=bool(vector)))
            except WeaviateBaseError as error:
                raise StoreError(f"listing {self.name} at {self.url} failed: {error}") from error
        return sorted((self._summary(obj) for obj in objects), key=lambda summary: summary.id)

    def _summary(self, obj: Any) -> AssetSummary:
        props = obj.properties
        vector = _vector_of(obj, self.spec.vector_name)
        ingested_at = props.get("ingested_at")
        return AssetSummary(
            id=str(obj.uuid),
            uri=props.get("uri") or "",
            ingested_at=ingested_at if isinstance(ingested_at, datetime) else datetime.now(UTC),
            ocr_text=props.get("ocr_text") or "",
            caption=props.get("caption") or "",
            pdq=props.get("pdq") or "",
            pdq_quality=int(props.get("pdq_quality") or 0),
            metadata=self._metadata_of(props),
            vector=None if not vector else np.asarray(vector, dtype=np.float32),
        )

    def newest(self, *, limit: int, offset: int = 0, where: str | None = None) -> list[AssetRecord]:
        # offset + limit is bounded by the server's QUERY_MAXIMUM_RESULTS (10,000 by default).
        filters = self._filters(where)
        response = self._query(
            lambda: self._collection.query.fetch_objects(
                filters=filters,
                limit=limit,
                offset=offset,
                sort=Sort.by_property("ingested_at", ascending=False).by_id(ascending=True),
                include_vector=[self.spec.vector_name],
                return_properties=self._record_properties(self._known_columns()),
            )
        )
        return [self._record(obj) for obj in response.objects]

    def vector_search(self, vector: Vector, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        query = self._query_vector(vector)
        filters = self._filters(where)
        response = self._query(
            lambda: self._collection.query.near_vector(
                near_vector=query.tolist(),
                target_vector=self.spec.vector_name,
                limit=limit,
                filters=filters,
                return_metadata=MetadataQuery(distance=True),
                return_properties=[],
            )
        )
        return [(str(obj.uuid), float(obj.metadata.distance)) for obj in response.objects]

    def hybrid(
        self,
        *,
        text: str | None,
        vector: Vector | None,
        alpha: float,
        limit: int,
        where: str | None = None,
        fusion: Fusion = Fusion.RELATIVE,
        max_vector_distance: float | None = None,
        auto_limit: int | None = None,
    ) -> list[Hit]:
        """Server-side hybrid search; see the module docstring for how each score is obtained.

        max_vector_distance drops vector candidates farther than that cosine distance;
        auto_limit (Weaviate's autocut) cuts the hits after that many jumps in fused score.
        """
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], got {alpha}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        terms = search_tokens(text or "").strip()
        # A side with zero weight is not queried: alpha 0 is pure BM25, alpha 1 pure vector.
        use_keyword = bool(terms) and alpha < 1.0
        use_vector = vector is not None and alpha > 0.0
        if not use_keyword and not use_vector:
            return []
        query_vector = self._query_vector(vector) if use_vector and vector is not None else None
        alpha_sent, scale = server_alpha(alpha, use_keyword, use_vector)
        filters = self._filters(where)
        names = self._record_properties(self._known_columns())
        response = self._query(
            lambda: self._collection.query.hybrid(
                query=terms if use_keyword else None,
                vector=query_vector.tolist() if query_vector is not None else None,
                alpha=alpha_sent,
                fusion_type=HybridFusion.RANKED if fusion == Fusion.RANKED else HybridFusion.RELATIVE_SCORE,
                target_vector=self.spec.vector_name,
                query_properties=self.spec.query_properties(),
                max_vector_distance=max_vector_distance,
                auto_limit=auto_limit,
                limit=limit,
                filters=filters,
                include_vector=[self.spec.vector_name],
                return_properties=names,
                return_metadata=MetadataQuery(score=True, explain_score=True),
            )
        )
        weights = side_weights(alpha_sent)
        hits: list[Hit] = []
        explained: dict[str, Explained | None] = {}
        unparsed = 0
        for obj in response.objects:
            doc_id = str(obj.uuid)
            explained[doc_id] = parse_explain(obj.metadata.explain_score or "", doc_id)
            unparsed += explained[doc_id] is None
            fused = fused_score(obj.metadata.score, fusion, scale, explained[doc_id], weights)
            record = self._record(obj)
            # Per-side figures only where the explanation says the hit was in that side's set.
            distance = (
                _cosine_distance(query_vector, record.vector)
                if query_vector is not None and record.vector is not None and in_side(explained[doc_id], "vector")
                else None
            )
            parsed = explained[doc_id]
            bm25 = parsed.original.get("keyword") if use_keyword and parsed is not None else None
            hits.append(Hit(record=record, scores=Scores(fused=fused, bm25=bm25, vector_distance=distance)))
        if unparsed:
            log.warning(
                "Weaviate's explain_score for %d of %d hybrid hits did not parse (its wording may have changed); "
                "their bm25 and vector distance are left empty, the fused score and order are Weaviate's",
                unparsed,
                len(hits),
            )
        if use_keyword:
            self._fill_bm25(hits, explained, terms, filters)
        # Ties broken by id, as in pipeline/store/fusion.py, so both engines order alike.
        hits.sort(key=lambda hit: (-hit.scores.fused, hit.record.id))
        return hits

    def _fill_bm25(
        self, hits: list[Hit], explained: dict[str, Explained | None], terms: str, filters: _Filters | None
    ) -> None:
        """BM25 scores the explanation did not carry (ranked fusion): one query restricted to those hits."""
        missing = [
            hit.record.id for hit in hits if hit.scores.bm25 is None and in_side(explained[hit.record.id], "keyword")
        ]
        if not missing:
            return
        only_these = Filter.by_id().contains_any(missing)
        response = self._query(
            lambda: self._collection.query.bm25(
                query=terms,
                query_properties=self.spec.query_properties(),
                limit=len(missing),
                filters=only_these if filters is None else Filter.all_of([filters, only_these]),
                return_metadata=MetadataQuery(score=True),
                return_properties=[],
            )
        )
        scores = {str(obj.uuid): float(obj.metadata.score or 0.0) for obj in response.objects}
        for hit in hits:
            if hit.scores.bm25 is None and hit.record.id in scores:
                hit.scores.bm25 = scores[hit.record.id]

    def stats(self) -> StoreStats:
        total = self.count()
        produced: dict[str, dict[str, int]] = {}
        for prop in ("ocr_model", "caption_model", "embed_model", "source_kind"):
            produced[prop] = self._tally(prop, total) if total else {}
        return StoreStats(
            count=total,
            engine=self.engine,
            location=f"{self.url} collection {self.name}",
            vector_dim=self.dim,
            with_vector=self._count_flag("has_vector") if total else 0,
            with_caption=self._count_flag("has_caption") if total else 0,
            metadata_columns=self.metadata_columns(),
            models={k: v for k, v in produced.items() if k != "source_kind"},
            source_kinds=produced["source_kind"],
            indexes=[
                f"bm25: {', '.join(self.spec.query_properties())}",
                f"hnsw {self.spec.distance.value} on {self.spec.vector_name!r}, quantization {self.spec.quantization}",
            ],
            server=self.health(),
        )

    # helpers ---------------------------------------------------------------------------------

    def _query(self, call: Any) -> Any:
        try:
            return call()
        except WeaviateBaseError as error:
            raise StoreError(f"Weaviate query on {self.name} at {self.url} failed: {error}") from error

    def _fetch(self, filters: _Filters, names: list[str], *, with_vector: bool = False) -> list[Any]:
        response = self._query(
            lambda: self._collection.query.fetch_objects(
                filters=filters,
                limit=FETCH_LIMIT,
                include_vector=[self.spec.vector_name] if with_vector else False,
                return_properties=names,
            )
        )
        return list(response.objects)

    def _filters(self, where: str | None) -> _Filters | None:
        if not where:
            return None
        try:
            return parse_weaviate_filter(where, self._known_columns())
        except BadInput as error:
            if "unknown field" not in error.reason:
                raise
            # Another writer may have added the column since the schema was last read.
            return parse_weaviate_filter(where, self._refresh_columns())

    def _count_flag(self, prop: str) -> int:
        filters = Filter.by_property(prop).equal(True)
        result = self._query(lambda: self._collection.aggregate.over_all(total_count=True, filters=filters))
        return int(result.total_count or 0)

    def _tally(self, prop: str, total: int) -> dict[str, int]:
        result = self._query(
            lambda: self._collection.aggregate.over_all(
                group_by=GroupByAggregate(prop=prop, limit=1000), total_count=True
            )
        )
        counts: dict[str, int] = {}
        for group in result.groups:
            key = str(group.grouped_by.value or "") or "(none)"
            counts[key] = counts.get(key, 0) + int(group.total_count or 0)
        unset = total - sum(counts.values())
        if unset > 0:
            counts["(none)"] = counts.get("(none)", 0) + unset
        return counts

    def _add_metadata_columns(self, keys: set[str]) -> None:
        missing = sorted(keys - set(self._known_columns()))
        if missing:
            missing = sorted(keys - set(self._refresh_columns()))
        for key in missing:
            for prop in self.spec.metadata_properties(key):
                self._add_property(self._collection, prop)
        if missing:
            self._refresh_columns()

    def _meta_names(self, columns: Sequence[str]) -> list[str]:
        return [self.spec.metadata_prefix + column for column in columns]

    def _record_properties(self, columns: Sequence[str]) -> list[str]:
        # Blob properties (the thumbnail) only come back when named; the analysed copies are not needed.
        internal = {"has_vector", "has_caption", VISUAL_WORDS, *self.spec.boosts}
        builtin = [prop.name for prop in self.spec.properties if prop.name not in internal]
        return builtin + self._meta_names(columns)

    def _query_vector(self, vector: Vector) -> np.ndarray:
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dim,):
            raise StoreError(f"query vector has shape {query.shape}, the collection holds {self.dim}-d vectors")
        return query

    def _vector(self, record: AssetRecord) -> dict[str, list[float]] | None:
        if record.vector is None:
            return None
        vector = np.asarray(record.vector, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise StoreError(
                f"{record.uri}: vector has shape {vector.shape}, the collection holds {self.dim}-d vectors"
            )
        return {self.spec.vector_name: vector.tolist()}

    def _properties(self, record: AssetRecord) -> dict[str, Any]:
        values: dict[str, Any] = {
            "uri": record.uri,
            "sha256": record.sha256,
            "width": record.width,
            "height": record.height,
            "mime": record.mime,
            "source_kind": str(record.source_kind),
            "parent_uri": record.parent_uri,
            "page": record.page,
            "timestamp_s": record.timestamp_s,
            "ocr_text": record.ocr_text,
            "caption": record.caption,
            "ocr_tokens": search_tokens(record.ocr_text),
            "caption_tokens": search_tokens(record.caption),
            LABELS: label_text(record.uri, record.metadata),
            VISUAL_WORDS: visual_words(record.thumbnail),
            "pdq": record.pdq,
            "pdq_quality": record.pdq_quality,
            "thumbnail": base64.b64encode(record.thumbnail).decode("ascii") if record.thumbnail else None,
            "ocr_model": record.ocr_model,
            "caption_model": record.caption_model,
            "embed_model": record.embed_model,
            "ingested_at": record.ingested_at.astimezone(UTC),
            "has_vector": record.vector is not None,
            "has_caption": bool(record.caption),
        }
        for key, value in record.metadata.items():
            values[self.spec.metadata_prefix + key] = value
            number = numeric_value(value)
            if number is not None:
                values[self.spec.number_prefix + key] = number
        return {name: value for name, value in values.items() if value is not None}

    def _metadata_of(self, props: dict[str, Any]) -> dict[str, str]:
        prefix = self.spec.metadata_prefix
        return {
            name[len(prefix) :]: value for name, value in props.items() if name.startswith(prefix) and value is not None
        }

    def _record(self, obj: Any) -> AssetRecord:
        props = obj.properties
        vector = _vector_of(obj, self.spec.vector_name)
        thumbnail = props.get("thumbnail")
        ingested_at = props.get("ingested_at")
        return AssetRecord(
            id=str(obj.uuid),
            uri=props["uri"],
            sha256=props["sha256"],
            width=int(props.get("width") or 0),
            height=int(props.get("height") or 0),
            mime=props.get("mime") or "",
            source_kind=SourceKind(props.get("source_kind") or SourceKind.IMAGE),
            ocr_text=props.get("ocr_text") or "",
            caption=props.get("caption") or "",
            pdq=props.get("pdq") or "",
            pdq_quality=int(props.get("pdq_quality") or 0),
            thumbnail=base64.b64decode(thumbnail) if thumbnail else b"",
            metadata=self._metadata_of(props),
            ocr_model=props.get("ocr_model") or "",
            caption_model=props.get("caption_model") or "",
            embed_model=props.get("embed_model") or "",
            ingested_at=ingested_at if isinstance(ingested_at, datetime) else datetime.now(UTC),
            vector=None if not vector else np.asarray(vector, dtype=np.float32),
            parent_uri=props.get("parent_uri"),
            page=None if props.get("page") is None else int(props["page"]),
            timestamp_s=None if props.get("timestamp_s") is None else float(props["timestamp_s"]),
        )


def _check_version(url: str, client: weaviate.WeaviateClient) -> None:
    version = str(client.get_meta().get("version", ""))
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    if numbers and numbers < MIN_SERVER_VERSION:
        wanted = ".".join(map(str, MIN_SERVER_VERSION))
        raise StoreError(f"Weaviate at {url} is version {version}; vlsearch needs {wanted} or newer")


def _valid_uuids(ids: Sequence[str]) -> list[str]:
    """Ids that can exist in Weaviate (every object id is a uuid), normalised, in order, once each."""
    valid: dict[str, None] = {}
    for doc_id in ids:
        try:
            valid[str(uuid.UUID(str(doc_id)))] = None
        except ValueError:
            continue
    return list(valid)


def _vector_of(obj: Any, name: str) -> list[float] | None:
    vectors = obj.vector or {}
    vector = vectors.get(name) if isinstance(vectors, dict) else vectors
    return list(vector) if vector else None


def _refused_credentials(message: str) -> bool:
    # Waiting longer will not help a server that refuses the API key.
    return bool(_REFUSED.search(message))


def _transient(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in TRANSIENT_MARKERS)


def _cosine_distance(query: np.ndarray, stored: np.ndarray) -> float:
    a = query.astype(np.float64)
    b = np.asarray(stored, dtype=np.float64)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 1.0 - float(a @ b) / norms if norms else 1.0
