import numpy as np
import pytest

from pipeline.errors import StoreError
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, StoreConformance, make_record, unit


class TestLanceStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        return LanceStore(tmp_path / "lance", dim=DIM, ann_min_rows=256)


def test_reopening_keeps_data_and_refuses_another_dimension(tmp_path):
    LanceStore(tmp_path, dim=DIM).upsert([make_record("a", "hello", vector=unit(1))])
    assert LanceStore(tmp_path, dim=DIM).count() == 1
    with pytest.raises(StoreError, match="holds 8-d vectors but VLSEARCH_EMBED_DIM is 16"):
        LanceStore(tmp_path, dim=16)


def test_wrong_vector_shape_is_refused_without_writing(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    good = make_record("good", "ok", vector=unit(1))
    bad = make_record("bad", "x", vector=np.ones(3, dtype=np.float32))
    with pytest.raises(StoreError, match="vector has shape"):
        store.upsert([good, bad])
    assert store.count() == 0


def test_ann_index_is_built_once_the_table_is_large_enough(tmp_path):
    store = LanceStore(tmp_path, dim=DIM, ann_min_rows=256)
    rng = np.random.default_rng(0)
    records = []
    for i in range(300):
        vector = rng.normal(size=DIM).astype(np.float32)
        records.append(make_record(f"r{i}", f"text {i}", vector=vector / np.linalg.norm(vector)))
    store.upsert(records[:100])
    store.optimize()
    assert "vector_idx" not in store.stats()["indexes"]
    store.upsert(records[100:])
    store.optimize()
    assert "vector_idx" in store.stats()["indexes"]
    assert store.vector_search(records[7].vector, limit=1)[0][0] == records[7].id


def test_words_that_ocr_glued_together_are_still_found(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    glued = make_record("vpn", "Connectionfailed ErrorVPN-809:Thenetworkconnection betweenyourcomputer")
    store.upsert([glued, make_record("other", "network settings")])
    store.optimize()
    assert store.keyword_search("connection failed", limit=5)[0][0] == glued.id
    assert store.keyword_search("your computer", limit=5)[0][0] == glued.id


def test_lookups_and_filters_see_records_written_after_the_indexes(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    moved = make_record("a", "alpha", metadata={"category": "billing"})
    store.upsert([moved, make_record("b", "beta", metadata={"category": "login"})])
    store.optimize()
    assert {"id_idx", "uri_idx", "m_category_idx"} <= set(store.stats()["indexes"])
    moved.metadata = {"category": "login"}
    added = make_record("c", "gamma", metadata={"category": "billing"})
    store.upsert([moved, added])
    for _ in range(2):  # before and after the indexes take the new rows in
        assert store.ids_where("category = 'billing'", limit=10) == [added.id]
        assert store.count("category = 'login'") == 2
        assert [record.metadata for record in store.get([moved.id, added.id])] == [moved.metadata, added.metadata]
        assert [asset.id for asset in store.lookup(uris=[added.uri], ids=[])] == [added.id]
        store.optimize()
