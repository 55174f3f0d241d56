"""Embedded engine: LanceDB on local disk, no server.

Metadata columns live as nullable text columns prefixed ``m_`` (added by schema evolution when
a manifest brings a new one), so filters are plain SQL on real columns. Keyword search runs on
one analysed document per record (see analyzer.py): ocr_text, caption, the metadata values and
the file name together, with Lance's native BM25 index: one posting-list walk per query term
instead of one per field, which cut the keyword p99 at a million records from 96 to 19 ms
(docs/benchmarks.md). Stores made with an older keyword column (ocr_text + caption only, or one
column per field) are upgraded when opened.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import filelock
import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lancedb.index import FTS, BTree, IvfRq
from lancedb.query import MatchQuery

from pipeline.errors import StoreError, VlsearchError
from pipeline.private import PRIVATE_FILE_MODE, make_private_dir
from pipeline.records import AssetRecord, AssetSummary, Hit, SourceKind, Vector
from pipeline.store.analyzer import ANALYZER_VERSION, analysed_text, label_text, search_tokens
from pipeline.store.base import (
    FILTERABLE_FIELDS,
    MIN_CANDIDATES,
    Fusion,
    StoredAsset,
    StoreStats,
    check_column,
    top_values,
)
from pipeline.store.filters import parse_filter, to_sql
from pipeline.store.hybrid import hybrid_search
from pipeline.store.visual_words import visual_words

log = logging.getLogger(__name__)

META_PREFIX = "m_"
# The one column keyword search reads: analysed ocr_text, caption, metadata values and file name.
TEXT_COLUMN = "search_terms"
# What older stores searched instead: ocr_text + caption in one column, and before that one column per field.
OLD_TEXT_COLUMNS = ("text_tokens", "ocr_tokens", "caption_tokens")
UPGRADE_BATCH = 2000
ANALYZER_KEY = "vlsearch:analyzer"  # TEXT_COLUMN's field metadata: the analyzer version that made its terms
# The visual words of each thumbnail (visual_words.py), searched by image queries for what looks the same.
VISUAL_COLUMN = "visual_words"
# Filling visual words reads thumbnails and runs ORB (about 3 ms a record), so it goes in smaller commits.
VISUAL_BATCH = 500
# B-tree indexes for the point lookups every search and ingest makes (get, lookup, upsert, a
# document's pages); metadata columns get one too, for filters. Without them each `id IN (...)`
# or filtered search scans the column over the whole table (60 ms per query at 1M records).
SCALAR_INDEXES = ("id", "uri", "parent_uri")
LOOKUP_BATCH = 500
# How stale a long-lived store (the app) may be: reads pick up other processes' commits (a CLI
# ingest) this often. LanceDB's default never looks, so the app would not see them until restarted.
READ_CONSISTENCY = timedelta(seconds=1)
COMMIT_ATTEMPTS = 6
# What Lance says when another writer committed first (it retries some of these itself, not all).
CONFLICTS = ("commit conflict", "too many concurrent write", "preempted by concurrent transaction")
# Lance file format 2.1 for new tables, not lancedb 0.40's default 2.2: in 2.2 reading one row of a
# column whose values are all equal (model names, source kind: most collections have one of each)
# decodes the whole page, 6 ms per such column at 1M rows against 1.3 ms in 2.1, which made loading
# 10 hits cost 30 ms (docs/benchmarks.md). Existing tables keep the version they were made with.
NEW_TABLE_OPTIONS = {"new_table_data_storage_version": "2.1"}
# Row addresses of recently found records (see _RowAddresses): enough for many pages of results.
REMEMBERED_ADDRESSES = 20_000
# A damaged table file makes LanceDB raise an error or panic in Rust; a panic surfaces as RustPanic (an
# Exception) or pyo3's PanicException (a BaseException), neither of which can be imported by name.
RUST_PANICS = ("RustPanic", "PanicException")
P = ParamSpec("P")
T = TypeVar("T")


def _schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("uri", pa.string(), nullable=False),
            pa.field("sha256", pa.string(), nullable=False),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("mime", pa.string()),
            pa.field("source_kind", pa.string()),
            pa.field("parent_uri", pa.string()),
            pa.field("page", pa.int32()),
            pa.field("timestamp_s", pa.float64()),
            pa.field("ocr_text", pa.string()),
            pa.field("caption", pa.string()),
            pa.field(TEXT_COLUMN, pa.string(), metadata={ANALYZER_KEY: ANALYZER_VERSION}),
            pa.field(VISUAL_COLUMN, pa.string()),
            pa.field("pdq", pa.string()),
            pa.field("pdq_quality", pa.int32()),
            pa.field("thumbnail", pa.binary()),
            pa.field("ocr_model", pa.string()),
            pa.field("caption_model", pa.string()),
            pa.field("embed_model", pa.string()),
            pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def _retrying_conflicts(write: Callable[P, T]) -> Callable[P, T]:
    """Run a whole write again, with jittered backoff, when another process committed first.

    Two ingests at once (or an ingest and the app) both commit to one table; Lance rejects the
    loser's commit instead of merging it. Every write here is idempotent, so redoing it against
    the new latest version is correct: an upsert keyed by id, a delete by id, an index build.
    """

    @functools.wraps(write)
    def retrying(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, COMMIT_ATTEMPTS):
            try:
                return write(*args, **kwargs)
            except (RuntimeError, OSError, StoreError) as error:
                if not _is_conflict(error):
                    raise
                delay = random.uniform(0.5, 1.0) * 0.1 * 2**attempt
                log.info("%s lost a commit race (%s); trying again in %.2f s", write.__name__, error, delay)
                time.sleep(delay)
        return write(*args, **kwargs)

    return retrying


def _one_writer_at_a_time(
    write: Callable[Concatenate[LanceStore, P], T],
) -> Callable[Concatenate[LanceStore, P], T]:
    """Run a record write alone among all processes and threads, on the table's latest version.

    Lance merges two concurrent commits that add rows instead of rejecting one, so two ingests
    upserting the same new id at once each insert it, and a handle up to READ_CONSISTENCY old
    misses rows another process just wrote: the store would hold duplicates. A lock file beside
    the table makes each upsert or delete see every earlier one.
    """

    @functools.wraps(write)
    def alone(store: LanceStore, *args: P.args, **kwargs: P.kwargs) -> T:
        with store._write_lock:
            store._table.checkout_latest()
            return write(store, *args, **kwargs)

    return alone


def _is_lance_failure(error: BaseException) -> bool:
    return isinstance(error, (OSError, ValueError, RuntimeError)) or type(error).__name__ in RUST_PANICS


def _unusable(directory: Path, error: BaseException) -> StoreError:
    """The error a command shows for a store LanceDB cannot read: the folder, the cause and the way out."""
    cause = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return StoreError(
        f"the LanceDB store at {directory} cannot be used ({cause}); if this repeats, its files are damaged: "
        f"restore {directory} from a backup, or move it away and ingest again (a new store is made there)"
    )


def _failures_named(
    operation: Callable[Concatenate[LanceStore, P], T],
) -> Callable[Concatenate[LanceStore, P], T]:
    """Turn what LanceDB raises on damaged files (errors, Rust panics) into a StoreError naming the store's
    folder and the recovery, instead of a Rust traceback in the CLI or "Something went wrong" in the app."""

    @functools.wraps(operation)
    def named(store: LanceStore, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return operation(store, *args, **kwargs)
        except VlsearchError:
            raise
        except BaseException as error:
            if not _is_lance_failure(error):
                raise
            raise _unusable(store.directory, error) from error

    return named


def _is_conflict(error: BaseException | None) -> bool:
    while error is not None:
        if any(sign in str(error).lower() for sign in CONFLICTS):
            return True
        error = error.__cause__
    return False


class _RowAddresses:
    """Where recently found records live in the table, so loading a search's hits is a direct take.

    Looking ids up goes through the id B-tree first (8 ms for 10 records at 100k, 20 ms at 1M);
    searches return each hit's row address for free. An address names one physical row for good
    (Lance never reuses fragment ids, and an updated record is written as a new row), and taking a
    deleted or compacted-away row returns nothing, so a stale entry costs a lookup, never a wrong
    or outdated record.
    """

    def __init__(self, capacity: int = REMEMBERED_ADDRESSES):
        self._capacity = capacity
        self._entries: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._entries[row["id"]] = row["_rowid"]
                self._entries.move_to_end(row["id"])
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def of(self, ids: Sequence[str]) -> list[int]:
        with self._lock:
            return [self._entries[doc_id] for doc_id in ids if doc_id in self._entries]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LanceStore:
    """Store protocol over one LanceDB table."""

    engine = "lancedb"

    def __init__(self, directory: Path, *, table: str = "assets", dim: int = 2048, ann_min_rows: int = 10_000):
        self.directory = directory
        self.dim = dim
        self.ann_min_rows = ann_min_rows
        self._addresses = _RowAddresses()
        try:
            # Private to this user, and so is every file LanceDB writes from now on (the umask; pipeline/private.py).
            make_private_dir(directory)
            self._write_lock = filelock.FileLock(directory / f"{table}.write.lock", mode=PRIVATE_FILE_MODE)
            self._db = lancedb.connect(directory, read_consistency_interval=READ_CONSISTENCY)
            self._table = self._open_or_create(table, dim)
        except BaseException as error:
            if not _is_lance_failure(error):
                raise
            raise _unusable(directory, error) from error
        stored_dim = self._table.schema.field("vector").type.list_size
        if stored_dim != dim:
            raise StoreError(
                f"the collection at {directory} holds {stored_dim}-d vectors but VLSEARCH_EMBED_DIM is {dim}; "
                "use the same dimension or a new VLSEARCH_DATA_DIR / VLSEARCH_COLLECTION"
            )
        if self._text_column_outdated():
            self._upgrade_text_column()
        if VISUAL_COLUMN not in self._table.schema.names:
            self._add_visual_column()

    def _open_or_create(self, name: str, dim: int) -> lancedb.table.Table:
        try:
            return self._db.open_table(name)
        except ValueError:
            # No committed version yet: a new store, a creation killed before its first commit, or
            # another process creating it right now. exist_ok opens whichever commit lands first.
            return self._db.create_table(name, schema=_schema(dim), exist_ok=True, storage_options=NEW_TABLE_OPTIONS)

    def _text_column_outdated(self) -> bool:
        names = set(self._table.schema.names)
        return TEXT_COLUMN not in names or bool(names & set(OLD_TEXT_COLUMNS)) or self._terms_outdated()

    def _terms_outdated(self) -> bool:
        """The stored terms were made by another analyzer version (analyzer.py): a store from before the version
        was recorded has none."""
        schema = self._table.schema
        if TEXT_COLUMN not in schema.names:
            return False
        metadata = schema.field(TEXT_COLUMN).metadata or {}
        return metadata.get(ANALYZER_KEY.encode()) != ANALYZER_VERSION.encode()

    @_retrying_conflicts
    def _upgrade_text_column(self) -> None:
        """Build TEXT_COLUMN for a store made before it existed, then drop the older keyword columns.

        Runs under the write lock, so no upsert lands between reading a record and writing its terms.
        Only rows whose TEXT_COLUMN is still null are filled, so a run killed halfway (or a second
        process waiting on the lock) finishes the upgrade on the next open; the old columns go last,
        so the data is never without an indexed keyword column. Terms made by another analyzer version are
        all made again, and the version is recorded last, so a run killed halfway starts over.
        """
        with self._write_lock:
            self._table.checkout_latest()
            if not self._text_column_outdated():
                return
            log.info("building the keyword column %s of %s", TEXT_COLUMN, self.directory)
            # Every record's terms are made again (with its OCR text, caption and metadata): a few ms each.
            try:
                if TEXT_COLUMN not in self._table.schema.names:
                    self._table.add_columns({TEXT_COLUMN: "CAST(NULL AS STRING)"})
                self._fill_text_column(every_row=self._terms_outdated())
                if self._table.count_rows() and TEXT_COLUMN not in self._indexed_columns():
                    self._table.create_index(TEXT_COLUMN, config=FTS(with_position=False))
                for index in self._table.list_indices():
                    if set(index.columns) & set(OLD_TEXT_COLUMNS):
                        self._table.drop_index(index.name)
                old = [name for name in OLD_TEXT_COLUMNS if name in self._table.schema.names]
                if old:
                    self._table.drop_columns(old)
                self._table.update_field_metadata({"path": TEXT_COLUMN, "metadata": {ANALYZER_KEY: ANALYZER_VERSION}})
                # The rewritten rows are outside every index until they are folded in: without this, full-text
                # search scans them (25 s a visual query at 100k records instead of 0.5 s).
                self._table.optimize()
            except (OSError, ValueError, RuntimeError) as error:
                raise StoreError(f"upgrading the keyword-search column of {self.directory} failed: {error}") from error

    @_retrying_conflicts
    def _add_visual_column(self) -> None:
        """Give a store made before visual words their column, empty: optimize() fills it (a few ms a record is
        too slow for opening a large store), and until then its records are found by text and vectors only."""
        with self._write_lock:
            self._table.checkout_latest()
            if VISUAL_COLUMN not in self._table.schema.names:
                self._table.add_columns({VISUAL_COLUMN: "CAST(NULL AS STRING)"})

    def _fill_visual_column(self) -> None:
        """Visual words for the records that have none yet (a store made before them), a batch per commit."""
        while True:
            rows = (
                self._table.search()
                .where(f"{VISUAL_COLUMN} IS NULL")
                .select(["id", "thumbnail"])
                .limit(VISUAL_BATCH)
                .to_arrow()
                .to_pylist()
            )
            if not rows:
                return
            log.info("indexing the look of %d records of %s", len(rows), self.directory)
            words = [visual_words(row["thumbnail"] or b"") for row in rows]
            update = pa.table({"id": [row["id"] for row in rows], VISUAL_COLUMN: pa.array(words, pa.string())})
            self._table.merge_insert("id").when_matched_update_all().execute(update)

    def _fill_text_column(self, *, every_row: bool) -> None:
        rows = self._table.search() if every_row else self._table.search().where(f"{TEXT_COLUMN} IS NULL")
        ids = rows.select(["id"]).limit(None).to_arrow().column("id").to_pylist()
        columns = ["id", "uri", "ocr_text", "caption", *self._meta_fields()]
        for start in range(0, len(ids), UPGRADE_BATCH):
            chunk = ", ".join(_quote(doc_id) for doc_id in ids[start : start + UPGRADE_BATCH])
            rows = self._table.search().where(f"id IN ({chunk})").select(columns).limit(None).to_arrow().to_pylist()
            terms = [
                self._terms(row["ocr_text"] or "", row["caption"] or "", row["uri"], self._metadata_of(row))
                for row in rows
            ]
            update = pa.table({"id": [row["id"] for row in rows], TEXT_COLUMN: pa.array(terms, pa.string())})
            self._table.merge_insert("id").when_matched_update_all().execute(update)

    @staticmethod
    def _terms(ocr_text: str, caption: str, uri: str, metadata: dict[str, str]) -> str:
        return " ".join(part for part in (analysed_text(ocr_text, caption), label_text(uri, metadata)) if part)

    # writes -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writes_alone(self) -> Iterator[None]:
        """Hold the write lock (it is re-entrant) across reads and the writes that depend on them, on the latest
        version: the ingestor checks which assets are stored and writes, with no other writer in between."""
        with self._write_lock:
            self._checkout_latest()
            yield

    @_failures_named
    def _checkout_latest(self) -> None:
        self._table.checkout_latest()

    @_failures_named
    @_one_writer_at_a_time
    @_retrying_conflicts
    def upsert(self, records: Sequence[AssetRecord]) -> None:
        if not records:
            return
        self._add_metadata_columns({key for record in records for key in record.metadata})
        schema = self._table.schema
        rows = [self._row(record, schema) for record in records]
        uris = ", ".join(_quote(uri) for uri in {record.uri for record in records})
        try:
            # One commit: new and changed records land, and older versions at the same uri go.
            (
                self._table.merge_insert("id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(f"uri IN ({uris})")
                # Dimensions are checked in _row; "null" only keeps records without a vector.
                .execute(pa.Table.from_pylist(rows, schema=schema), on_bad_vectors="null")
            )
        except (OSError, ValueError, RuntimeError) as error:
            raise StoreError(f"writing {len(records)} records to {self.directory} failed: {error}") from error

    @_failures_named
    @_one_writer_at_a_time
    @_retrying_conflicts
    def delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        condition = f"id IN ({', '.join(_quote(doc_id) for doc_id in ids)})"
        before = self._table.count_rows(condition)
        self._table.delete(condition)
        return before

    def close(self) -> None:
        """Forget the table handle and cached row addresses. lancedb keeps no file open between calls and the
        write lock is held only inside upsert/delete, so nothing else needs releasing."""
        self._addresses = _RowAddresses()
        self.__dict__.pop("_table", None)

    @_failures_named
    @_retrying_conflicts
    def optimize(self) -> None:
        """Fill visual words a store made before them lacks, create missing indexes, fold new rows into them."""
        with self._write_lock:
            self._table.checkout_latest()
            self._fill_visual_column()
        indexed = self._indexed_columns()
        for column in (TEXT_COLUMN, VISUAL_COLUMN):
            if column not in indexed:
                self._table.create_index(column, config=FTS(with_position=False))
        for column in (*SCALAR_INDEXES, *self._meta_fields()):
            if column not in indexed:
                self._table.create_index(column, config=BTree())
        if "vector" not in indexed and self._table.count_rows("vector IS NOT NULL") >= self.ann_min_rows:
            log.info("building the ANN index on %s", self.directory)
            # IVF + RaBitQ (1 bit per dimension): builds in seconds where IVF-HNSW-SQ takes minutes
            # per 100k vectors on a small CPU, and is 8x smaller; searches re-score (refine) on the
            # stored float32 vectors. Figures in docs/benchmarks.md.
            self._table.create_index("vector", config=IvfRq(distance_type="cosine"))
        self._table.optimize()

    # reads --------------------------------------------------------------------------------

    @_failures_named
    def lookup(self, *, uris: Sequence[str], ids: Sequence[str]) -> list[StoredAsset]:
        keys = [("uri", value) for value in uris] + [("id", value) for value in ids]
        found: dict[str, StoredAsset] = {}
        columns = ["id", "uri", "sha256", "ocr_model", "caption_model", "embed_model", *self._meta_fields()]
        for start in range(0, len(keys), LOOKUP_BATCH):
            chunk = keys[start : start + LOOKUP_BATCH]
            condition = " OR ".join(
                f"{field} IN ({', '.join(_quote(v) for f, v in chunk if f == field)})"
                for field in ("uri", "id")
                if any(f == field for f, _ in chunk)
            )
            for row in self._table.search().where(condition).select(columns).to_arrow().to_pylist():
                found[row["id"]] = StoredAsset(
                    id=row["id"],
                    uri=row["uri"],
                    sha256=row["sha256"],
                    ocr_model=row["ocr_model"] or "",
                    caption_model=row["caption_model"] or "",
                    embed_model=row["embed_model"] or "",
                    metadata=self._metadata_of(row),
                )
        return list(found.values())

    @_failures_named
    def get(self, ids: Sequence[str]) -> list[AssetRecord]:
        if not ids:
            return []
        wanted = set(ids)
        rows = {row["id"]: row for row in self._take_remembered(ids) if row["id"] in wanted}
        missing = [doc_id for doc_id in ids if doc_id not in rows]
        if missing:
            condition = f"id IN ({', '.join(_quote(doc_id) for doc_id in missing)})"
            found = self._table.search().where(condition).limit(len(missing)).to_arrow().to_pylist()
            rows.update((row["id"], row) for row in found)
        return [self._record(rows[doc_id]) for doc_id in ids if doc_id in rows]

    def _take_remembered(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        addresses = self._addresses.of(ids)
        if not addresses:
            return []
        try:
            return self._table.take_row_ids(addresses).to_arrow().to_pylist()
        except (OSError, ValueError, RuntimeError) as error:  # the id lookup still answers
            log.debug("taking %d remembered rows failed (%s); looking them up by id", len(addresses), error)
            return []

    @_failures_named
    def count(self, where: str | None = None) -> int:
        return self._table.count_rows(self._sql(where)) if where else self._table.count_rows()

    @_failures_named
    def ids_where(self, where: str, limit: int) -> list[str]:
        search = self._table.search().where(self._sql(where)).select(["id"]).limit(limit)
        return search.to_arrow().column("id").to_pylist()

    @_failures_named
    def metadata_columns(self) -> list[str]:
        return self._meta_fields(prefixed=False)

    @_failures_named
    def distinct_values(self, column: str, limit: int = 200) -> list[tuple[str, int]]:
        check_column(column, self.metadata_columns())
        if not self.count():
            return []
        values = self._table.search().select([META_PREFIX + column]).limit(None).to_arrow().column(0)
        counted = pc.value_counts(values.drop_null()).to_pylist()
        return top_values({item["values"]: item["counts"] for item in counted}, limit)

    def iter_ids(self, batch_size: int = 500) -> Iterator[list[str]]:
        # All ids are read in one scan, so writes during the iteration cannot shift the batches.
        ids = self._all_ids()
        return (ids[start : start + batch_size] for start in range(0, len(ids), batch_size))

    @_failures_named
    def _all_ids(self) -> list[str]:
        return self._table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist()

    @_failures_named
    def keyword_search(self, text: str, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        return self._full_text(TEXT_COLUMN, search_tokens(text), limit=limit, where=where)

    @_failures_named
    def visual_search(self, words: str, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        return self._full_text(VISUAL_COLUMN, words, limit=limit, where=where)

    def _full_text(self, column: str, terms: str, *, limit: int, where: str | None) -> list[tuple[str, float]]:
        """BM25 over one indexed column: (id, score), best first; the rows' addresses are remembered for get()."""
        if not terms.strip() or self.count() == 0:
            return []
        # lancedb's MatchQuery gives its options defaults in __init__, which the pydantic plugin cannot see.
        match = MatchQuery(terms, column)  # type: ignore[call-arg]
        search = self._table.search(match, query_type="fts").select(["id", "_score"])
        if where:
            search = search.where(self._sql(where), prefilter=True)
        rows = search.with_row_id(True).limit(limit).to_arrow().to_pylist()
        self._addresses.remember(rows)
        return [(row["id"], float(row["_score"])) for row in rows]

    @_failures_named
    def keyword_count(self, text: str, *, where: str | None = None) -> int | None:
        terms = search_tokens(text)
        records = self.count()
        if not terms.strip() or records == 0:
            return 0
        match = MatchQuery(terms, TEXT_COLUMN)  # type: ignore[call-arg]  # see keyword_search
        search = self._table.search(match, query_type="fts").select(["_score"])
        if where:
            search = search.where(self._sql(where), prefilter=True)
        # A full-text search without a limit stops at 10; every record is the most it can match.
        return search.limit(records).to_arrow().num_rows

    @_failures_named
    def newest(self, *, limit: int, offset: int = 0, where: str | None = None) -> list[AssetRecord]:
        # Lance queries have no ORDER BY: the two columns are read for every match and sorted here.
        search = self._table.search().select(["id", "ingested_at"]).limit(None)
        if where:
            search = search.where(self._sql(where))
        matched = search.to_arrow()
        if not matched.num_rows:
            return []
        order = pc.sort_indices(matched, sort_keys=[("ingested_at", "descending"), ("id", "ascending")])
        page = pc.take(matched.column("id"), order[offset : offset + limit]).to_pylist()
        return self.get(page)

    @_failures_named
    def summaries(self, *, where: str | None = None, with_vector: bool = False) -> list[AssetSummary]:
        columns = ["id", "uri", "ingested_at", "ocr_text", "caption", "pdq", "pdq_quality", *self._meta_fields()]
        search = self._table.search().select([*columns, "vector"] if with_vector else columns).limit(None)
        if where:
            search = search.where(self._sql(where))
        table = search.to_arrow()
        table = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")]))
        # Column by column: a row-wise to_pylist() builds a dict per row and costs twice as much at 100k rows.
        values = {name: table.column(name).to_pylist() for name in columns}
        meta = {name[len(META_PREFIX) :]: values[name] for name in self._meta_fields()}
        vectors = table.column("vector").to_numpy(zero_copy_only=False) if with_vector else [None] * table.num_rows
        return [
            AssetSummary(
                id=doc_id,
                uri=values["uri"][row],
                ingested_at=values["ingested_at"][row],
                ocr_text=values["ocr_text"][row] or "",
                caption=values["caption"][row] or "",
                pdq=values["pdq"][row] or "",
                pdq_quality=values["pdq_quality"][row] or 0,
                metadata={key: column[row] for key, column in meta.items() if column[row] is not None},
                vector=None if vector is None else np.asarray(vector, dtype=np.float32),
            )
            for row, (doc_id, vector) in enumerate(zip(values["id"], vectors, strict=True))
        ]

    @_failures_named
    def vector_search(self, vector: Vector, *, limit: int, where: str | None = None) -> list[tuple[str, float]]:
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dim,):
            raise StoreError(f"query vector has shape {query.shape}, the collection holds {self.dim}-d vectors")
        search = (
            self._table.search(query, vector_column_name="vector")
            .distance_type("cosine")  # type: ignore[attr-defined]  # a vector query's builder, typed as the base
            .select(["id", "_distance"])
            .limit(limit)
            # RaBitQ distances find the right neighbourhood but order it roughly: re-scoring twice the
            # limit, and at least MIN_CANDIDATES, exactly gives exact-search recall and exact
            # distances for fusion.
            .refine_factor(max(2, -(-MIN_CANDIDATES // limit)))
        )
        if where:
            search = search.where(self._sql(where), prefilter=True)
        rows = search.with_row_id(True).to_arrow().to_pylist()
        self._addresses.remember(rows)
        return [(row["id"], float(row["_distance"])) for row in rows]

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
        return hybrid_search(self, text=text, vector=vector, alpha=alpha, limit=limit, where=where, fusion=fusion)

    @_failures_named
    def stats(self) -> StoreStats:
        rows = self._table.search().select(["ocr_model", "caption_model", "embed_model", "source_kind"])
        table = rows.limit(None).to_arrow() if self.count() else None
        produced: dict[str, dict[str, int]] = {
            "ocr_model": {},
            "caption_model": {},
            "embed_model": {},
            "source_kind": {},
        }
        if table is not None:
            for column, counts in produced.items():
                for value in table.column(column).to_pylist():
                    key = value or "(none)"
                    counts[key] = counts.get(key, 0) + 1
        return StoreStats(
            count=self.count(),
            engine=self.engine,
            location=str(self.directory),
            vector_dim=self.dim,
            with_vector=self._table.count_rows("vector IS NOT NULL") if self.count() else 0,
            with_caption=self._table.count_rows("caption != ''") if self.count() else 0,
            metadata_columns=self.metadata_columns(),
            models={k: v for k, v in produced.items() if k != "source_kind"},
            source_kinds=produced["source_kind"],
            indexes=sorted(index.name for index in self._table.list_indices()),
        )

    # helpers ------------------------------------------------------------------------------

    def _indexed_columns(self) -> set[str]:
        return {column for index in self._table.list_indices() for column in index.columns}

    def _meta_fields(self, prefixed: bool = True) -> list[str]:
        names = [name for name in self._table.schema.names if name.startswith(META_PREFIX)]
        return names if prefixed else [name[len(META_PREFIX) :] for name in names]

    def _add_metadata_columns(self, keys: set[str]) -> None:
        missing = sorted(keys - set(self.metadata_columns()))
        if missing:
            self._table.add_columns({META_PREFIX + key: "CAST(NULL AS STRING)" for key in missing})

    def _sql(self, where: str) -> str:
        metadata = self.metadata_columns()
        fields = {**FILTERABLE_FIELDS, **{name: "text" for name in metadata}}
        node = parse_filter(where, fields)
        text_fields = {name for name, kind in fields.items() if kind == "text"}
        prefixed = {name: META_PREFIX + name for name in metadata}
        return to_sql(node, lambda name: prefixed.get(name, name), text_fields, source=f"filter {where!r}")

    def _row(self, record: AssetRecord, schema: pa.Schema) -> dict[str, Any]:
        row: dict[str, Any] = {name: None for name in schema.names}
        row.update(
            id=record.id,
            uri=record.uri,
            sha256=record.sha256,
            width=record.width,
            height=record.height,
            mime=record.mime,
            source_kind=str(record.source_kind),
            parent_uri=record.parent_uri,
            page=record.page,
            timestamp_s=record.timestamp_s,
            ocr_text=record.ocr_text,
            caption=record.caption,
            pdq=record.pdq,
            pdq_quality=record.pdq_quality,
            thumbnail=record.thumbnail,
            ocr_model=record.ocr_model,
            caption_model=record.caption_model,
            embed_model=record.embed_model,
            ingested_at=record.ingested_at.astimezone(UTC),
            vector=None if record.vector is None else self._checked_vector(record).tolist(),
        )
        row[TEXT_COLUMN] = self._terms(record.ocr_text, record.caption, record.uri, record.metadata)
        row[VISUAL_COLUMN] = visual_words(record.thumbnail)
        for key, value in record.metadata.items():
            row[META_PREFIX + key] = value
        return row

    def _checked_vector(self, record: AssetRecord) -> Vector:
        vector = np.asarray(record.vector, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise StoreError(
                f"{record.uri}: vector has shape {vector.shape}, the collection holds {self.dim}-d vectors"
            )
        return vector

    def _metadata_of(self, row: dict[str, Any]) -> dict[str, str]:
        return {
            name[len(META_PREFIX) :]: value
            for name, value in row.items()
            if name.startswith(META_PREFIX) and value is not None
        }

    def _record(self, row: dict[str, Any]) -> AssetRecord:
        vector = row.get("vector")
        return AssetRecord(
            id=row["id"],
            uri=row["uri"],
            sha256=row["sha256"],
            width=row["width"],
            height=row["height"],
            mime=row["mime"],
            source_kind=SourceKind(row["source_kind"]),
            ocr_text=row["ocr_text"] or "",
            caption=row["caption"] or "",
            pdq=row["pdq"] or "",
            pdq_quality=row["pdq_quality"] or 0,
            thumbnail=row["thumbnail"] or b"",
            metadata=self._metadata_of(row),
            ocr_model=row["ocr_model"] or "",
            caption_model=row["caption_model"] or "",
            embed_model=row["embed_model"] or "",
            ingested_at=row["ingested_at"] or datetime.now(UTC),
            vector=None if vector is None else np.asarray(vector, dtype=np.float32),
            parent_uri=row["parent_uri"],
            page=row["page"],
            timestamp_s=row["timestamp_s"],
        )
