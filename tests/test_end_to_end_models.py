"""Ingest and search on samples with the tiny random-weight Qwen3-VL: the full mode's code path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import SourcePolicy, read_manifest
from pipeline.services import build_services

ROOT = Path(__file__).resolve().parent.parent
QUERY = ROOT / "tests" / "data" / "query_screens" / "SUP-1042.jpg"
# The manifests below live in tmp_path and name the samples by absolute path: a root must admit them.
SAMPLES_ROOT = SourcePolicy(roots=(ROOT / "samples",))

pytestmark = pytest.mark.slow


@pytest.fixture
def small_manifest(tmp_path):
    rows = [json.loads(line) for line in (ROOT / "samples" / "manifest.jsonl").read_text().splitlines()]
    chosen = [row for row in rows if row["ticket_id"] in ("SUP-1042", "SUP-1057")] + [
        row for row in rows if row["kind"] == "product"
    ][:3]
    for row in chosen:
        row["path"] = str(ROOT / "samples" / row["path"])
    manifest = tmp_path / "small.jsonl"
    manifest.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in chosen) + "\n")
    return manifest


def test_full_mode_ingest_stores_vectors_and_captions_and_search_fuses_both_sides(tiny_settings, small_manifest):
    services = build_services(tiny_settings)
    assert services.models.mode == "full" and services.models.notices == []
    report = services.ingestor().ingest(read_manifest(small_manifest, SAMPLES_ROOT).items)
    assert report.summary() == {"added": 5, "updated": 0, "unchanged": 0, "failed": 0}

    figures = services.store.stats()
    assert figures.with_vector == 5
    assert figures.models["embed_model"] == {tiny_settings.embed_model: 5}
    assert figures.models["caption_model"] == {tiny_settings.caption_model: 5}

    from PIL import Image

    result = services.searcher().search(text="card declined", image=Image.open(QUERY).convert("RGB"), limit=5)
    assert result.alpha == tiny_settings.alpha and result.notices == []
    top = result.hits[0]
    assert top.record.metadata["ticket_id"] == "SUP-1042"  # keyword evidence dominates random vectors
    assert top.scores.bm25 is not None and top.scores.vector_distance is not None
    assert all(hit.scores.vector_distance is not None for hit in result.hits)
    stored = services.store.get([top.record.id])[0].vector
    assert stored is not None and stored.shape == (32,) and np.isclose(np.linalg.norm(stored), 1.0, atol=1e-5)

    again = services.ingestor().ingest(read_manifest(small_manifest, SAMPLES_ROOT).items)
    assert {result.outcome for result in again.results} == {Outcome.UNCHANGED}


def test_cli_in_full_mode_with_a_local_checkpoint(tiny_settings, small_manifest, tmp_path):
    env = {
        **os.environ,
        "VLSEARCH_DATA_DIR": str(tmp_path / "data"),
        "VLSEARCH_EMBED_MODEL": tiny_settings.embed_model,
        "VLSEARCH_CAPTION_MODEL": tiny_settings.caption_model,
        "VLSEARCH_RERANK_MODEL": tiny_settings.rerank_model,
        "VLSEARCH_EMBED_DIM": "32",
        "VLSEARCH_MODEL_MAX_PIXELS": str(tiny_settings.model_max_pixels),
        "VLSEARCH_CAPTION_MAX_NEW_TOKENS": "8",
        "VLSEARCH_DEVICE": "cpu",
        "VLSEARCH_INGEST_ROOTS": str(ROOT / "samples"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )

    ingest = cli("ingest", "--manifest", str(small_manifest))
    assert ingest.returncode == 0, ingest.stderr
    assert "added 5" in ingest.stdout and "(full mode)" in ingest.stdout and "warning" not in ingest.stderr
    hits = json.loads(cli("search", "--image", str(QUERY), "--json").stdout)
    assert hits[0]["metadata"]["ticket_id"] == "SUP-1042"
    assert hits[0]["scores"]["vector_distance"] is not None and isinstance(hits[0]["caption"], str)
    assert json.loads(cli("stats", "--json").stdout)["mode"] == "full"
