"""The Store contract as tests. An engine's test module subclasses StoreConformance and
provides two fixtures: `store`, an empty store with 8-d vectors, and `reopen`, a function
`reopen(dim)` that opens the same store (same directory or collection) again with `dim`-d
vectors; the caller closes what it returns."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import BadInput, StoreError
from pipeline.images import thumbnail_jpeg
from pipeline.keypoints import features
from pipeline.records import AssetRecord, SourceKind, asset_id
from pipeline.store.base import Fusion, StoreStats
from pipeline.store.visual_words import words_of

DIM = 8
SAMPLE_IMAGES = Path(__file__).resolve().parents[1] / "samples" / "images"
UNSET: tuple[object, ...] = (None, "", b"", {}, 0)  # values that look unset: a field must hold none of them


def unit(*components: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def make_record(
    name: str,
    ocr_text: str = "",
    caption: str = "",
    metadata: dict[str, str] | None = None,
    vector: np.ndarray | None = None,
    content: str | None = None,
) -> AssetRecord:
    sha = (content or name).encode().hex().ljust(64, "0")[:64]
    return AssetRecord(
        id=asset_id(sha),
        uri=f"/collection/{name}.png",
        sha256=sha,
        width=640,
        height=480,
        mime="image/png",
        source_kind=SourceKind.IMAGE,
        ocr_text=ocr_text,
        caption=caption,
        pdq="ab" * 32,
        pdq_quality=90,
        thumbnail=b"\xff\xd8thumb",
        metadata=metadata or {},
        ocr_model="rapidocr",
        caption_model="tiny-caption" if caption else "",
        embed_model="tiny-embed" if vector is not None else "",
        ingested_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        vector=vector,
    )


class StoreConformance:
    @pytest.fixture
    def tickets(self):
        return [
            make_record(
                "card",
                "Payment failed PF-4021 card declined by issuer",
                "checkout page error",
                {"category": "billing", "ticket_id": "SUP-1", "priority": "3", "created_at": "2025-03-01"},
                unit(1, 0),
            ),
            make_record(
                "locked",
                "登录失败 错误代码 NB-1003 账户已锁定",
                "login screen",
                {"category": "login", "ticket_id": "SUP-2", "priority": "10", "created_at": "2024-11-20"},
                unit(0, 1),
            ),
            make_record(
                "quota",
                "Sync error E-SYNC-507 storage quota exceeded",
                "",
                {"category": "sync", "ticket_id": "SUP-3", "priority": "1", "created_at": "2026-01-05"},
                unit(0.7, 0.7),
            ),
            make_record("mug", "", "a white ceramic coffee mug on a table", {"category": "product"}, None),
        ]

    def ids(self, results):
        return [doc_id for doc_id, _ in results]

    def test_empty_store(self, store):
        assert store.count() == 0
        assert store.keyword_search("anything", limit=5) == []
        assert store.vector_search(unit(1), limit=5) == []
        assert store.hybrid(text="anything", vector=unit(1), alpha=0.5, limit=5) == []
        assert store.visual_search("v1000001 v1100002", limit=5) == []

    def test_round_trip_keeps_every_field(self, store, tickets):
        # Every field of AssetRecord, set to a value that is not its default, so a new field cannot go unchecked.
        want = dataclasses.replace(tickets[0], parent_uri="/collection/card.pdf", page=2, timestamp_s=12.5)
        unset = [f.name for f in dataclasses.fields(want) if f.name != "vector" and getattr(want, f.name) in UNSET]
        assert not unset, f"give these fields a value in this test: {unset}"
        store.upsert([want, *tickets[1:]])
        store.optimize()
        assert store.count() == 4
        (got,) = store.get([want.id])
        for field in dataclasses.fields(want):
            if field.name == "vector":
                assert got.vector is not None and want.vector is not None
                np.testing.assert_allclose(got.vector, want.vector, atol=1e-6)
            else:
                assert getattr(got, field.name) == getattr(want, field.name), field.name
        assert store.get([tickets[3].id])[0].vector is None

    def test_reopening_keeps_data_and_refuses_another_dimension(self, store, reopen):
        store.upsert([make_record("a", "hello", vector=unit(1))])
        again = reopen(DIM)
        try:
            assert again.count() == 1
        finally:
            again.close()
        with pytest.raises(StoreError, match="holds 8-d vectors but VLSEARCH_EMBED_DIM is 16"):
            reopen(16)

    def test_wrong_vector_shape_is_refused_without_writing(self, store):
        good = make_record("good", "ok", vector=unit(1))
        bad = make_record("bad", "x", vector=np.ones(3, dtype=np.float32))
        with pytest.raises(StoreError, match="vector has shape"):
            store.upsert([good, bad])
        assert store.count() == 0

    def test_words_that_ocr_glued_together_are_still_found(self, store):
        glued = make_record("vpn", "Connectionfailed ErrorVPN-809:Thenetworkconnection betweenyourcomputer")
        store.upsert([glued, make_record("other", "network settings")])
        store.optimize()
        assert store.keyword_search("connection failed", limit=5)[0][0] == glued.id

    def test_get_keeps_the_order_asked_and_skips_missing(self, store, tickets):
        store.upsert(tickets)
        assert [r.id for r in store.get([tickets[2].id, "missing", tickets[0].id])] == [tickets[2].id, tickets[0].id]

    def test_upsert_is_idempotent_and_updates_in_place(self, store, tickets):
        store.upsert(tickets)
        store.upsert(tickets)
        assert store.count() == 4
        changed = make_record("card", "Payment failed again", metadata={"category": "billing"})
        store.upsert([changed])
        assert store.count() == 4
        assert store.get([changed.id])[0].ocr_text == "Payment failed again"

    def test_new_content_at_the_same_uri_replaces_the_old_record(self, store, tickets):
        store.upsert(tickets)
        replacement = make_record("card", "new screenshot text", content="card-v2")
        assert replacement.uri == tickets[0].uri and replacement.id != tickets[0].id
        store.upsert([replacement])
        assert store.count() == 4
        assert store.get([tickets[0].id]) == []
        assert [asset.id for asset in store.lookup(uris=[tickets[0].uri], ids=[])] == [replacement.id]

    def test_lookup_by_uri_or_id(self, store, tickets):
        store.upsert(tickets)
        found = store.lookup(uris=[tickets[0].uri], ids=[tickets[1].id, "missing"])
        assert {asset.id for asset in found} == {tickets[0].id, tickets[1].id}
        by_id = {asset.id: asset for asset in found}
        assert by_id[tickets[1].id].metadata["ticket_id"] == "SUP-2"
        assert by_id[tickets[0].id].sha256 == tickets[0].sha256

    def test_iter_ids_yields_every_id_once_in_batches(self, store, tickets):
        store.upsert(tickets)
        batches = list(store.iter_ids(batch_size=3))
        assert [len(batch) for batch in batches] == [3, 1]
        assert sorted(doc_id for batch in batches for doc_id in batch) == sorted(t.id for t in tickets)

    def test_ids_where_lists_what_a_filter_matches_up_to_the_limit(self, store, tickets):
        store.upsert(tickets)
        assert sorted(store.ids_where("category IN ('login', 'sync')", limit=10)) == sorted(
            [tickets[1].id, tickets[2].id]
        )
        assert len(store.ids_where("width = 640", limit=3)) == 3
        assert store.ids_where("category = 'none'", limit=10) == []

    def test_delete(self, store, tickets):
        store.upsert(tickets)
        assert store.delete([tickets[0].id, "missing"]) == 1
        assert store.count() == 3
        assert store.delete([]) == 0

    def test_keyword_search_english_chinese_and_captions(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        assert self.ids(store.keyword_search("declined card", limit=5))[0] == tickets[0].id
        assert self.ids(store.keyword_search("失败", limit=5)) == [tickets[1].id]
        assert self.ids(store.keyword_search("账户锁定", limit=5)) == [tickets[1].id]
        assert self.ids(store.keyword_search("coffee mug", limit=5)) == [tickets[3].id]
        assert self.ids(store.keyword_search("E-SYNC-507", limit=5))[0] == tickets[2].id
        assert store.keyword_search("zebra", limit=5) == []

    def test_metadata_values_and_file_names_are_found_by_keywords(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        assert self.ids(store.keyword_search("SUP-2", limit=5))[0] == tickets[1].id  # a metadata value
        assert self.ids(store.keyword_search("product", limit=5)) == [tickets[3].id]  # a photo without any text
        assert self.ids(store.keyword_search("quota", limit=5, where="category = 'sync'")) == [tickets[2].id]
        assert self.ids(store.keyword_search("locked", limit=5)) == [tickets[1].id]  # the file name locked.png
        assert store.keyword_search("png", limit=5) == []  # not the extension, which every image would match

    def test_keyword_count_is_what_keyword_search_finds_or_unknown(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        counted = store.keyword_count("error billing login")
        assert counted is None or counted == len(store.keyword_search("error billing login", limit=50)) == 3
        assert store.keyword_count("error", where="category = 'sync'") in (None, 1)
        assert store.keyword_count("zebra") in (None, 0)

    def test_newest_first_browses_what_a_filter_matches_in_pages(self, store, tickets):
        dated = [
            dataclasses.replace(record, ingested_at=record.ingested_at + timedelta(days=day))
            for day, record in enumerate(tickets)
        ]
        twin = dataclasses.replace(
            make_record("twin", "", "", {"category": "product"}), ingested_at=dated[3].ingested_at
        )
        store.upsert([*dated, twin])
        newest_first = [
            record.id for record in sorted([*dated, twin], key=lambda r: (-r.ingested_at.timestamp(), r.id))
        ]
        assert [record.id for record in store.newest(limit=10)] == newest_first
        pages = [store.newest(limit=2, offset=offset) for offset in (0, 2, 4)]
        assert [record.id for page in pages for record in page] == newest_first
        assert [len(page) for page in pages] == [2, 2, 1]
        products = store.newest(limit=10, where="category = 'product'")
        assert {record.id for record in products} == {dated[3].id, twin.id} and products[0].thumbnail
        assert store.newest(limit=10, where="category = 'none'") == []

    def test_summaries_list_what_a_filter_matches_without_thumbnails(self, store, tickets):
        store.upsert(tickets)
        every = store.summaries()
        assert [summary.id for summary in every] == sorted(record.id for record in tickets)
        card = next(summary for summary in every if summary.id == tickets[0].id)
        assert card.uri == tickets[0].uri and card.ocr_text == tickets[0].ocr_text
        assert card.caption == tickets[0].caption and card.pdq == tickets[0].pdq and card.pdq_quality == 90
        assert card.metadata == tickets[0].metadata and card.ingested_at == tickets[0].ingested_at
        assert card.vector is None
        with_vectors = {summary.id: summary.vector for summary in store.summaries(with_vector=True)}
        assert np.allclose(with_vectors[tickets[0].id], tickets[0].vector)
        billing = store.summaries(where="category = 'billing'")
        assert {summary.id for summary in billing} == {r.id for r in tickets if r.metadata.get("category") == "billing"}
        assert store.summaries(where="category = 'none'") == []

    def test_keyword_scores_are_best_first(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        scores = [score for _, score in store.keyword_search("error payment failed", limit=5)]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0

    def test_vector_search_is_cosine_nearest_first_and_skips_missing_vectors(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        results = store.vector_search(unit(1, 0.1), limit=10)
        assert self.ids(results) == [tickets[0].id, tickets[2].id, tickets[1].id]
        assert results[0][1] == pytest.approx(1 - float(unit(1, 0.1) @ unit(1, 0)), abs=1e-4)

    def test_filters_on_metadata(self, store, tickets):
        store.upsert(tickets)
        assert store.count("category = 'billing'") == 1
        assert store.count("category = 'billing' AND created_at >= '2025-01-01'") == 1
        assert store.count("created_at >= '2025-01-01'") == 2
        assert store.count("priority > 2") == 2  # numeric, not text, comparison: 10 > 2
        assert store.count("category IN ('login', 'sync')") == 2
        assert store.count("ticket_id LIKE 'SUP-%'") == 3
        assert store.count("ticket_id IS NULL") == 1
        assert store.count("NOT category = 'product' AND width = 640") == 3

    def test_filters_apply_to_both_search_sides(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        assert self.ids(store.keyword_search("error", limit=5, where="category = 'sync'")) == [tickets[2].id]
        assert self.ids(store.vector_search(unit(1), limit=5, where="category = 'login'")) == [tickets[1].id]

    def test_bad_filters_are_bad_input(self, store, tickets):
        store.upsert(tickets)
        with pytest.raises(BadInput, match="unknown field 'colour'"):
            store.count("colour = 'red'")
        with pytest.raises(BadInput, match="expected a value"):
            store.keyword_search("x", limit=3, where="category =")

    def test_new_metadata_column_on_an_existing_collection(self, store, tickets):
        store.upsert(tickets)
        store.upsert([make_record("new", "hello", metadata={"region": "EU"})])
        assert "region" in store.metadata_columns()
        assert store.count("region = 'EU'") == 1
        assert store.get([tickets[0].id])[0].metadata == tickets[0].metadata

    def test_hybrid_alpha_extremes_match_each_side(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        query = unit(0, 1, 0.2)
        keyword_only = store.hybrid(text="payment failed", vector=query, alpha=0.0, limit=3)
        assert [hit.record.id for hit in keyword_only] == self.ids(store.keyword_search("payment failed", limit=3))
        assert all(hit.scores.vector_distance is None for hit in keyword_only)
        vector_only = store.hybrid(text="payment failed", vector=query, alpha=1.0, limit=3)
        assert [hit.record.id for hit in vector_only] == self.ids(store.vector_search(query, limit=3))

    def test_hybrid_explains_scores_and_fuses_both_sides(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        hits = store.hybrid(text="payment failed", vector=unit(0, 1), alpha=0.5, limit=4)
        by_id = {hit.record.id: hit for hit in hits}
        assert set(by_id) == {tickets[0].id, tickets[1].id, tickets[2].id}
        card, locked = by_id[tickets[0].id].scores, by_id[tickets[1].id].scores
        assert card.bm25 is not None and card.bm25 > 0 and card.vector_distance is not None
        assert locked.vector_distance == pytest.approx(0.0, abs=1e-5)
        assert all(0.0 <= hit.scores.fused <= 1.0 for hit in hits)
        assert [hit.scores.fused for hit in hits] == sorted((hit.scores.fused for hit in hits), reverse=True)

    def test_hybrid_ranked_fusion_and_limit(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        hits = store.hybrid(text="error", vector=unit(1), alpha=0.5, limit=2, fusion=Fusion.RANKED)
        assert len(hits) == 2
        assert all(hit.scores.fused <= 1 / 60 for hit in hits)

    def test_hybrid_without_vector_is_keyword_search(self, store, tickets):
        store.upsert(tickets)
        store.optimize()
        hits = store.hybrid(text="coffee", vector=None, alpha=0.0, limit=5)
        assert [hit.record.id for hit in hits] == [tickets[3].id]

    def test_stats(self, store, tickets):
        store.upsert(tickets)
        figures = store.stats()
        assert isinstance(figures, StoreStats) and figures.engine == store.engine
        assert figures.count == 4
        assert figures.with_vector == 3
        assert {"category", "ticket_id"} <= set(figures.metadata_columns)
        assert figures.to_json()["count"] == 4 and figures.to_json()["vector_dim"] == figures.vector_dim

    def test_distinct_values_most_frequent_first(self, store, tickets):
        store.upsert(
            [*tickets, make_record("receipt", "Total 12.00", metadata={"category": "billing", "ticket_id": ""})]
        )
        assert store.distinct_values("category") == [("billing", 2), ("login", 1), ("product", 1), ("sync", 1)]
        assert store.distinct_values("category", limit=2) == [("billing", 2), ("login", 1)]
        assert store.distinct_values("ticket_id") == [("SUP-1", 1), ("SUP-2", 1), ("SUP-3", 1)]  # no "" and no null
        with pytest.raises(BadInput, match="not a metadata column"):
            store.distinct_values("colour")

    def test_visual_search_finds_a_crop_of_a_stored_picture_by_its_visual_words(self, store):
        pictures = {}
        for name in ("photo_cat_chelsea.jpg", "product_sneaker_red.jpg", "photo_rocket_launch.jpg"):
            image = Image.open(SAMPLE_IMAGES / name).convert("RGB")
            record = make_record(name.split(".")[0], metadata={"category": name.split("_")[0]})
            pictures[name] = image
            store.upsert([dataclasses.replace(record, thumbnail=thumbnail_jpeg(image))])
        store.upsert([make_record("broken", "no picture")])  # a thumbnail that does not decode has no words
        store.optimize()
        cat = pictures["photo_cat_chelsea.jpg"]
        width, height = cat.size
        crop = cat.crop((width // 8, height // 10, width - width // 10, height - height // 8))
        words = words_of(features(thumbnail_jpeg(crop)))
        found = store.visual_search(words, limit=3)
        assert found and found[0][0] == make_record("photo_cat_chelsea").id
        assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)
        assert make_record("broken").id not in self.ids(found)
        elsewhere = store.visual_search(words, limit=3, where="category = 'product'")
        assert self.ids(elsewhere) in ([], [make_record("product_sneaker_red").id])
