"""The rerank stage's ordering, cache, budget and cutoff, with a scripted reranker
(what the probabilities mean does not matter here; tests/test_search_rerank.py uses the model)."""

from __future__ import annotations

import pytest

from pipeline.errors import ModelUnavailable
from pipeline.models import Query
from pipeline.records import Hit, Scores
from pipeline.search.rerank import RerankCache, RerankStage, query_key
from tests.store_conformance import make_record


class ScriptedReranker:
    name = "scripted"
    accelerated = False

    def __init__(self, scores: dict[str, float]):
        self.scores = scores
        self.calls: list[int] = []

    def score(self, query, documents):
        self.calls.append(len(documents))
        if "broken" in self.scores:
            raise ModelUnavailable(self.name, "'yes' is not a single token")
        return [self.scores[document.ocr_text] for document in documents]


class StepClock:
    """Advances one second per reading: the budget is spent after a known number of chunks."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def hits(*names: str) -> list[Hit]:
    return [Hit(make_record(name, ocr_text=name), Scores(fused=1.0 - index / 10)) for index, name in enumerate(names)]


def stage(reranker, **options) -> RerankStage:
    defaults = dict(depth=10, batch_size=2, budget_s=100.0, max_file_bytes=1_000_000)
    return RerankStage(reranker, **{**defaults, **options})


def order(outcome):
    return [hit.record.ocr_text for hit in outcome.hits]


def test_order_follows_the_probability_and_fused_score_breaks_ties():
    reranker = ScriptedReranker({"a": 0.2, "b": 0.9, "c": 0.9, "d": 0.5})
    outcome = stage(reranker).apply(Query(text="q"), hits("a", "b", "c", "d"))
    assert order(outcome) == ["b", "c", "d", "a"]  # b before c: same probability, higher fused score
    assert [hit.scores.rerank for hit in outcome.hits] == [0.9, 0.9, 0.5, 0.2]
    assert reranker.calls == [2, 2]
    assert (outcome.scored, outcome.partial, outcome.dropped) == (4, False, 0)


def test_only_the_top_depth_is_reranked_and_the_rest_keeps_fused_order():
    reranker = ScriptedReranker({"a": 0.1, "b": 0.8})
    outcome = stage(reranker, depth=2).apply(Query(text="q"), hits("a", "b", "c", "d"))
    assert order(outcome) == ["b", "a", "c", "d"]
    assert outcome.hits[2].scores.rerank is None


def test_cache_hits_skip_the_model():
    reranker = ScriptedReranker({"a": 0.3, "b": 0.7})
    cache = RerankCache()
    stage(reranker, cache=cache).apply(Query(text="q"), hits("a", "b"))
    again = stage(reranker, cache=cache).apply(Query(text="q"), hits("a", "b"))
    assert reranker.calls == [2] and cache.hits == 2
    assert order(again) == ["b", "a"]
    stage(reranker, cache=cache).apply(Query(text="other query"), hits("a", "b"))
    assert reranker.calls == [2, 2]


def test_budget_exhausted_leaves_the_rest_in_fused_order_and_says_so():
    reranker = ScriptedReranker({"a": 0.1, "b": 0.2, "c": 0.9, "d": 0.8})
    outcome = stage(reranker, budget_s=0.5, clock=StepClock()).apply(Query(text="q"), hits("a", "b", "c", "d"))
    assert reranker.calls == [2]
    assert outcome.partial and outcome.scored == 2
    assert order(outcome) == ["b", "a", "c", "d"]


def test_cutoff_drops_hits_below_it_and_unscored_hits():
    reranker = ScriptedReranker({"a": 0.2, "b": 0.9, "c": 0.6})
    outcome = stage(reranker, depth=3).apply(Query(text="q"), hits("a", "b", "c", "d"), min_relevance=0.5)
    assert order(outcome) == ["b", "c"]
    assert outcome.dropped == 2


def test_query_key_depends_on_text_and_pixels():
    from PIL import Image

    red, blue = Image.new("RGB", (4, 4), "red"), Image.new("RGB", (4, 4), "blue")
    assert query_key(Query(text="x", image=red)) == query_key(Query(text="x", image=red.copy()))
    assert query_key(Query(text="x", image=red)) != query_key(Query(text="x", image=blue))
    assert query_key(Query(text="x")) != query_key(Query(text="y"))


def test_cache_is_bounded():
    cache = RerankCache(max_entries=2)
    for index in range(3):
        cache.put(("m", "q", str(index)), 0.5)
    assert cache.get(("m", "q", "0")) is None and cache.get(("m", "q", "2")) == 0.5


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_cutoff_must_be_a_probability(bad, tmp_path):
    from pipeline.errors import BadInput
    from pipeline.ocr import RapidOcrEngine
    from pipeline.search.searcher import Searcher
    from pipeline.store.lance_engine import LanceStore

    searcher = Searcher(LanceStore(tmp_path, dim=8), RapidOcrEngine(), None)
    with pytest.raises(BadInput, match="not a probability"):
        searcher.search(text="x", rerank=True, min_relevance=bad)


def test_the_first_batch_runs_even_when_the_budget_is_tiny():
    reranker = ScriptedReranker({"a": 0.1, "b": 0.2, "c": 0.9})
    outcome = stage(reranker, budget_s=1e-12).apply(Query(text="q"), hits("a", "b", "c"))
    assert reranker.calls == [2] and outcome.partial and order(outcome) == ["b", "a", "c"]


def test_a_reranker_failure_keeps_the_fused_order_and_reports_why():
    outcome = stage(ScriptedReranker({"broken": 0.0})).apply(Query(text="q"), hits("a", "b", "c"))
    assert order(outcome) == ["a", "b", "c"] and outcome.partial and outcome.scored == 0
    assert "'yes' is not a single token" in outcome.error


def test_later_batches_run_only_when_their_estimated_time_fits_the_budget():
    reranker = ScriptedReranker({name: 0.5 for name in "abcdef"})
    # StepClock ticks one second per reading: before batch 2, 2 s spent on 2 pairs -> 4 s estimated, fits 4.2;
    # before batch 3, 3 s spent on 4 pairs -> 4.5 s estimated, does not.
    outcome = stage(reranker, budget_s=4.2, clock=StepClock()).apply(Query(text="q"), hits(*"abcdef"))
    assert reranker.calls == [2, 2] and outcome.partial and outcome.scored == 4


def test_search_reranks_by_default_only_on_a_gpu_or_for_a_cutoff(tmp_path):
    from pipeline.ocr import RapidOcrEngine
    from pipeline.search.searcher import Searcher
    from pipeline.store.lance_engine import LanceStore

    store = LanceStore(tmp_path, dim=8)
    store.upsert([make_record(name, ocr_text=f"payment {name}") for name in ("a", "b")])
    reranker = ScriptedReranker({"payment a": 0.2, "payment b": 0.9})
    searcher = Searcher(store, RapidOcrEngine(), None, stage(reranker))
    assert searcher.search(text="payment").reranked == 0
    assert searcher.search(text="payment", min_relevance=0.5).reranked == 2
    reranker.accelerated = True
    assert [hit.scores.rerank for hit in searcher.search(text="payment").hits] == [0.9, 0.2]
