import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest
from lancedb.index import FTS, BTree
from PIL import Image

from pipeline.images import thumbnail_jpeg
from pipeline.keypoints import features
from pipeline.store.analyzer import ANALYZER_VERSION, search_tokens
from pipeline.store.lance_engine import ANALYZER_KEY, TEXT_COLUMN, VISUAL_COLUMN, LanceStore
from pipeline.store.visual_words import words_of
from tests.store_conformance import DIM, SAMPLE_IMAGES, StoreConformance, make_record, unit


class TestLanceStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        return LanceStore(tmp_path / "lance", dim=DIM, ann_min_rows=256)

    @pytest.fixture
    def reopen(self, tmp_path):
        return lambda dim: LanceStore(tmp_path / "lance", dim=dim)


def test_close_is_safe_twice_and_a_reopened_store_has_the_data(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    store.upsert([make_record("login", "login failed", vector=unit(1))])
    store.close()
    store.close()
    assert LanceStore(tmp_path, dim=DIM).count() == 1


def test_ann_index_is_built_once_the_table_is_large_enough(tmp_path):
    store = LanceStore(tmp_path, dim=DIM, ann_min_rows=256)
    rng = np.random.default_rng(0)
    records = []
    for i in range(300):
        vector = rng.normal(size=DIM).astype(np.float32)
        records.append(make_record(f"r{i}", f"text {i}", vector=vector / np.linalg.norm(vector)))
    store.upsert(records[:100])
    store.optimize()
    assert "vector_idx" not in store.stats().indexes
    store.upsert(records[100:])
    store.optimize()
    assert "vector_idx" in store.stats().indexes
    assert store.vector_search(records[7].vector, limit=1)[0][0] == records[7].id


def test_glued_words_are_found_whichever_part_of_the_run_they_are(tmp_path):
    # The engine-independent part (the start of a run) is in the conformance suite.
    store = LanceStore(tmp_path, dim=DIM)
    glued = make_record("vpn", "Connectionfailed ErrorVPN-809:Thenetworkconnection betweenyourcomputer")
    store.upsert([glued, make_record("other", "network settings")])
    store.optimize()
    assert store.keyword_search("your computer", limit=5)[0][0] == glued.id


def test_lookups_and_filters_see_records_written_after_the_indexes(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    moved = make_record("a", "alpha", metadata={"category": "billing"})
    store.upsert([moved, make_record("b", "beta", metadata={"category": "login"})])
    store.optimize()
    assert {"id_idx", "uri_idx", "m_category_idx"} <= set(store.stats().indexes)
    moved.metadata = {"category": "login"}
    added = make_record("c", "gamma", metadata={"category": "billing"})
    store.upsert([moved, added])
    for _ in range(2):  # before and after the indexes take the new rows in
        assert store.ids_where("category = 'billing'", limit=10) == [added.id]
        assert store.count("category = 'login'") == 2
        assert [record.metadata for record in store.get([moved.id, added.id])] == [moved.metadata, added.metadata]
        assert [asset.id for asset in store.lookup(uris=[added.uri], ids=[])] == [added.id]
        store.optimize()


def _per_field_layout(directory, records, *, merged_column_added=False):
    """A store as written before keyword search had one column: analysed ocr_tokens and caption_tokens,
    each with its own FTS index (optionally with an upgrade killed after adding the merged column)."""
    current = LanceStore(directory / "current", dim=DIM)
    current.upsert(records)
    rows = lancedb.connect(directory / "current").open_table("assets").to_arrow().drop_columns([TEXT_COLUMN])
    ocr, caption = (rows.column(name).to_pylist() for name in ("ocr_text", "caption"))
    rows = rows.append_column("ocr_tokens", pa.array([search_tokens(text) for text in ocr], pa.string()))
    rows = rows.append_column("caption_tokens", pa.array([search_tokens(text) for text in caption], pa.string()))
    table = lancedb.connect(directory / "old").create_table("assets", data=rows, on_bad_vectors="null")
    for column in ("ocr_tokens", "caption_tokens"):
        table.create_index(column, config=FTS(with_position=False))
    table.create_index("id", config=BTree())
    if merged_column_added:
        table.add_columns({TEXT_COLUMN: "concat_ws(' ', ocr_tokens, caption_tokens)"})
    return directory / "old"


@pytest.mark.parametrize("merged_column_added", [False, True], ids=["per-field store", "upgrade killed halfway"])
def test_a_store_with_per_field_text_columns_is_upgraded_on_open(tmp_path, merged_column_added):
    records = [
        make_record(
            "login", "登录失败 请稍后再试", caption="a phone showing an error dialog", metadata={"app": "Mail"}
        ),
        make_record("receipt", "TOTAL 12.50 Thank you", caption="a paper receipt on a table"),
        make_record("mug", "", caption="a blue coffee mug"),
    ]
    old = _per_field_layout(tmp_path, records, merged_column_added=merged_column_added)

    store = LanceStore(old, dim=DIM)

    columns = set(lancedb.connect(old).open_table("assets").schema.names)
    assert TEXT_COLUMN in columns and not {"ocr_tokens", "caption_tokens"} & columns
    assert f"{TEXT_COLUMN}_idx" in store.stats().indexes and not {"ocr_tokens_idx", "caption_tokens_idx"} & set(
        store.stats().indexes
    )
    assert store.count() == 3
    assert [record.ocr_text for record in store.get([r.id for r in records])] == [r.ocr_text for r in records]
    assert store.keyword_search("登录", limit=3)[0][0] == records[0].id  # OCR text, segmented
    assert store.keyword_search("error dialog", limit=3)[0][0] == records[0].id  # caption
    assert store.keyword_search("coffee mug", limit=3)[0][0] == records[2].id  # caption only, no OCR text
    assert store.keyword_search("total", limit=3, where="app IS NULL")[0][0] == records[1].id
    assert LanceStore(old, dim=DIM).keyword_search("receipt", limit=1)[0][0] == records[1].id  # reopens as is


STORE_WRITTEN_BEFORE_SEARCH_TERMS = Path(__file__).parent / "data" / "stores" / "text_tokens_v1"


def test_a_store_written_before_metadata_was_searchable_is_upgraded_on_open_without_losing_data(tmp_path):
    """tests/data/stores/text_tokens_v1 was written by the LanceStore of commit 24e8f43 (keyword column
    text_tokens: OCR text and caption only). Opening it fills the new column for every record."""
    directory = tmp_path / "old"
    shutil.copytree(STORE_WRITTEN_BEFORE_SEARCH_TERMS, directory)
    before = lancedb.connect(directory).open_table("assets").to_arrow().drop_columns(["text_tokens"])

    store = LanceStore(directory, dim=DIM)

    table = lancedb.connect(directory).open_table("assets")
    assert TEXT_COLUMN in table.schema.names and "text_tokens" not in table.schema.names
    assert table.count_rows(f"{TEXT_COLUMN} IS NULL") == 0
    after = table.to_arrow().drop_columns([TEXT_COLUMN, VISUAL_COLUMN]).sort_by("id")
    assert after.equals(before.select(after.column_names).sort_by("id"))  # every field of every record kept
    assert f"{TEXT_COLUMN}_idx" in store.stats().indexes and "text_tokens_idx" not in store.stats().indexes
    by_name = {Path(record.uri).stem: record.id for record in store.get(after.column("id").to_pylist())}
    assert [doc_id for doc_id, _ in store.keyword_search("SUP-1042", limit=3)][:1] == [by_name["payflow_card_declined"]]
    assert [doc_id for doc_id, _ in store.keyword_search("backpack", limit=3)] == [by_name["product_backpack_green"]]
    assert store.keyword_search("登录", limit=3)[0][0] == by_name["nimbus_login"]  # OCR text still found
    assert (
        store.keyword_search("declined", limit=3, where="category = 'billing'")[0][0]
        == by_name["payflow_card_declined"]
    )
    reopened = LanceStore(directory, dim=DIM)  # opens as is, nothing left to upgrade
    assert (
        reopened.count() == 3 and reopened.keyword_search("product", limit=5)[0][0] == by_name["product_backpack_green"]
    )


def test_an_upgrade_killed_after_adding_the_column_is_finished_on_the_next_open(tmp_path):
    directory = tmp_path / "old"
    shutil.copytree(STORE_WRITTEN_BEFORE_SEARCH_TERMS, directory)
    lancedb.connect(directory).open_table("assets").add_columns({TEXT_COLUMN: "CAST(NULL AS STRING)"})

    store = LanceStore(directory, dim=DIM)

    assert lancedb.connect(directory).open_table("assets").count_rows(f"{TEXT_COLUMN} IS NULL") == 0
    assert len(store.keyword_search("SUP-1042", limit=3)) >= 1


def test_metadata_values_and_the_file_name_are_searched_with_the_text(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    photo = make_record("photo_cat_chelsea", "", metadata={"ticket_id": "", "category": "photo"})
    ticket = make_record("payflow", "Payment failed", metadata={"ticket_id": "SUP-1042", "category": "billing"})
    store.upsert([photo, ticket])
    store.optimize()
    assert [doc_id for doc_id, _ in store.keyword_search("cat", limit=5)] == [photo.id]
    assert [doc_id for doc_id, _ in store.keyword_search("SUP-1042", limit=5)] == [ticket.id]
    store.upsert([dataclasses.replace(ticket, metadata={"ticket_id": "SUP-2000", "category": "billing"})])
    assert store.keyword_search("1042", limit=5) == []  # an update replaces the searchable values
    assert store.keyword_count("photo billing", where=None) == 2 and store.keyword_count("zebra") == 0


def test_keyword_search_scores_ocr_text_and_caption_as_one_document(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    both = make_record("both", "Payment declined", caption="a checkout screen")
    ocr_only = make_record("ocr", "Payment declined by the bank")
    caption_only = make_record("other", "Sync finished", caption="a checkout screen")
    store.upsert([both, ocr_only, caption_only])
    store.optimize()
    found = [doc_id for doc_id, _ in store.keyword_search("payment declined checkout", limit=3)]
    assert found[0] == both.id and set(found) == {both.id, ocr_only.id, caption_only.id}


def test_hits_loaded_after_a_search_are_current_after_updates_deletes_and_compaction(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    records = [make_record(f"r{i}", f"invoice {i}", vector=unit(1, i)) for i in range(30)]
    store.upsert(records)
    store.optimize()
    found = [doc_id for doc_id, _ in store.keyword_search("invoice", limit=30)]  # every record, addresses known
    assert [record.id for record in store.get(found)] == found  # more than the engine's default page of 10

    changed = dataclasses.replace(records[3], ocr_text="invoice 3 corrected")
    store.upsert([changed])
    store.delete([records[4].id])
    assert [record.ocr_text for record in store.get([records[3].id, records[4].id])] == ["invoice 3 corrected"]

    store.optimize()  # compaction rewrites the rows the remembered addresses pointed at
    assert [record.ocr_text for record in store.get([records[5].id, records[3].id])] == [
        "invoice 5",
        "invoice 3 corrected",
    ]
    assert len(store.get(found)) == 29


RACED_RECORDS = 20
# A writer in its own interpreter (not multiprocessing: spawn re-imports whatever `__main__` an
# earlier test left behind): it says it is ready, waits for the go, then upserts one at a time.
RACING_WRITER = """
import sys, time
from pathlib import Path
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, make_record, unit
directory, ready, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
store = LanceStore(directory, dim=DIM)
ready.touch()
while not go.exists():
    time.sleep(0.001)
for n in range(int(sys.argv[4])):
    store.upsert([make_record(f"raced-{n}", "the same new record from two writers", vector=unit(1))])
"""


@pytest.mark.slow
def test_two_processes_upserting_the_same_new_records_at_once_store_each_once(tmp_path):
    store_dir, go = tmp_path / "lance", tmp_path / "go"
    LanceStore(store_dir, dim=DIM)
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_WRITER, str(store_dir), str(flag), str(go), str(RACED_RECORDS)],
            cwd=Path(__file__).resolve().parents[1],
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    store = LanceStore(store_dir, dim=DIM)
    assert store.count() == RACED_RECORDS
    assert len(store.keyword_search("writers", limit=100)) == RACED_RECORDS


def test_a_store_written_before_visual_words_gets_them_from_optimize(tmp_path):
    """Opening adds the empty column (filling it reads every thumbnail: too slow for an open); optimize fills it,
    and only then does an image query find a record by how it looks."""
    image = Image.open(SAMPLE_IMAGES / "product_backpack_green.jpg").convert("RGB")
    records = [
        dataclasses.replace(make_record("backpack"), thumbnail=thumbnail_jpeg(image)),
        make_record("receipt", "TOTAL 12.50"),
    ]
    LanceStore(tmp_path, dim=DIM).upsert(records)
    lancedb.connect(tmp_path).open_table("assets").drop_columns([VISUAL_COLUMN])
    words = words_of(features(thumbnail_jpeg(image.crop((40, 30, image.width - 20, image.height - 40)))))

    store = LanceStore(tmp_path, dim=DIM)
    table = lancedb.connect(tmp_path).open_table("assets")
    assert table.count_rows(f"{VISUAL_COLUMN} IS NULL") == 2
    assert store.visual_search(words, limit=2) == []
    store.optimize()

    table.checkout_latest()
    assert table.count_rows(f"{VISUAL_COLUMN} IS NULL") == 0
    assert [doc_id for doc_id, _ in store.visual_search(words, limit=2)] == [records[0].id]
    assert [record.ocr_text for record in store.get([r.id for r in records])] == ["", "TOTAL 12.50"]


def test_terms_made_by_an_older_analyzer_are_made_again_on_open(tmp_path):
    """Analyzer 1 did not split a word glued to a number; a store it filled finds "gnuplot" once reopened."""
    record = make_record("manual", "Plot the curve with gnuplot5 and save it")
    LanceStore(tmp_path, dim=DIM).upsert([record])
    table = lancedb.connect(tmp_path).open_table("assets")
    old_terms = pa.table({"id": [record.id], TEXT_COLUMN: ["Plot the curve with gnuplot5 and save it manual"]})
    table.merge_insert("id").when_matched_update_all().execute(old_terms)
    table.update_field_metadata({"path": TEXT_COLUMN, "metadata": {ANALYZER_KEY: None}})
    assert "gnuplot " not in table.to_arrow().column(TEXT_COLUMN)[0].as_py()

    store = LanceStore(tmp_path, dim=DIM)

    assert [doc_id for doc_id, _ in store.keyword_search("gnuplot", limit=3)] == [record.id]
    assert store.get([record.id])[0].ocr_text == record.ocr_text  # nothing else changed
    table.checkout_latest()
    assert table.schema.field(TEXT_COLUMN).metadata == {ANALYZER_KEY.encode(): ANALYZER_VERSION.encode()}
