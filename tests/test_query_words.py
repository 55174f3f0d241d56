"""Typed questions: their question and function words are left out of the keyword query, in English and Chinese,
so a page that merely contains one of them no longer outranks the page the question is about."""

from __future__ import annotations

import pytest

from pipeline.ocr import RapidOcrEngine
from pipeline.search.query_words import content_words
from pipeline.search.searcher import Searcher
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, make_record

# A small manual. Paths are on every page; "find", "point", 如何 and 我的 are rare, like the topic words.
PAGES = {
    "search-dialog": "Find: type the text to find, then press Find Next; the insertion point moves to the match.",
    "intersection": "Path > Intersection keeps only the area where the selected paths overlap.",
    "union": "Path > Union joins the selected paths into one path.",
    "difference": "Path > Difference cuts the top path out of the path below it; both paths must be closed paths.",
    "simplify": "Path > Simplify removes nodes from the selected paths; paths keep their shape.",
    "offset": "Path > Outset and Inset move the path outward or inward; open paths become closed paths.",
    "密码": "忘记密码：在登录页点击链接，按邮件设置新的登录凭证。",
    "网络": "如何排查网络问题？我的设备是否已连接？如何重启路由器？我的路由器在哪里？",
}
QUESTIONS = [
    # (question, the page its own words picked, the page it is about)
    ("find the intersection point of two paths", "search-dialog", "intersection"),
    ("如何重置我的密码", "网络", "密码"),
]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory) -> Searcher:
    store = LanceStore(tmp_path_factory.mktemp("manual"), dim=DIM)
    store.upsert([make_record(name, text) for name, text in PAGES.items()])
    store.optimize()
    return Searcher(store, RapidOcrEngine(), None)


def page(uri: str) -> str:
    return uri.rsplit("/", 1)[-1].removesuffix(".png")


def first(searcher: Searcher, query: str) -> str:
    return page(searcher.search(text=query, limit=3).hits[0].record.uri)


def name(doc_id: str, searcher: Searcher) -> str:
    (record,) = searcher.store.get([doc_id])
    return page(record.uri)


@pytest.mark.parametrize(("question", "picked_before", "about"), QUESTIONS)
def test_a_question_finds_the_page_it_is_about_not_the_page_with_its_question_words(
    searcher, question, picked_before, about
):
    assert name(searcher.store.keyword_search(question, limit=1)[0][0], searcher) == picked_before  # BM25 alone
    assert first(searcher, question) == about


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("find the intersection point of two paths", "intersection point two paths"),
        ("How do I reset my password?", "reset password?"),
        ("why is there no internet", "no internet"),  # negations stay: error messages turn on them
        ("Error PF-4021: card declined", "Error PF-4021: card declined"),
        ("如何重置我的密码", "重置 密码"),
        ("为什么没有网络", "没有 网络"),
        ("how to", "how to"),  # nothing but filler: the question as it is
    ],
)
def test_question_and_function_words_are_left_out(query, kept):
    assert content_words(query) == kept
