"""The Weaviate engine against a real server (VLSEARCH_WEAVIATE_URL), one collection per test.

Start one with `docker compose up -d weaviate` and run
`VLSEARCH_WEAVIATE_URL=http://localhost:8080 VLSEARCH_WEAVIATE_API_KEY=... pytest tests/test_store_weaviate.py`.
Without it the server tests are skipped; the connection-error test runs everywhere.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from pipeline.errors import BadInput, StoreError
from pipeline.store.weaviate_engine import WeaviateStore
from tests.store_conformance import DIM, StoreConformance, make_record, unit

URL = os.environ.get("VLSEARCH_WEAVIATE_URL")
NO_SERVER = "VLSEARCH_WEAVIATE_URL is not set: no Weaviate server to test against"
needs_server = pytest.mark.skipif(not URL, reason=NO_SERVER)


def open_store(name: str, dim: int = DIM) -> WeaviateStore:
    assert URL is not None
    return WeaviateStore(
        URL,
        api_key=os.environ.get("VLSEARCH_WEAVIATE_API_KEY"),
        collection=name,
        dim=dim,
        ready_timeout_s=30.0,
    )


@pytest.fixture
def collection_name():
    return f"VlsearchTest_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(collection_name):
    opened = open_store(collection_name)
    try:
        yield opened
    finally:
        opened.drop()
        opened.close()


@pytest.fixture
def reopen(collection_name):
    return lambda dim: open_store(collection_name, dim=dim)


@needs_server
class TestWeaviateStore(StoreConformance):
    pass


def test_unreachable_server_is_a_store_error_naming_the_url():
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"cannot reach Weaviate at http://127\.0\.0\.1:9"):
        WeaviateStore("http://127.0.0.1:9", collection="Unreachable", dim=DIM, ready_timeout_s=0.5, timeout_s=1.0)
    assert time.monotonic() - started < 15


def test_a_url_that_is_not_http_is_refused_before_connecting():
    with pytest.raises(StoreError, match="must look like http://host:8080"):
        WeaviateStore("weaviate:8080", dim=DIM, ready_timeout_s=0.1)


@needs_server
def test_numbers_on_built_in_text_fields_are_bad_input(store):
    store.upsert([make_record("a", "hello")])
    with pytest.raises(BadInput, match="uri is text"):
        store.count("uri = 5")


@needs_server
def test_hybrid_options_and_health(store):
    near, far = make_record("near", "invoice total", vector=unit(1)), make_record("far", "invoice", vector=unit(0, 1))
    store.upsert([near, far])
    hits = store.hybrid(text=None, vector=unit(1), alpha=1.0, limit=5, max_vector_distance=0.5)
    assert [hit.record.id for hit in hits] == [near.id]
    health = store.health()
    assert health["live"] and health["ready"] and health["version"]
    assert store.stats().server["version"] == health["version"]
    assert [doc_id for batch in store.iter_ids(batch_size=1) for doc_id in batch] == sorted([near.id, far.id])


def test_an_unknown_consistency_level_is_refused_before_connecting():
    with pytest.raises(StoreError, match="consistency level must be ONE, QUORUM or ALL"):
        WeaviateStore("http://127.0.0.1:9", dim=DIM, ready_timeout_s=0.1, consistency="MOST")


@needs_server
def test_reads_and_writes_name_the_consistency_level(collection_name):
    from weaviate.classes.config import ConsistencyLevel

    opened = open_store(collection_name)
    try:
        assert opened.consistency == ConsistencyLevel.QUORUM
        assert opened._collection.consistency_level == ConsistencyLevel.QUORUM
    finally:
        opened.drop()
        opened.close()
