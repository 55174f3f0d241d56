"""WeaviateStore on the wire: the real weaviate-client against in-process gRPC and HTTP doubles.

No Weaviate server runs here, so the engine is proved the way weaviate-python-client proves
itself (its mock_tests): tests/weaviate_wire.py serves the client's own `weaviate.proto.v1`
servicer and the REST endpoints on 127.0.0.1, records every request, and answers from
replies built here. Every assertion is on what the client sent, or on what the engine made
of a reply the client parsed; neither the client nor the engine is mocked. The doubles rank
nothing: a test that passes here says the engine ASKS the right question and READS the answer
right; tests/test_store_weaviate.py (with a server) says the server answers it as expected.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict
from typer.testing import CliRunner
from weaviate.collections.batch import base as batch_base
from weaviate.proto.v1 import base_search_pb2

from pipeline.config import Settings
from pipeline.errors import BadInput, StoreError
from pipeline.records import AssetRecord, SourceKind, asset_id
from pipeline.store import build_store
from pipeline.store.base import Fusion
from pipeline.store.weaviate_engine import WeaviateStore
from pipeline.store.weaviate_schema import load_spec
from tests.store_conformance import make_record
from tests.weaviate_wire import (
    Abort,
    Found,
    Late,
    aggregate_reply,
    batch_reply,
    delete_reply,
    filter_tree,
    grouped_reply,
    property_view,
    search_reply,
    serve_weaviate,
    unpack_vector,
)

DIM = 4
NAME = "Wire"
ROOT = Path(__file__).resolve().parents[1]
TOML = tomllib.loads((ROOT / "weaviate" / "collection.toml").read_text())
ID_A, ID_B, ID_C = (str(uuid.UUID(int=n)) for n in (0xA, 0xB, 0xC))
QUERY = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
VEC_A = [0.6, 0.8, 0.0, 0.0]  # cosine distance to QUERY: 0.4
VEC_C = [0.0, 1.0, 0.0, 0.0]  # cosine distance to QUERY: 1.0


@pytest.fixture
def wire():
    with serve_weaviate() as server:
        yield server


def open_store(wire, **kwargs) -> WeaviateStore:
    return WeaviateStore(
        wire.url,
        grpc_port=wire.grpc_port,
        collection="wire",
        dim=DIM,
        spec=kwargs.pop("spec", load_spec(None)),
        ready_timeout_s=5.0,
        timeout_s=kwargs.pop("timeout_s", 10.0),
        **kwargs,
    )


@pytest.fixture
def store(wire):
    opened = open_store(wire)
    wire.grpc.requests.clear()
    wire.http.requests.clear()
    yield opened
    opened.close()


def add_metadata_column(wire, store: WeaviateStore, column: str) -> None:
    """A collection that already holds manifest column `column` (as if another writer had added it)."""
    for prop in store.spec.metadata_properties(column):
        wire.http.classes[NAME]["properties"].append(property_view(prop.to_property()._to_dict()))
    assert column in store.metadata_columns()


def stored_properties(doc_id: str, uri: str, **extra) -> dict:
    return {
        "uri": uri,
        "sha256": doc_id.replace("-", "")[:32] * 2,
        "mime": "image/png",
        "source_kind": "image",
        **extra,
    }


def explain_relative(doc_id: str, keyword: float | None, vector: float | None) -> str:
    """Weaviate's relative-fusion explanation (hybrid_fusion.go, FusionRelativeScore): one entry per result set."""
    parts = [
        f"(Result Set '{side}') Document {doc_id}: original score {score}, normalized score: 0.5"
        for side, score in (("keyword", keyword), ("vector", vector))
        if score is not None
    ]
    return " - ".join(parts)


def explain_ranked(doc_id: str, keyword: float | None, vector: float | None) -> str:
    """Weaviate's ranked-fusion explanation (FusionRanked): each set's contribution weight / (rank + 60)."""
    text = ""
    for side, contribution in (("keyword", keyword), ("vector", vector)):
        if contribution is not None:
            text = f"{text}\n(Result Set {side}) Document {doc_id} contributed {contribution!r} to the score"
    return text


# a. connect, create and open the collection ------------------------------------------------


def test_opening_creates_the_collection_the_toml_describes(wire):
    store = open_store(wire)
    store.close()
    calls = [(r.method, r.path) for r in wire.http.requests]
    assert ("GET", "/v1/meta") in calls
    assert calls.index(("GET", f"/v1/schema/{NAME}")) < calls.index(("POST", "/v1/schema"))
    (created,) = [r.body for r in wire.http.requests_to("POST", "/v1/schema")]
    assert created["class"] == NAME
    vector = created["vectorConfig"][TOML["vector"]["name"]]
    assert vector["vectorIndexType"] == "hnsw"
    assert vector["vectorizer"] == {"none": {}}
    index = vector["vectorIndexConfig"]
    assert index["distance"] == "cosine"
    assert index["efConstruction"] == TOML["vector"]["ef_construction"]
    assert index["maxConnections"] == TOML["vector"]["max_connections"]
    assert index["ef"] == TOML["vector"]["ef"]
    assert TOML["vector"]["quantization"] == "none"
    assert index["skipDefaultQuantization"] is True  # "none": not even the server's default quantization
    assert not {"pq", "bq", "sq", "rq"} & set(index)
    inverted = created["invertedIndexConfig"]
    assert inverted["bm25"] == {"k1": TOML["bm25"]["k1"], "b": TOML["bm25"]["b"]}
    assert inverted["stopwords"]["preset"] == "en"
    assert inverted["indexNullState"] is True
    assert created["replicationConfig"]["factor"] == TOML["cluster"]["replication_factor"]
    assert created["shardingConfig"]["desiredCount"] == TOML["cluster"]["shard_count"]
    sent = {prop["name"]: prop for prop in created["properties"]}
    assert list(sent) == list(TOML["properties"])
    for name, wanted in TOML["properties"].items():
        prop = sent[name]
        assert prop["dataType"] == [wanted["data_type"]], name
        if wanted["data_type"] == "text":
            tokenization = wanted.get("tokenization", TOML["raw_text"]["tokenization"])
            assert prop["tokenization"] == tokenization, name
            assert prop["indexSearchable"] is bool(wanted.get("searchable", False)), name
        if "filterable" in wanted or wanted.get("raw_text"):
            assert prop["indexFilterable"] is bool(wanted.get("filterable", False)), name
        if wanted.get("range_filters"):
            assert prop["indexRangeFilters"] is True, name


def test_opening_checks_the_stored_dimension_with_one_fetch(wire):
    open_store(wire).close()
    (request,) = wire.grpc.requests_of("Search")
    assert request.collection == NAME
    assert request.limit == 1
    assert list(request.metadata.vectors) == ["default"]
    assert list(request.properties.non_ref_properties) == []
    assert filter_tree(request.filters) == ("EQUAL", "has_vector", True)


