"""Reduced (OCR + keyword) mode through the real Searcher and LanceStore: metadata and file names are found by
keywords, filters alone browse newest first, and results carry a total and page with an offset."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from pipeline.errors import BadInput
from pipeline.ocr import RapidOcrEngine
from pipeline.search.explain import why
from pipeline.search.searcher import NEWEST, RELEVANCE, Searcher
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, make_record

PRODUCTS = ("product_mug_white", "product_backpack_green", "photo_cat_chelsea")


@pytest.fixture
def searcher(tmp_path) -> Searcher:
    """Three product photos without text (ingested a day apart, the cat last), two tickets and 30 receipts."""
    products = [
        dataclasses.replace(
            make_record(name, metadata={"kind": "product", "ticket_id": ""}),
            ingested_at=make_record(name).ingested_at + timedelta(days=day),
        )
        for day, name in enumerate(PRODUCTS)
    ]
    tickets = [
        make_record("payflow", "Payment failed PF-4021", metadata={"kind": "screenshot", "ticket_id": "SUP-1042"}),
        make_record("nimbus", "登录失败 NB-1003", metadata={"kind": "screenshot", "ticket_id": "SUP-1057"}),
    ]
    receipts = [
        make_record(f"receipt{n}", f"TOTAL {n}.00 " + "thank you " * (n % 7 + 1), metadata={"kind": "text"})
        for n in range(30)
    ]
    store = LanceStore(tmp_path, dim=DIM)
    store.upsert([*products, *tickets, *receipts])
    store.optimize()
    return Searcher(store, RapidOcrEngine(), None)


def names(result) -> list[str]:
    return [hit.record.uri.rsplit("/", 1)[-1].removesuffix(".png") for hit in result.hits]


@pytest.mark.parametrize(
    ("query", "found", "reason"),
    [
        ("SUP-1042", "payflow", "metadata ticket_id = SUP-1042"),
        ("backpack", "product_backpack_green", "file name product_backpack_green.png"),
        ("cat", "photo_cat_chelsea", "file name photo_cat_chelsea.png"),
        ("product", "product_mug_white", "metadata kind = product"),
    ],
)
def test_metadata_values_and_file_names_are_found_with_the_field_named(searcher, query, found, reason):
    result = searcher.search(text=query, limit=5)
    assert found in names(result)
    hit = result.hits[names(result).index(found)]
    assert reason in why(hit, result.keyword_text)
    assert result.order == RELEVANCE


def test_filters_alone_browse_newest_first_with_a_total_and_pages(searcher):
    result = searcher.search(where="kind = 'product'", limit=2)
    assert result.order == NEWEST and result.total == 3
    assert names(result) == ["photo_cat_chelsea", "product_backpack_green"]
    assert names(searcher.search(where="kind = 'product'", limit=2, offset=2)) == ["product_mug_white"]
    assert searcher.search(where="kind = 'none'", limit=2).hits == []


def test_no_text_no_image_and_no_filter_is_refused(searcher):
    with pytest.raises(BadInput, match="give a text, an image, a filter"):
        searcher.search(text="  ", limit=5)


def test_total_counts_every_keyword_match_not_the_hits_shown(searcher):
    result = searcher.search(text="thank you", limit=5)
    assert len(result.hits) == 5 and result.total == 30
    assert searcher.search(text="thank you", where="kind = 'screenshot'", limit=5).total == 0
    assert searcher.search(text="zebra", limit=5).total == 0


def test_offset_pages_do_not_overlap_and_cover_the_ranking(searcher):
    whole = [hit.record.id for hit in searcher.search(text="total thank", limit=30).hits]
    pages = [
        [hit.record.id for hit in searcher.search(text="total thank", limit=7, offset=start).hits]
        for start in range(0, 42, 7)
    ]
    assert [doc_id for page in pages for doc_id in page] == whole and len(set(whole)) == 30
    assert pages[-1] == []  # past the last match: an empty page, not an error


def test_a_bad_offset_is_refused_naming_it(searcher):
    with pytest.raises(BadInput, match="offset"):
        searcher.search(text="total", limit=5, offset=-1)
    with pytest.raises(BadInput, match="offset"):
        searcher.search(text="total", limit=10, offset=995)


def test_a_relevance_cutoff_on_a_filter_alone_is_reported_as_not_applied(searcher):
    result = searcher.search(where="kind = 'product'", limit=5, min_relevance=0.5)
    assert len(result.hits) == 3 and "no relevance to cut" in result.cutoff_not_applied
