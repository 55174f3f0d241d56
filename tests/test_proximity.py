"""Typed questions: a page that holds the question's words as a phrase, or close together, is lifted over a page
that has them more often but apart (pipeline/search/proximity.py). Real LanceStore, real search."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ocr import RapidOcrEngine
from pipeline.search.explain import why
from pipeline.search.proximity import NEAR, closeness
from pipeline.search.searcher import Searcher
from pipeline.store.lance_engine import LanceStore
from tests.store_conformance import DIM, make_record

# Short, and says "two", "point" and "paths" often: BM25 ranks it first for the question below.
WORDS_APART = (
    "Paths and points. Two tools edit paths: one moves each point, the other adds two points to paths. "
    "Intersection mode is off by default."
)
# Long, and says the question's words once, side by side: the page the question is about.
PHRASE = (
    "Snapping. The snapping bar sets what the cursor sticks to while you draw: grid lines, guides, page borders, "
    "bounding boxes, object centres, rotation centres, and nodes. To find the intersection point of two paths, "
    "turn on snapping to path intersections; the cursor then stops where the outlines cross, and a tooltip names "
    "what it snapped to. Snapping can be paused with the % key."
)
# The chapter around them: about paths, not about intersections.
PATHS = (
    "Working with paths. A path is a line made of nodes. Draw a path with the pen tool, edit the path with the "
    "node tool, combine a path with another path, break a path apart, reverse a path, simplify a path. Every "
    "path has a fill and a stroke; a closed path has an inside."
)
QUESTION = "find the intersection point of two paths"


@pytest.fixture
def searcher(tmp_path: Path) -> Searcher:
    store = LanceStore(tmp_path, dim=DIM)
    store.upsert([make_record("apart", WORDS_APART), make_record("phrase", PHRASE), make_record("paths", PATHS)])
    store.optimize()
    return Searcher(store, RapidOcrEngine(), None)


def test_the_page_with_the_phrase_comes_first_and_says_why(searcher):
    keyword_only = searcher.store.keyword_search("intersection point two paths", limit=2)
    assert keyword_only[0][0] == make_record("apart").id  # what BM25 alone ranks first

    result = searcher.search(text=QUESTION, limit=3)

    assert [Path(hit.record.uri).stem for hit in result.hits] == ["phrase", "apart", "paths"]
    assert result.hits[0].scores.proximity == 1.0 and not result.hits[1].scores.proximity
    assert "the query's words as a phrase" in why(result.hits[0], result.keyword_text)


def test_closeness_is_a_phrase_all_words_near_or_nothing():
    query = ["intersection", "point", "two", "paths"]
    assert closeness(query, "the Intersection point of two paths") == 1.0  # one word between is still the phrase
    assert closeness(query, "two paths meet at one point: their intersection") == NEAR  # all together, other order
    assert closeness(query, WORDS_APART) == 0.0  # three together, the fourth far away
    assert closeness(["paths"], "paths paths") == 0.0  # one word has no proximity


def test_an_image_query_and_a_one_word_query_are_not_rescored(searcher):
    assert all(hit.scores.proximity is None for hit in searcher.search(text="intersection", limit=2).hits)