def test_a_stored_vector_of_another_dimension_is_refused(wire):
    wire.grpc.search_replies.append(search_reply([Found(ID_A, stored_properties(ID_A, "/a.png"), vector=[1.0] * 3)]))
    with pytest.raises(StoreError, match=r"holds 3-d vectors but VLSEARCH_EMBED_DIM is 4"):
        open_store(wire)


def test_an_existing_collection_is_not_created_again_and_gets_its_missing_properties(wire):
    open_store(wire).close()
    wire.http.classes[NAME]["properties"] = [
        prop for prop in wire.http.classes[NAME]["properties"] if prop["name"] != "caption_tokens"
    ]
    wire.http.requests.clear()
    open_store(wire).close()
    assert wire.http.requests_to("POST", "/v1/schema") == []
    (added,) = [r.body for r in wire.http.requests_to("POST", f"/v1/schema/{NAME}/properties")]
    assert added["name"] == "caption_tokens"
    assert added["dataType"] == ["text"]
    assert added["tokenization"] == "word"
    assert added["indexSearchable"] is True


def test_a_collection_made_before_labels_were_searchable_gets_the_label_property(wire):
    open_store(wire).close()
    wire.http.classes[NAME]["properties"] = [
        prop for prop in wire.http.classes[NAME]["properties"] if prop["name"] != "label_tokens"
    ]
    wire.http.requests.clear()
    open_store(wire).close()
    (added,) = [r.body for r in wire.http.requests_to("POST", f"/v1/schema/{NAME}/properties")]
    assert (added["name"], added["tokenization"], added["indexSearchable"]) == ("label_tokens", "word", True)


