"""Search with rerank through the real wiring and the tiny random-weight Qwen3-VL judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.ingest.sources import SourcePolicy, read_manifest
from pipeline.search.searcher import NO_RERANKER
from pipeline.services import build_services

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("manifest")
    rows = [json.loads(line) for line in (ROOT / "samples" / "manifest.jsonl").read_text().splitlines()]
    chosen = [row for row in rows if row["app"] == "PayFlow"] + [row for row in rows if row["kind"] == "product"][:2]
    for row in chosen:
        row["path"] = str(ROOT / "samples" / row["path"])
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in chosen) + "\n")
    return path


@pytest.fixture(scope="module")
def ingested_settings(tiny_qwen_dir, manifest, tmp_path_factory):
    """One collection for the module; each test gets its own services (and cache) over it."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        embed_model=str(tiny_qwen_dir),
        caption_model=str(tiny_qwen_dir),
        rerank_model=str(tiny_qwen_dir),
        embed_dim=32,
        device="cpu",
        model_max_pixels=128 * 128,
        caption_max_new_tokens=4,
        rerank_batch_size=2,
        rerank_max_pixels=64 * 64,
    )
    # The manifest lives in tmp and names the samples by absolute path: a root must admit them.
    items = read_manifest(manifest, SourcePolicy(roots=(ROOT / "samples",))).items
    report = build_services(settings).ingestor().ingest(items)
    assert not report.failures
    return settings


@pytest.fixture
def services(ingested_settings):
    built = build_services(ingested_settings)
    assert built.models.reranker is not None
    return built


def test_hits_are_ordered_by_a_probability_and_keep_every_score(services):
    result = services.searcher().search(text="payment failed", limit=6, rerank=True)
    assert result.reranked == len(result.hits) == 6 and not result.rerank_partial
    probabilities = [hit.scores.rerank for hit in result.hits]
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities == sorted(probabilities, reverse=True)
    for hit in result.hits:
        assert hit.scores.vector_distance is not None and hit.scores.fused is not None
    assert any(hit.scores.bm25 is not None for hit in result.hits)


def test_rerank_scores_match_the_model_called_directly(services):
    from pipeline.models import Query, RerankDocument
    from pipeline.search.rerank import document_image

    result = services.searcher().search(text="card declined", limit=3, rerank=True)
    top = result.hits[0].record
    direct = services.models.reranker.score(
        Query(text="card declined"),
        [
            RerankDocument(
                image=document_image(top, services.settings.max_file_bytes), caption=top.caption, ocr_text=top.ocr_text
            )
        ],
    )[0]
    assert result.hits[0].scores.rerank == pytest.approx(direct, abs=1e-4)


def test_cutoff_keeps_only_hits_at_or_above_it(services):
    everything = services.searcher().search(text="payment", limit=6, rerank=True)
    probabilities = sorted(hit.scores.rerank for hit in everything.hits)
    cutoff = probabilities[len(probabilities) // 2]
    kept = services.searcher().search(text="payment", limit=6, rerank=True, min_relevance=cutoff)
    assert kept.hits and all(hit.scores.rerank >= cutoff for hit in kept.hits)
    assert len(kept.hits) == sum(p >= cutoff for p in probabilities)
    assert kept.dropped_below_cutoff == len(everything.hits) - len(kept.hits)
    nothing = services.searcher().search(text="payment", limit=6, rerank=True, min_relevance=1.0)
    assert nothing.hits == [] or all(hit.scores.rerank == 1.0 for hit in nothing.hits)


def test_repeated_query_is_served_from_the_cache(services):
    services.searcher().search(text="duplicate payment", limit=4, rerank=True)
    before = services.rerank_cache.hits
    again = services.searcher().search(text="duplicate payment", limit=4, rerank=True)
    assert again.reranked > 0 and services.rerank_cache.hits - before == again.reranked


def test_budget_fallback_keeps_fused_order_for_the_rest(services):
    services.settings = services.settings.model_copy(update={"rerank_budget_s": 1e-9})
    result = services.searcher().search(text="3-D Secure verification", limit=6, rerank=True)
    assert result.rerank_partial and result.reranked == 2  # one batch of two, then the budget is spent
    assert any("partially reranked: 2 of 6" in notice for notice in result.notices)
    rest = result.hits[2:]
    assert all(hit.scores.rerank is None for hit in rest)
    assert [hit.scores.fused for hit in rest] == sorted((hit.scores.fused for hit in rest), reverse=True)


def test_without_a_reranker_search_says_so_and_keeps_fused_order(services):
    services.models.reranker = None
    result = services.searcher().search(text="payment failed", limit=5, rerank=True, min_relevance=0.5)
    assert NO_RERANKER in result.notices
    assert result.cutoff_not_applied.startswith("no reranker is loaded: the relevance cutoff needs")
    assert result.cutoff_not_applied in result.notices
    assert all(hit.scores.rerank is None for hit in result.hits)
    assert [hit.scores.fused for hit in result.hits] == sorted((hit.scores.fused for hit in result.hits), reverse=True)


def test_cli_rerank_json(ingested_settings):
    env = {
        **os.environ,
        "VLSEARCH_DATA_DIR": str(ingested_settings.data_dir),
        "VLSEARCH_EMBED_MODEL": ingested_settings.embed_model,
        "VLSEARCH_CAPTION_MODEL": ingested_settings.caption_model,
        "VLSEARCH_RERANK_MODEL": ingested_settings.rerank_model,
        "VLSEARCH_EMBED_DIM": "32",
        "VLSEARCH_MODEL_MAX_PIXELS": str(128 * 128),
        "VLSEARCH_RERANK_MAX_PIXELS": str(64 * 64),
        "VLSEARCH_CAPTION_MAX_NEW_TOKENS": "4",
        "VLSEARCH_DEVICE": "cpu",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )

    result = cli("search", "--text", "payment failed", "--rerank", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    probabilities = [hit["scores"]["rerank"] for hit in hits]
    assert hits and all(0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities == sorted(probabilities, reverse=True)
    assert all({"bm25", "vector_distance", "fused", "rerank"} <= hit["scores"].keys() for hit in hits)
    unranked = json.loads(cli("search", "--text", "payment failed", "--no-rerank", "--json").stdout)
    assert all(hit["scores"]["rerank"] is None for hit in unranked)


def test_rerank_default_follows_the_setting_then_the_device(services):
    assert services.models.reranker.accelerated is False  # the tiny model runs on the CPU here
    assert services.rerank_by_default() is False
    services.settings = services.settings.model_copy(update={"rerank": True})
    assert services.rerank_by_default() is True
    services.models.reranker = None
    assert services.rerank_by_default() is False
