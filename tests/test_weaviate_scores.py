"""Parsing Weaviate's explain_score text and the hybrid score arithmetic (pipeline/store/weaviate_scores.py).

The fixture strings are Weaviate's own formats (repository weaviate/weaviate, commit
f90bfd0ff173a8396ad51f7c098acfbb49aa7aaa):
- RELATIVE: usecases/traverser/hybrid/hybrid_fusion.go, FusionRelativeScore, format
  "(Result Set '%v') Document %v: original score %v, normalized score: %v", entries joined by " - ";
  usecases/traverser/hybrid/fusion_test.go (TestFusionRelativeScoreExplain) asserts exactly
  "(Result Set 'keyword') Document 1: original score 0.5, normalized score: 0.5";
- RANKED: the same hybrid_fusion.go, FusionRanked, format
  "%v\\n(Result Set %v) Document %v contributed %v to the score", contribution weight / (rank + 60 + 1).
Document ids are uuids here, as they are for every Weaviate object.
"""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.store.base import Fusion
from pipeline.store.weaviate_engine import WeaviateStore
from pipeline.store.weaviate_schema import load_spec
from pipeline.store.weaviate_scores import (
    Explained,
    fused_score,
    in_side,
    parse_explain,
    ranked_score,
    server_alpha,
    side_weights,
)
from tests.store_conformance import DIM, make_record, unit

A = "6f1c2f3e-1d2b-5c4a-9e8f-0a1b2c3d4e5f"
B = "0b7e6a55-3c1d-5e2f-8a9b-1c2d3e4f5a6b"

# FusionRelativeScore: the entry for the later set comes first, then " - " and the earlier one.
RELATIVE = (
    f"(Result Set 'vector') Document {A}: original score 0.8712, normalized score: 0.5 - "
    f"(Result Set 'keyword') Document {A}: original score 2.0794415, normalized score: 0.25"
)
RELATIVE_UNQUOTED = f"(Result Set keyword) Document {A}: original score 1.5, normalized score: 0.5"  # other versions
RELATIVE_OLD = f"\nHybrid (Result Set keyword) Document {A}: original score 3, normalized score: 0.7"  # older prefix
# FusionRanked with weights 0.5/0.5: keyword rank 1 (0.5/61), vector rank 3 (0.5/63); Go's %v of a float64.
RANKED = (
    f"\n(Result Set keyword) Document {A} contributed 0.00819672131147541 to the score"
    f"\n(Result Set vector) Document {A} contributed 0.007936507936507936 to the score"
)


def test_relative_fusion_explanation_gives_each_sides_original_score():
    explained = parse_explain(RELATIVE, A)
    assert explained is not None
    assert explained.sets == {"keyword", "vector"}
    assert explained.original == {"keyword": pytest.approx(2.0794415), "vector": pytest.approx(0.8712)}
    assert explained.contributed == {}


@pytest.mark.parametrize("text", [RELATIVE_UNQUOTED, RELATIVE_OLD], ids=["unquoted set", "Hybrid prefix"])
def test_relative_fusion_spellings_of_other_weaviate_versions(text):
    explained = parse_explain(text, A)
    assert explained is not None and explained.sets == {"keyword"} and explained.original["keyword"] > 0


def test_ranked_fusion_explanation_gives_contributions_and_exact_ranks():
    explained = parse_explain(RANKED, A)
    assert explained is not None and explained.sets == {"keyword", "vector"} and explained.original == {}
    assert ranked_score(explained, side_weights(0.5)) == 0.5 / 61 + 0.5 / 63


def test_contributions_in_exponent_notation_parse():
    text = f"(Result Set vector) Document {A} contributed 1.6393442622950818e-05 to the score"
    explained = parse_explain(text, A)
    assert explained is not None
    assert ranked_score(explained, {"keyword": 0.999, "vector": 0.001}) == pytest.approx(0.001 / 61)


def test_uppercase_uuid_and_other_documents_in_the_text():
    assert parse_explain(RELATIVE.replace(A, A.upper()), A) is not None
    assert parse_explain(RELATIVE, B) is None  # the text is about another hit


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hybrid score 0.5",
        f"(Result Set 'bm25') Document {A}: original score 1, normalized score: 1",  # renamed set
        f"Document {A} scored 0.5 on the keyword side",  # reworded
        f"(Result Set 'keyword') Document {A}: original score NaN, normalized score: 0",
        f"(Result Set 'keyword') Document {A[:8]}: original score 1, normalized score: 1",  # not a uuid
    ],
    ids=["empty", "no sets", "renamed set", "reworded", "nan", "short id"],
)
def test_text_that_does_not_parse_is_none_not_a_guess(text):
    assert parse_explain(text, A) is None
    assert in_side(None, "keyword") is None


def test_ranked_score_refuses_contributions_that_are_not_whole_ranks():
    assert ranked_score(Explained({"keyword"}, contributed={"keyword": 0.5 / 61.4}), side_weights(0.5)) is None
    assert ranked_score(Explained({"keyword"}, contributed={"keyword": 0.5 / 40}), side_weights(0.5)) is None
    assert ranked_score(Explained({"vector"}, contributed={"vector": 0.01}), side_weights(0.0)) is None
    assert ranked_score(Explained({"keyword"}, original={"keyword": 1.0}), side_weights(0.5)) is None
    assert ranked_score(None, side_weights(0.5)) is None