def test_objects_stored_before_labels_were_searchable_are_imported_again_with_them(wire):
    open_store(wire).close()
    wire.http.classes[NAME]["properties"] = [
        prop for prop in wire.http.classes[NAME]["properties"] if prop["name"] != "label_tokens"
    ]
    old = stored_properties(
        ID_A, "/shop/product_backpack_green.jpg", ocr_text="", ingested_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    wire.grpc.requests.clear()
    wire.grpc.search_replies.extend(
        [
            search_reply([]),  # the stored dimension check
            search_reply([Found(ID_A, {"uri": old["uri"]}), Found(ID_B, {"uri": "/b.png", "label_tokens": "b"})]),
            search_reply([]),  # the cursor's end
            search_reply([Found(ID_A, old, VEC_A)]),  # get: the whole record
        ]
    )
    open_store(wire).close()
    (batch,) = wire.grpc.requests_of("BatchObjects")
    (sent,) = batch.objects  # ID_B already had its labels
    props = MessageToDict(sent.properties.non_ref_properties)
    assert sent.uuid == ID_A and props["label_tokens"] == "product_backpack_green"
    assert props["uri"] == old["uri"] and unpack_vector(sent.vectors[0].vector_bytes) == pytest.approx(VEC_A)


def test_a_server_older_than_required_is_refused(wire):
    wire.http.version = "1.32.4"
    with pytest.raises(StoreError, match=r"version 1\.32\.4; vlsearch needs 1\.33\.0 or newer"):
        open_store(wire)


# b. hybrid ----------------------------------------------------------------------------------


def test_hybrid_relative_request_field_by_field(wire, store):
    add_metadata_column(wire, store, "team")
    wire.grpc.search_replies.append(search_reply([]))
    store.hybrid(text="red card", vector=QUERY, alpha=0.25, limit=7, where="team = 'payments'")
    (request,) = wire.grpc.requests_of("Search")
    assert request.collection == NAME
    hybrid = request.hybrid_search
    assert hybrid.query == "red card"
    # alpha is the weight of the vector side, sent as given: 1 - alpha (0.75) would be a swapped mapping.
    assert hybrid.alpha == 0.25
    assert hybrid.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RELATIVE_SCORE
    assert list(hybrid.targets.target_vectors) == ["default"]
    assert unpack_vector(hybrid.vector_bytes) == QUERY.tolist()
    assert list(hybrid.properties) == ["ocr_tokens", "caption_tokens", "label_tokens"]
    assert request.limit == 7
    assert request.metadata.score and request.metadata.explain_score and request.metadata.uuid
    assert list(request.metadata.vectors) == ["default"]
    returned = list(request.properties.non_ref_properties)
    assert {"uri", "sha256", "ocr_text", "caption", "thumbnail", "m_team"} <= set(returned)
    assert not {"ocr_tokens", "caption_tokens", "label_tokens", "has_vector", "has_caption"} & set(returned)
    assert filter_tree(request.filters) == ("EQUAL", "m_team", "payments")


def test_hybrid_sends_the_boosts_and_ranked_fusion(wire):
    spec = load_spec(None).with_overrides(boosts={"ocr_tokens": 1.0, "caption_tokens": 2.5})
    store = open_store(wire, spec=spec)
    wire.grpc.search_replies.append(search_reply([]))
    store.hybrid(text="red card", vector=QUERY, alpha=0.5, limit=3, fusion=Fusion.RANKED)
    store.close()
    request = wire.grpc.requests_of("Search")[-1]
    assert list(request.hybrid_search.properties) == ["ocr_tokens", "caption_tokens^2.5"]
    assert request.hybrid_search.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RANKED
    assert not request.HasField("filters")


@pytest.mark.parametrize(
    ("text", "vector", "alpha", "sent_alpha", "sent_query"),
    [
        ("red card", None, 0.25, 0.0, "red card"),  # keyword only: the vector side is left out
        (None, QUERY, 0.25, 1.0, ""),  # vector only
        ("red card", QUERY, 0.0, 0.0, "red card"),  # alpha 0: pure BM25, no vector sent
        ("red card", QUERY, 1.0, 1.0, ""),  # alpha 1: pure vector, no query sent
    ],
)
def test_hybrid_with_one_side_sends_alpha_0_or_1(wire, store, text, vector, alpha, sent_alpha, sent_query):
    wire.grpc.search_replies.append(search_reply([]))
    store.hybrid(text=text, vector=vector, alpha=alpha, limit=3)
    (request,) = wire.grpc.requests_of("Search")
    assert request.hybrid_search.alpha == sent_alpha
    assert request.hybrid_search.query == sent_query
    assert (request.hybrid_search.vector_bytes != b"") is (sent_alpha > 0)


def test_hybrid_relative_reads_fused_and_per_side_scores(wire, store):
    wire.grpc.search_replies.append(
        search_reply(
            [
                Found(
                    ID_A,
                    stored_properties(ID_A, "/a.png"),
                    VEC_A,
                    score=0.75,
                    # the vector set's printed score is not used: the distance is computed from the returned vector
                    explain_score=explain_relative(ID_A, 2.5, 0.9),
                ),
                Found(
                    ID_C,
                    stored_properties(ID_C, "/c.png"),
                    VEC_C,
                    score=0.5,
                    explain_score=explain_relative(ID_C, None, 1.0),
                ),
                Found(
                    ID_B,
                    stored_properties(ID_B, "/b.png"),
                    None,
                    score=0.5,
                    explain_score=explain_relative(ID_B, 1.25, None),
                ),
            ]
        )
    )
    hits = store.hybrid(text="red card", vector=QUERY, alpha=0.25, limit=3)
    assert [hit.record.id for hit in hits] == [ID_A, ID_B, ID_C]  # ties (0.5) by id
    assert [hit.scores.fused for hit in hits] == [0.75, 0.5, 0.5]
    assert [hit.scores.bm25 for hit in hits] == [2.5, 1.25, None]
    assert hits[0].scores.vector_distance == pytest.approx(0.4, abs=1e-6)
    assert hits[1].scores.vector_distance is None  # not in the vector result set
    assert hits[2].scores.vector_distance == pytest.approx(1.0, abs=1e-6)
    assert [hit.record.uri for hit in hits] == ["/a.png", "/b.png", "/c.png"]
    assert hits[0].record.vector.tolist() == pytest.approx(VEC_A)
    assert len(wire.grpc.requests_of("Search")) == 1  # relative fusion: no extra BM25 query


def test_hybrid_with_one_side_scales_the_fused_score_by_its_weight(wire, store):
    wire.grpc.search_replies.append(
        search_reply(
            [Found(ID_A, stored_properties(ID_A, "/a.png"), score=1.0, explain_score=explain_relative(ID_A, 3.0, None))]
        )
    )
    (hit,) = store.hybrid(text="red card", vector=None, alpha=0.25, limit=3)
    assert hit.scores.fused == 0.75
    assert hit.scores.bm25 == 3.0


def test_hybrid_ranked_recomputes_fusion_from_ranks_and_asks_bm25_for_the_keyword_hits(wire, store):
    add_metadata_column(wire, store, "team")
    # alpha 0.25: keyword weight 0.75, vector weight 0.25; A is first in both lists, B second by keyword only.
    a_keyword, a_vector, b_keyword = 0.75 / 61, 0.25 / 61, 0.75 / 62
    wire.grpc.search_replies.append(
        search_reply(
            [
                Found(
                    ID_A,
                    stored_properties(ID_A, "/a.png"),
                    VEC_A,
                    score=a_keyword + a_vector,
                    explain_score=explain_ranked(ID_A, a_keyword, a_vector),
                ),
                Found(
                    ID_B,
                    stored_properties(ID_B, "/b.png"),
                    None,
                    score=b_keyword,
                    explain_score=explain_ranked(ID_B, b_keyword, None),
                ),
            ]
        )
    )
    wire.grpc.search_replies.append(search_reply([Found(ID_B, score=1.5), Found(ID_A, score=4.0)]))
    hits = store.hybrid(text="red card", vector=QUERY, alpha=0.25, limit=2, fusion=Fusion.RANKED, where="team = 'x'")
    assert [hit.record.id for hit in hits] == [ID_A, ID_B]
    assert hits[0].scores.fused == 0.75 / 61 + 0.25 / 61  # float64 from the ranks, not the float32 on the wire
    assert hits[1].scores.fused == 0.75 / 62
    assert [hit.scores.bm25 for hit in hits] == [4.0, 1.5]
    assert hits[0].scores.vector_distance == pytest.approx(0.4, abs=1e-6)
    first, second = wire.grpc.requests_of("Search")
    assert first.hybrid_search.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RANKED
    assert second.bm25_search.query == "red card"
    assert list(second.bm25_search.properties) == ["ocr_tokens", "caption_tokens", "label_tokens"]
    assert second.limit == 2
    assert second.metadata.score
    op, (where, only) = filter_tree(second.filters)
    assert (op, where) == ("AND", ("EQUAL", "m_team", "x"))
    assert only[:2] == ("CONTAINS_ANY", "_id") and sorted(only[2]) == [ID_A, ID_B]


# c. the other reads and the writes ---------------------------------------------------------


def test_keyword_search_sends_bm25_and_reads_scores(wire, store):
    wire.grpc.search_replies.append(search_reply([Found(ID_B, score=2.0), Found(ID_A, score=0.5)]))
    assert store.keyword_search("Red card", limit=5, where="width >= 100") == [(ID_B, 2.0), (ID_A, 0.5)]
    (request,) = wire.grpc.requests_of("Search")
    assert request.bm25_search.query == "Red card"
    assert list(request.bm25_search.properties) == ["ocr_tokens", "caption_tokens", "label_tokens"]
    assert request.limit == 5 and request.metadata.score
    assert list(request.properties.non_ref_properties) == []
    assert filter_tree(request.filters) == ("GREATER_THAN_EQUAL", "width", 100)


def test_visual_search_sends_bm25_over_the_visual_words_alone(wire, store):
    wire.grpc.search_replies.append(search_reply([Found(ID_C, score=41.5), Found(ID_A, score=3.0)]))
    assert store.visual_search("v1000017 v1165535", limit=32, where="mime = 'image/png'") == [(ID_C, 41.5), (ID_A, 3.0)]
    (request,) = wire.grpc.requests_of("Search")
    assert request.bm25_search.query == "v1000017 v1165535"
    assert list(request.bm25_search.properties) == ["visual_words"]  # never the text: words are not a picture
    assert request.limit == 32 and request.metadata.score
    assert filter_tree(request.filters) == ("EQUAL", "mime", "image/png")
    assert store.visual_search("", limit=5) == [] and len(wire.grpc.requests_of("Search")) == 1


def test_vector_search_sends_near_vector_and_reads_distances(wire, store):
    wire.grpc.search_replies.append(search_reply([Found(ID_A, distance=0.125), Found(ID_C, distance=0.5)]))
    assert store.vector_search(QUERY, limit=2) == [(ID_A, 0.125), (ID_C, 0.5)]
    (request,) = wire.grpc.requests_of("Search")
    near = request.near_vector
    (sent,) = near.vectors
    assert sent.type == sent.VECTOR_TYPE_SINGLE_FP32 and unpack_vector(sent.vector_bytes) == QUERY.tolist()
    assert list(near.targets.target_vectors) == ["default"]
    assert request.limit == 2 and request.metadata.distance
    assert not near.HasField("distance")  # no distance cut-off is sent


def test_get_fetches_by_id_and_rebuilds_records_in_the_order_asked(wire, store):
    add_metadata_column(wire, store, "team")
    thumb = b"\xff\xd8thumb"
    ingested = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    props_a = stored_properties(
        ID_A,
        "/a.png",
        width=640,
        height=480,
        ocr_text="red card",
        page=3,
        thumbnail=base64.b64encode(thumb).decode(),
        ingested_at=ingested,
        m_team="payments",
        source_kind="pdf_page",
    )
    wire.grpc.search_replies.append(
        search_reply([Found(ID_B, stored_properties(ID_B, "/b.png")), Found(ID_A, props_a, VEC_A)])
    )
    records = store.get([ID_A, "not-a-uuid", str(uuid.UUID(int=0xD)), ID_B])
    assert [record.id for record in records] == [ID_A, ID_B]
    a = records[0]
    assert (a.uri, a.width, a.height, a.ocr_text, a.page, a.thumbnail) == ("/a.png", 640, 480, "red card", 3, thumb)
    assert (a.ingested_at, a.metadata, a.source_kind) == (ingested, {"team": "payments"}, SourceKind.PDF_PAGE)
    assert a.vector.tolist() == pytest.approx(VEC_A) and records[1].vector is None
    (request,) = wire.grpc.requests_of("Search")
    assert list(request.metadata.vectors) == ["default"]
    assert {"thumbnail", "ingested_at", "m_team"} <= set(request.properties.non_ref_properties)
    op, target, ids = filter_tree(request.filters)
    assert (op, target) == ("CONTAINS_ANY", "_id") and ids == [ID_A, str(uuid.UUID(int=0xD)), ID_B]


def test_lookup_asks_by_uri_or_id(wire, store):
    wire.grpc.search_replies.append(
        search_reply([Found(ID_A, stored_properties(ID_A, "/a.png", ocr_model="rapidocr"))])
    )
    (found,) = store.lookup(uris=["/a.png", "/z.png"], ids=[ID_B])
    assert (found.id, found.uri, found.ocr_model) == (ID_A, "/a.png", "rapidocr")
    (request,) = wire.grpc.requests_of("Search")
    assert filter_tree(request.filters) == (
        "OR",
        [("CONTAINS_ANY", "uri", ["/a.png", "/z.png"]), ("CONTAINS_ANY", "_id", [ID_B])],
    )


def test_count_is_an_aggregate_with_the_filter(wire, store):
    wire.grpc.aggregate_replies.append(aggregate_reply(7))
    assert store.count("mime = 'image/png'") == 7
    (request,) = wire.grpc.requests_of("Aggregate")
    assert request.collection == NAME and request.objects_count
    assert filter_tree(request.filters) == ("EQUAL", "mime", "image/png")


def test_newest_fetches_a_page_sorted_by_ingestion_time_then_id(wire, store):
    ingested = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    wire.grpc.search_replies.append(
        search_reply([Found(ID_B, stored_properties(ID_B, "/b.png", ingested_at=ingested, m_kind="product"))])
    )
    (record,) = store.newest(limit=20, offset=40, where="mime = 'image/png'")
    assert (record.id, record.uri, record.ingested_at) == (ID_B, "/b.png", ingested)
    (request,) = wire.grpc.requests_of("Search")
    assert (request.limit, request.offset) == (20, 40)
    assert [(list(sort.path), sort.ascending) for sort in request.sort_by] == [
        (["ingested_at"], False),
        (["_id"], True),
    ]
    assert {"uri", "thumbnail", "ingested_at"} <= set(request.properties.non_ref_properties)
    assert filter_tree(request.filters) == ("EQUAL", "mime", "image/png")
    assert store.keyword_count("red card") is None  # BM25 matches cannot be counted on the server


def test_ids_where_fetches_ids_only(wire, store):
    wire.grpc.search_replies.append(search_reply([Found(ID_A), Found(ID_B)]))
    assert store.ids_where("parent_uri = '/doc.pdf'", 50) == [ID_A, ID_B]
    (request,) = wire.grpc.requests_of("Search")
    assert request.limit == 50 and list(request.properties.non_ref_properties) == []
    assert filter_tree(request.filters) == ("EQUAL", "parent_uri", "/doc.pdf")


def test_iter_ids_walks_the_cursor(wire, store):
    wire.grpc.search_replies.extend(
        [search_reply([Found(ID_A), Found(ID_B)]), search_reply([Found(ID_C)]), search_reply([])]
    )
    assert list(store.iter_ids(batch_size=2)) == [[ID_A, ID_B], [ID_C]]
    requests = wire.grpc.requests_of("Search")
    assert [r.limit for r in requests] == [2, 2, 2]
    assert [r.after for r in requests] == ["", ID_B, ID_C]


def test_summaries_walk_the_cursor_without_thumbnails(wire, store):
    ingested = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    wire.grpc.search_replies.extend(
        [
            search_reply(
                [
                    Found(
                        ID_B, stored_properties(ID_B, "/b.png", ingested_at=ingested, m_app="PayFlow", pdq="ab" * 32)
                    ),
                    Found(ID_A, stored_properties(ID_A, "/a.png", ocr_text="Card declined", pdq_quality=80)),
                ]
            ),
            search_reply([]),
        ]
    )
    found = store.summaries()
    assert [summary.id for summary in found] == [ID_A, ID_B]  # in id order, as every engine lists them
    second, first = found[1], found[0]
    assert (second.uri, second.ingested_at, second.metadata, second.pdq) == (
        "/b.png",
        ingested,
        {"app": "PayFlow"},
        "ab" * 32,
    )
    assert (first.ocr_text, first.pdq_quality, first.vector) == ("Card declined", 80, None)
    request = wire.grpc.requests_of("Search")[0]
    asked = set(request.properties.non_ref_properties)
    assert {"uri", "ingested_at", "ocr_text", "caption", "pdq", "pdq_quality"} <= asked and "thumbnail" not in asked
    assert not request.HasField("filters")


def test_filtered_summaries_count_first_and_refuse_past_the_servers_listing_limit(wire, store):
    wire.grpc.aggregate_replies.extend([aggregate_reply(2), aggregate_reply(10_001)])
    wire.grpc.search_replies.append(search_reply([Found(ID_C, stored_properties(ID_C, "/c.png", m_app="Zipp"))]))
    (summary,) = store.summaries(where="mime = 'image/png'")
    assert summary.metadata == {"app": "Zipp"}
    (request,) = wire.grpc.requests_of("Search")
    assert request.limit == 2 and filter_tree(request.filters) == ("EQUAL", "mime", "image/png")
    with pytest.raises(StoreError, match="matches 10001 assets .* at most 10000 per filtered query"):
        store.summaries(where="mime = 'image/png'")
    assert len(wire.grpc.requests_of("Search")) == 1  # nothing fetched for the refused filter


def test_delete_sends_the_valid_ids_and_returns_the_servers_count(wire, store):
    wire.grpc.delete_replies.append(delete_reply(matches=3, successful=2, failed=1))
    assert store.delete([ID_A, "not-a-uuid", ID_B.upper()]) == 2  # the reply's `successful`, not `matches`
    (request,) = wire.grpc.requests_of("BatchDelete")
    assert request.collection == NAME and not request.dry_run
    assert filter_tree(request.filters) == ("CONTAINS_ANY", "_id", [ID_A, ID_B])


def test_upsert_sends_uuid_properties_and_vector_and_deletes_the_stale_object(wire, store):
    vector = np.array([0.5, 0.5, 0.5, 0.5], dtype=np.float32)
    record = make_record("card", ocr_text="Red card", metadata={"priority": "2"}, vector=vector)
    stale = str(uuid.UUID(int=0x5))
    wire.grpc.search_replies.append(search_reply([Found(stale, {"uri": record.uri})]))
    wire.grpc.delete_replies.append(delete_reply(matches=1))
    store.upsert([record])
    added = [r.body["name"] for r in wire.http.requests_to("POST", f"/v1/schema/{NAME}/properties")]
    assert added == ["m_priority", "n_priority"]
    (stale_query,) = wire.grpc.requests_of("Search")
    assert filter_tree(stale_query.filters) == ("CONTAINS_ANY", "uri", [record.uri])
    (batch,) = wire.grpc.requests_of("BatchObjects")
    (sent,) = batch.objects
    assert sent.uuid == record.id == asset_id(record.sha256)
    assert sent.collection == NAME
    (named,) = sent.vectors
    assert named.name == "default" and unpack_vector(named.vector_bytes) == vector.tolist()
    props = MessageToDict(sent.properties.non_ref_properties)
    assert props["uri"] == record.uri and props["sha256"] == record.sha256
    assert props["ocr_text"] == "Red card" and props["ocr_tokens"] == "Red card"
    assert props["label_tokens"] == "2 card"  # metadata values and the file name's stem, for BM25
    assert props["m_priority"] == "2" and props["n_priority"] == 2.0
    assert props["has_vector"] is True and props["has_caption"] is False
    assert base64.b64decode(props["thumbnail"]) == record.thumbnail
    assert props["visual_words"] == ""  # this thumbnail does not decode: found by its text and vector only
    assert "parent_uri" not in props and "page" not in props  # None is not sent
    assert props["ingested_at"].startswith("2026-01-02T03:04:05")
    (deleted,) = wire.grpc.requests_of("BatchDelete")
    assert filter_tree(deleted.filters) == ("CONTAINS_ANY", "_id", [stale])


def test_upsert_reports_each_refused_record_with_the_servers_reason(wire):
    store = open_store(wire, insert_retries=0)
    ok, bad = make_record("ok", ocr_text="fine"), make_record("bad", ocr_text="refused")
    stale_ok, stale_bad = str(uuid.UUID(int=0x51)), str(uuid.UUID(int=0x52))
    wire.grpc.search_replies.append(
        search_reply([Found(stale_ok, {"uri": ok.uri}), Found(stale_bad, {"uri": bad.uri})])
    )
    wire.grpc.batch_replies.append(batch_reply({1: "invalid text property 'uri': too long"}))
    wire.grpc.delete_replies.append(delete_reply(matches=1))
    with pytest.raises(
        StoreError,
        match=r"Weaviate refused 1 of 2 records: /collection/bad\.png: invalid text property 'uri': too long",
    ):
        store.upsert([ok, bad])
    store.close()
    (batch,) = wire.grpc.requests_of("BatchObjects")
    assert [obj.uuid for obj in batch.objects] == [ok.id, bad.id]
    (deleted,) = wire.grpc.requests_of("BatchDelete")  # only the stale object whose replacement went in
    assert filter_tree(deleted.filters) == ("CONTAINS_ANY", "_id", [stale_ok])


def test_upsert_retries_only_the_objects_refused_for_a_transient_reason(wire):
    store = open_store(wire, insert_retries=1)
    first, second = make_record("first", ocr_text="one"), make_record("second", ocr_text="two")
    wire.grpc.search_replies.append(search_reply([]))
    wire.grpc.batch_replies.extend([batch_reply({0: "connection reset by peer"}), batch_reply()])
    store.upsert([first, second])
    store.close()
    retried = [[obj.uuid for obj in request.objects] for request in wire.grpc.requests_of("BatchObjects")]
    assert retried == [[first.id, second.id], [first.id]]
    assert wire.grpc.requests_of("BatchDelete") == []  # nothing stale to remove


def test_hybrid_sends_the_distance_cut_and_autocut(wire, store):
    wire.grpc.search_replies.append(search_reply([]))
    store.hybrid(text="red card", vector=QUERY, alpha=0.5, limit=9, max_vector_distance=0.25, auto_limit=2)
    (request,) = wire.grpc.requests_of("Search")
    assert request.hybrid_search.vector_distance == 0.25
    assert request.autocut == 2 and request.limit == 9


def test_distinct_values_groups_by_the_metadata_property(wire, store):
    add_metadata_column(wire, store, "team")
    wire.grpc.aggregate_replies.append(grouped_reply("m_team", {"payments": 2, "": 1, "identity": 2}))
    assert store.distinct_values("team", limit=5) == [("identity", 2), ("payments", 2)]
    (request,) = wire.grpc.requests_of("Aggregate")
    assert request.group_by.property == "m_team" and request.limit == 6  # one more: "" may be a group
    with pytest.raises(BadInput, match="not a metadata column"):
        store.distinct_values("nope")


def test_drop_deletes_the_class(wire, store):
    store.drop()
    assert [r.path for r in wire.http.requests if r.method == "DELETE"] == [f"/v1/schema/{NAME}"]
    assert NAME not in wire.http.classes


# d. every operator of the filter grammar, as the server receives it ------------------------

NOT_NULL = "IS_NULL"


@pytest.mark.parametrize(
    ("where", "tree"),
    [
        ("mime = 'image/png'", ("EQUAL", "mime", "image/png")),
        ("mime != 'image/png'", ("AND", [("NOT_EQUAL", "mime", "image/png"), (NOT_NULL, "mime", False)])),
        ("width < 10", ("LESS_THAN", "width", 10)),
        ("width <= 10", ("LESS_THAN_EQUAL", "width", 10)),
        ("width > 10", ("GREATER_THAN", "width", 10)),
        ("width >= 10", ("GREATER_THAN_EQUAL", "width", 10)),
        ("width > 10.5", ("GREATER_THAN_EQUAL", "width", 11)),
        ("timestamp_s < 1.5", ("LESS_THAN", "timestamp_s", 1.5)),
        ("team = 'payments'", ("EQUAL", "m_team", "payments")),
        ("team > 2", ("GREATER_THAN", "n_team", 2.0)),
        ("mime IN ('image/png', 'image/jpeg')", ("CONTAINS_ANY", "mime", ["image/png", "image/jpeg"])),
        ("mime NOT IN ('image/png')", ("AND", [("CONTAINS_NONE", "mime", ["image/png"]), (NOT_NULL, "mime", False)])),
        ("uri LIKE '%.pn_'", ("LIKE", "uri", "*.pn?")),
        ("uri NOT LIKE 'a%'", ("AND", [("NOT", [("LIKE", "uri", "a*")]), (NOT_NULL, "uri", False)])),
        ("parent_uri IS NULL", (NOT_NULL, "parent_uri", True)),
        ("parent_uri IS NOT NULL", (NOT_NULL, "parent_uri", False)),
        (
            "mime = 'a' AND (width > 1 OR page = 2)",
            ("AND", [("EQUAL", "mime", "a"), ("OR", [("GREATER_THAN", "width", 1), ("EQUAL", "page", 2)])]),
        ),
        ("NOT width > 5", ("LESS_THAN_EQUAL", "width", 5)),
        (
            "NOT (mime = 'a' OR page = 2)",
            (
                "AND",
                [
                    ("AND", [("NOT_EQUAL", "mime", "a"), (NOT_NULL, "mime", False)]),
                    ("AND", [("NOT_EQUAL", "page", 2), (NOT_NULL, "page", False)]),
                ],
            ),
        ),
    ],
)
def test_filter_grammar_on_the_wire(wire, store, where, tree):
    add_metadata_column(wire, store, "team")
    wire.grpc.aggregate_replies.append(aggregate_reply(1))
    assert store.count(where) == 1
    (request,) = wire.grpc.requests_of("Aggregate")
    assert filter_tree(request.filters) == tree


# e. `vlsearch stats --json` with VLSEARCH_STORE=weaviate ------------------------------------


def use_doubles(wire, tmp_path, monkeypatch) -> None:
    for name, value in {
        "VLSEARCH_STORE": "weaviate",
        "VLSEARCH_WEAVIATE_URL": wire.url,
        "VLSEARCH_WEAVIATE_GRPC_PORT": str(wire.grpc_port),
        "VLSEARCH_COLLECTION": "wire",
        "VLSEARCH_EMBED_DIM": "32",
        "VLSEARCH_DATA_DIR": str(tmp_path),
        "VLSEARCH_MODELS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(name, value)


def test_stats_cli_end_to_end_against_the_doubles(wire, tmp_path, monkeypatch):
    from pipeline.cli import app

    def aggregate(request):
        if request.HasField("group_by"):
            prop = request.group_by.property
            counts = {"source_kind": {"image": 2, "pdf_page": 1}, "ocr_model": {"rapidocr": 3}}.get(prop, {})
            return grouped_reply(prop, counts)
        if request.HasField("filters"):
            return aggregate_reply({"has_vector": 2, "has_caption": 1}[request.filters.target.property])
        return aggregate_reply(3)

    wire.grpc.aggregate_default = aggregate
    use_doubles(wire, tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["engine"] == "weaviate"
    assert figures["count"] == 3 and figures["with_vector"] == 2 and figures["with_caption"] == 1
    assert figures["source_kinds"] == {"image": 2, "pdf_page": 1}
    assert figures["models"]["ocr_model"] == {"rapidocr": 3}
    assert figures["models"]["caption_model"] == {"(none)": 3}
    assert figures["server"]["version"] == "1.34.0" and figures["server"]["ready"] is True
    assert figures["location"] == f"{wire.url} collection {NAME}"
    grouped = [r.group_by.property for r in wire.grpc.requests_of("Aggregate") if r.HasField("group_by")]
    assert grouped == ["ocr_model", "caption_model", "embed_model", "source_kind"]


# f. import failures: reported per asset, nothing recorded as stored that was refused, a rerun completes ---


def sent_ids(wire) -> list[list[str]]:
    return [[obj.uuid for obj in request.objects] for request in wire.grpc.requests_of("BatchObjects")]


def test_a_whole_batch_refused_is_reported_per_asset_and_its_stale_objects_kept(wire):
    store = open_store(wire, insert_retries=0)
    first, second = make_record("first", ocr_text="one"), make_record("second", ocr_text="two")
    stale = str(uuid.UUID(int=0x53))
    wire.grpc.search_replies.append(search_reply([Found(stale, {"uri": first.uri})]))
    wire.grpc.batch_replies.append(Abort(grpc.StatusCode.INTERNAL, "disk full on shard 0"))
    with pytest.raises(StoreError, match=r"refused 2 of 2 records: /collection/first\.png: .*disk full") as raised:
        store.upsert([first, second])
    assert "/collection/second.png: " in str(raised.value)
    assert sent_ids(wire) == [[first.id, second.id]]  # INTERNAL is not transient: not retried
    assert wire.grpc.requests_of("BatchDelete") == []  # the old object at first's uri stays: its replacement failed
    assert wire.grpc.stored == {}
    wire.grpc.search_replies.append(search_reply([Found(stale, {"uri": first.uri})]))
    wire.grpc.delete_replies.append(delete_reply(matches=1))
    store.upsert([first, second])  # the rerun
    store.close()
    assert sent_ids(wire)[-1] == [first.id, second.id] and set(wire.grpc.stored) == {first.id, second.id}
    (deleted,) = wire.grpc.requests_of("BatchDelete")
    assert filter_tree(deleted.filters) == ("CONTAINS_ANY", "_id", [stale])


def test_a_batch_past_the_insert_timeout_is_reported_per_asset(wire):
    store = open_store(wire, insert_retries=0, insert_timeout_s=1.0)
    record = make_record("slow", ocr_text="late")
    wire.grpc.search_replies.append(search_reply([]))
    wire.grpc.batch_replies.append(Late(3.0))
    with pytest.raises(StoreError, match=r"refused 1 of 1 records: /collection/slow\.png: .*(?i:deadline|timed? ?out)"):
        store.upsert([record])
    store.close()
    assert sent_ids(wire) == [[record.id]]


def test_a_failure_before_the_import_names_the_records_and_sends_nothing(wire):
    store = open_store(wire, insert_retries=0)
    record = make_record("early", ocr_text="one")
    wire.grpc.search_replies.append(Abort(grpc.StatusCode.INTERNAL, "index is read-only"))  # the stale-object query
    with pytest.raises(StoreError, match=r"none of 1 records was written \(/collection/early\.png\): .*read-only"):
        store.upsert([record])
    store.close()
    assert sent_ids(wire) == [] and wire.grpc.stored == {}


def go_away_after_answering(wire):
    """A Search reply that answers from what is stored, then begins a server restart (new calls refused)."""

    def answer(request):
        wire.stop_grpc(grace_s=1.0)
        return wire.grpc.stored_reply(request)

    return answer


def test_a_server_restart_mid_import_is_ridden_out_by_the_clients_retry(wire):
    store = open_store(wire, insert_retries=0)
    before, after = make_record("before", ocr_text="one"), make_record("after", ocr_text="two")
    wire.grpc.search_default = wire.grpc.stored_reply
    store.upsert([before])
    # The stale-object query of the second write is answered, then the server restarts; it is back
    # within the client's first UNAVAILABLE backoff (1 s), so the import goes through once.
    wire.grpc.search_replies.append(go_away_after_answering(wire))
    threading.Timer(0.5, wire.start_grpc).start()
    store.upsert([after])
    store.close()
    assert sent_ids(wire) == [[before.id], [after.id]]
    assert list(wire.grpc.stored) == [before.id, after.id]


@pytest.mark.slow
def test_a_server_that_stays_away_mid_import_fails_that_batch_only_and_a_rerun_completes(wire, monkeypatch):
    monkeypatch.setattr(batch_base, "MAX_RETRIES", 0)  # the client's UNAVAILABLE retries: 1 + 2 s, not a minute
    store = open_store(wire, insert_retries=0)
    before, after = make_record("before", ocr_text="one"), make_record("after", ocr_text="two")
    wire.grpc.search_default = wire.grpc.stored_reply
    store.upsert([before])
    wire.grpc.search_replies.append(go_away_after_answering(wire))
    with pytest.raises(StoreError, match=r"refused 1 of 1 records: /collection/after\.png: .*(?i:unavailable)"):
        store.upsert([after])
    wire.start_grpc()
    assert list(wire.grpc.stored) == [before.id]  # nothing of `after` reached a server
    store.upsert([after])
    store.close()
    assert sent_ids(wire) == [[before.id], [after.id]]  # the rerun sends only what was not stored
    assert list(wire.grpc.stored) == [before.id, after.id]


@pytest.mark.slow
def test_migrate_reports_a_refused_batch_and_a_second_run_sends_only_the_missing_records(wire, tmp_path):
    from pipeline.store.lance_engine import LanceStore
    from pipeline.store.migrate import migrate

    records = [make_record(f"m{i}", ocr_text=f"text {i}") for i in range(4)]
    source = LanceStore(tmp_path / "source", dim=DIM)
    source.upsert(records)
    order = [ids for ids in source.iter_ids(2)]
    target = open_store(wire, insert_retries=0)
    wire.grpc.search_default = wire.grpc.stored_reply
    refused = Abort(grpc.StatusCode.INTERNAL, "shard not ready for writes")
    # The first batch goes in; the second is refused whole and then record by record.
    wire.grpc.batch_replies.extend([batch_reply(), refused, refused, refused])
    first = migrate(source, target, batch_size=2)
    assert (first.total, first.copied, first.skipped) == (4, 2, 0)
    by_id = {record.id: record for record in records}
    assert sorted(uri for uri, _ in first.failed) == sorted(by_id[doc_id].uri for doc_id in order[1])
    assert all("shard not ready for writes" in reason for _, reason in first.failed)
    assert set(wire.grpc.stored) == set(order[0])
    wire.grpc.requests.clear()
    second = migrate(source, target, batch_size=2)
    target.close()
    assert (second.copied, second.skipped, second.failed) == (2, 2, [])
    assert [sorted(ids) for ids in sent_ids(wire)] == [sorted(order[1])]  # only the missing ones
    assert set(wire.grpc.stored) == {record.id for record in records}


@pytest.mark.slow
def test_ingest_and_search_cli_end_to_end_against_the_doubles(wire, tmp_path, monkeypatch):
    from pipeline.cli import app

    use_doubles(wire, tmp_path, monkeypatch)
    wire.grpc.search_default = wire.grpc.stored_reply
    images = sorted((ROOT / "samples" / "images").glob("*.png"))[:2]
    result = CliRunner().invoke(app, ["ingest", *map(str, images)])
    assert result.exit_code == 0, result.output
    (batch,) = wire.grpc.requests_of("BatchObjects")
    sent = {obj.uuid: MessageToDict(obj.properties.non_ref_properties) for obj in batch.objects}
    assert sorted(props["uri"] for props in sent.values()) == sorted(str(path) for path in images)
    for doc_id, props in sent.items():
        assert doc_id == asset_id(props["sha256"])
        assert props["ocr_text"].strip() and props["has_vector"] is False
    doc_id, props = next(iter(sent.items()))
    found = search_reply([Found(doc_id, props, score=0.75, explain_score=explain_relative(doc_id, 2.5, None))])
    wire.grpc.search_default = lambda request: found if request.HasField("hybrid_search") else search_reply([])
    result = CliRunner().invoke(app, ["search", "--text", "payee mismatch", "--json", "--no-rerank"])
    assert result.exit_code == 0, result.output
    (hit,) = json.loads(result.stdout)
    assert (hit["id"], hit["uri"], hit["ocr_text"]) == (doc_id, props["uri"], props["ocr_text"])
    assert hit["scores"]["bm25"] == 2.5 and hit["scores"]["vector_distance"] is None
    request = wire.grpc.requests_of("Search")[-1]
    assert request.hybrid_search.query == "payee mismatch" and request.hybrid_search.alpha == 0.0


def test_the_analyst_page_shows_a_hit_from_the_doubles(wire, tmp_path, monkeypatch, fresh_app_caches):
    from streamlit.testing.v1 import AppTest

    use_doubles(wire, tmp_path, monkeypatch)
    monkeypatch.setenv("VLSEARCH_AUTH", "off")
    props = stored_properties(ID_A, "/collection/declined.png", ocr_text="card declined E-402")
    found = search_reply([Found(ID_A, props, score=0.75, explain_score=explain_relative(ID_A, 2.5, None))])
    wire.grpc.search_default = lambda request: found if request.HasField("hybrid_search") else search_reply([])
    wire.grpc.aggregate_default = lambda request: aggregate_reply(1)
    app = AppTest.from_file(str(ROOT / "streamlit_app" / "app.py"), default_timeout=120).run()
    app.switch_page("views/analyst.py").run()
    assert not app.exception
    app.text_input(key="analyst_text").set_value("card declined")
    next(button for button in app.button if button.label == "Search").click()
    app.run()
    assert not app.exception and not app.error
    (hit,) = app.session_state["analyst_search"]["result"].hits
    assert (hit.record.id, hit.record.uri, hit.scores.bm25) == (ID_A, "/collection/declined.png", 2.5)
    kinds = ("title", "subheader", "markdown", "caption", "info", "text")
    page = html.unescape("\n".join(str(e.value) for kind in kinds for e in getattr(app, kind))).replace("\u200b", "")
    assert "declined.png" in page and "E-402" in page  # the hit and its OCR text, as the double returned them
    hybrid = [r for r in wire.grpc.requests_of("Search") if r.HasField("hybrid_search")]
    assert hybrid[-1].hybrid_search.query == "card declined"


@pytest.mark.slow
def test_an_ingest_the_server_refused_is_reported_and_a_rerun_stores_every_asset(wire, tmp_path, monkeypatch):
    from pipeline.cli import app

    use_doubles(wire, tmp_path, monkeypatch)
    wire.grpc.search_default = wire.grpc.stored_reply
    images = sorted((ROOT / "samples" / "images").glob("*.png"))[:2]
    refused = Abort(grpc.StatusCode.INTERNAL, "shard not ready for writes")
    wire.grpc.batch_replies.extend([refused] * 4)
    first = CliRunner().invoke(app, ["ingest", *map(str, images)])
    assert first.exit_code != 0
    assert "shard not ready for writes" in first.output
    assert list(wire.grpc.stored) == []  # nothing refused is recorded as stored
    wire.grpc.requests.clear()
    second = CliRunner().invoke(app, ["ingest", *map(str, images)])
    assert second.exit_code == 0, second.output
    assert "added 2, updated 0, unchanged 0, failed 0" in second.output
    (batch,) = wire.grpc.requests_of("BatchObjects")
    assert sorted(MessageToDict(obj.properties.non_ref_properties)["uri"] for obj in batch.objects) == sorted(
        str(path) for path in images
    )
    assert len(wire.grpc.stored) == 2


# g. `vlsearch migrate --from lancedb --to weaviate`: interrupted, reported, rerun to completion -------

MIGRATE = ["migrate", "--from", "lancedb", "--to", "weaviate", "--batch-size", "2"]


def lance_source_for_the_cli(count: int) -> dict[str, AssetRecord]:
    """`count` records (unit 32-d vectors) in the LanceDB collection `vlsearch migrate` reads under the
    settings `use_doubles` set (VLSEARCH_DATA_DIR, VLSEARCH_COLLECTION, VLSEARCH_EMBED_DIM), by id."""
    rng = np.random.default_rng(16)
    records = []
    for i in range(count):
        vector = rng.standard_normal(32).astype(np.float32)
        records.append(make_record(f"m{i}", ocr_text=f"text {i}", vector=vector / np.linalg.norm(vector)))
    source = build_store(Settings(store="lancedb"))
    try:
        source.upsert(records)
    finally:
        source.close()
    return {record.id: record for record in records}


def count_what_is_stored(wire):
    """Aggregate replies for the summary line: the number of objects stored, no groups (the double filters nothing)."""

    def answer(request):
        if request.HasField("group_by"):
            return grouped_reply(request.group_by.property, {})
        return aggregate_reply(len(wire.grpc.stored))

    return answer


def assert_the_target_holds_the_source(wire, records: dict[str, AssetRecord]) -> None:
    assert sorted(wire.grpc.stored) == sorted(records)
    uris = [MessageToDict(obj.properties.non_ref_properties)["uri"] for obj in wire.grpc.stored.values()]
    assert sorted(uris) == sorted(record.uri for record in records.values())  # one object per asset
    for doc_id, obj in wire.grpc.stored.items():
        record, props = records[doc_id], MessageToDict(obj.properties.non_ref_properties)
        assert (props["sha256"], props["ocr_text"]) == (record.sha256, record.ocr_text)
        assert unpack_vector(obj.vectors[0].vector_bytes) == pytest.approx(record.vector.tolist(), abs=1e-6)


@pytest.mark.slow
def test_migrate_cli_reports_a_refused_batch_with_exit_1_and_a_rerun_copies_only_the_rest(wire, tmp_path, monkeypatch):
    from pipeline.cli import app

    use_doubles(wire, tmp_path, monkeypatch)
    records = lance_source_for_the_cli(6)
    wire.grpc.search_default = wire.grpc.stored_reply
    wire.grpc.aggregate_default = count_what_is_stored(wire)
    refused = Abort(grpc.StatusCode.INTERNAL, "disk full on shard 0")  # not transient: the engine does not retry
    # Batch 1 goes in; batch 2 is refused whole and then record by record; batch 3 goes in.
    wire.grpc.batch_replies.extend([batch_reply(), refused, refused, refused])
    first = CliRunner().invoke(app, MIGRATE)
    assert first.exit_code == 1, first.output
    assert "copied 4, already there 0, gone from the source 0, failed 2  ->  4 assets in weaviate" in first.stdout
    _, refused_ids, *_ = sent_ids(wire)
    for doc_id in refused_ids:
        (line,) = [line for line in first.stdout.splitlines() if records[doc_id].uri in line]
        assert re.search(rf"failed {re.escape(records[doc_id].uri)}: .*disk full on shard 0", line)
        assert line.count(records[doc_id].uri) == 1  # the reason does not repeat the record's name
    assert sorted(wire.grpc.stored) == sorted(set(records) - set(refused_ids))  # nothing refused counted as stored
    wire.grpc.requests.clear()
    second = CliRunner().invoke(app, MIGRATE)
    assert second.exit_code == 0, second.output
    assert "copied 2, already there 4, gone from the source 0, failed 0  ->  6 assets in weaviate" in second.stdout
    assert [sorted(ids) for ids in sent_ids(wire)] == [sorted(refused_ids)]  # nothing is written twice
    assert_the_target_holds_the_source(wire, records)


@pytest.mark.slow
def test_migrate_cli_stopped_by_a_failing_server_says_why_and_a_rerun_completes(wire, tmp_path, monkeypatch):
    from pipeline.cli import app

    use_doubles(wire, tmp_path, monkeypatch)
    records = lance_source_for_the_cli(4)
    wire.grpc.search_default = wire.grpc.stored_reply
    wire.grpc.aggregate_default = count_what_is_stored(wire)
    # Searches in order: the target's dimension check, batch 1's lookup and stale-object query, batch 2's lookup.
    answered = [wire.grpc.stored_reply] * 3
    wire.grpc.search_replies.extend([*answered, Abort(grpc.StatusCode.INTERNAL, "index is read-only")])
    first = CliRunner().invoke(app, MIGRATE)
    assert first.exit_code == 2, first.output
    assert "error:" in first.output and "index is read-only" in first.output
    assert "stopped after 2 of 4 records; run the same command again to resume" in first.output
    (copied_ids,) = sent_ids(wire)
    assert sorted(wire.grpc.stored) == sorted(copied_ids) and len(copied_ids) == 2
    wire.grpc.requests.clear()
    second = CliRunner().invoke(app, MIGRATE)
    assert second.exit_code == 0, second.output
    assert "copied 2, already there 2, gone from the source 0, failed 0  ->  4 assets in weaviate" in second.stdout
    assert [sorted(ids) for ids in sent_ids(wire)] == [sorted(set(records) - set(copied_ids))]
    assert_the_target_holds_the_source(wire, records)