def test_ranked_score_tolerates_float32_weights_on_the_wire():
    sent = float(np.float32(0.3))  # gRPC carries alpha as float32
    explained = Explained({"vector"}, contributed={"vector": sent / 62})
    assert ranked_score(explained, side_weights(0.3)) == 0.3 / 62


@pytest.mark.parametrize(
    ("alpha", "keyword", "vector", "expected"),
    [
        (0.3, True, True, (0.3, 1.0)),
        (0.3, False, True, (1.0, 0.3)),
        (0.3, True, False, (0.0, 0.7)),
        (1.0, False, True, (1.0, 1.0)),
        (0.0, True, False, (0.0, 1.0)),
    ],
)
def test_alpha_mapping_leaves_a_missing_side_out_and_applies_the_weight_here(alpha, keyword, vector, expected):
    assert server_alpha(alpha, keyword, vector) == pytest.approx(expected)


def test_alpha_mapping_refuses_nonsense():
    with pytest.raises(ValueError, match="alpha"):
        server_alpha(1.5, True, True)
    with pytest.raises(ValueError, match="side"):
        server_alpha(0.5, False, False)


def test_fused_score_mapping():
    weights = side_weights(0.5)
    ranked = parse_explain(RANKED, A)
    assert fused_score(0.016, Fusion.RANKED, 1.0, ranked, weights) == 0.5 / 61 + 0.5 / 63  # float64, not float32
    assert fused_score(0.016, Fusion.RANKED, 1.0, None, weights) == pytest.approx(0.016)  # Weaviate's, unparsed
    assert fused_score(0.8, Fusion.RELATIVE, 0.5, None, weights) == pytest.approx(0.4)
    assert fused_score(1.0000001, Fusion.RELATIVE, 1.0, None, weights) == 1.0
    assert fused_score(-1e-9, Fusion.RELATIVE, 1.0, None, weights) == 0.0
    assert fused_score(None, Fusion.RELATIVE, 1.0, None, weights) == 0.0


# The engine with an unparseable explanation: a stand-in collection, no server. -------------------


def _engine_with(objects):
    store = object.__new__(WeaviateStore)
    store.dim, store.spec, store.name, store.url = DIM, load_spec(), "Test", "http://test"
    store._columns, store._columns_read_at = [], float("inf")
    hybrid = SimpleNamespace(calls=[])

    def run(**kwargs):
        hybrid.calls.append(kwargs)
        return SimpleNamespace(objects=objects)

    store._collection = SimpleNamespace(query=SimpleNamespace(hybrid=run, bm25=run))
    return store, hybrid


def _hit_object(record, score, explain):
    properties = {"uri": record.uri, "sha256": record.sha256, "ocr_text": record.ocr_text}
    return SimpleNamespace(
        uuid=record.id,
        properties=properties,
        vector={"default": list(record.vector)},
        metadata=SimpleNamespace(score=score, explain_score=explain),
    )


def test_engine_degrades_to_weaviates_order_and_score_with_one_warning(caplog):
    first, second = make_record("a", "payment failed", vector=unit(1)), make_record("b", "failed", vector=unit(0, 1))
    objects = [_hit_object(first, 0.9, "Document scored well"), _hit_object(second, 0.4, "reworded text")]
    store, hybrid = _engine_with(objects)
    with caplog.at_level(logging.WARNING, logger="pipeline.store.weaviate_engine"):
        hits = store.hybrid(text="payment failed", vector=unit(1), alpha=0.5, limit=5)
    assert [hit.record.id for hit in hits] == [first.id, second.id]
    assert [hit.scores.fused for hit in hits] == pytest.approx([0.9, 0.4])
    assert all(hit.scores.bm25 is None and hit.scores.vector_distance is None for hit in hits)
    assert len(hybrid.calls) == 1  # no BM25 top-up query for hits of unknown membership
    warnings = [r for r in caplog.records if "explain_score" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 2" in warnings[0].getMessage()


def test_engine_uses_a_parsed_explanation(caplog):
    record = dataclasses.replace(make_record("a", "payment failed", vector=unit(1)), id=A)
    explain = (
        f"(Result Set 'vector') Document {A}: original score 1, normalized score: 0.5 - "
        f"(Result Set 'keyword') Document {A}: original score 2.5, normalized score: 0.5"
    )
    store, _ = _engine_with([_hit_object(record, 1.0, explain)])
    with caplog.at_level(logging.WARNING, logger="pipeline.store.weaviate_engine"):
        (hit,) = store.hybrid(text="payment failed", vector=unit(1), alpha=0.5, limit=5)
    assert hit.scores.bm25 == 2.5 and hit.scores.vector_distance == pytest.approx(0.0, abs=1e-6)
    assert hit.scores.fused == 1.0
    assert not [r for r in caplog.records if "explain_score" in r.getMessage()]
