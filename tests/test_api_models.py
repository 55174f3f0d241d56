"""The HTTP API in full mode, with the tiny random-weight Qwen3-VL loaded through the real code path: uploads are
captioned and embedded, searches by text and by image run hybrid and rerank like the CLI's, lookups answer, and
/readyz and /metrics report the models and their calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pipeline.access.auth import Role
from pipeline.config import Settings
from tests.api_server import bearer, cli, image_bytes, role_tokens, running_api
from tests.conftest import tiny_model_settings
from tests.sample_collection import SAMPLES

pytestmark = pytest.mark.slow  # the tiny model on the CPU: seconds per call

IMAGES = sorted((SAMPLES / "images").glob("product_*.jpg"))[:3]


@pytest.fixture(scope="module")
def api(tiny_qwen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = tiny_model_settings(
        tiny_qwen_dir,
        tmp_path_factory.mktemp("api-models"),
        caption_max_new_tokens=4,
        rerank_max_pixels=64 * 64,
        max_concurrent_queries=8,
    )
    token = role_tokens(settings.data_dir)[Role.ADMIN]
    with running_api(settings) as url, httpx.Client(base_url=url, headers=bearer(token), timeout=300) as client:
        for path in IMAGES:
            added = client.post(
                "/v1/assets", files={"file": (path.name, path.read_bytes())}, data={"metadata": '{"shelf": "A"}'}
            )
            assert added.status_code == 200, added.text
            assert added.json()["outcome"] == "added"
        yield client, settings


def test_uploads_are_captioned_and_embedded_and_ready_names_the_models(api):
    client, settings = api
    ready = client.get("/readyz").json()
    assert ready["mode"] == "full" and ready["assets"] == len(IMAGES)
    assert set(ready["models"].values()) == {settings.embed_model}
    stats = client.get("/v1/stats").json()
    assert stats["with_vector"] == len(IMAGES) and stats["with_caption"] == len(IMAGES)


def test_a_text_search_is_hybrid_and_equals_the_cli(api):
    client, settings = api
    body = {"text": "white mug", "limit": 3, "rerank": False}
    answer = client.post("/v1/search", json=body).json()
    assert answer["mode"] == "full" and len(answer["hits"]) == len(IMAGES)
    assert all(hit["scores"]["vector_distance"] is not None for hit in answer["hits"])
    printed = cli(settings, "search", "--text", "white mug", "--limit", "3", "--no-rerank", "--json")
    assert printed.exit_code == 0, printed.output
    assert answer["hits"] == json.loads(printed.stdout)


def test_an_image_search_with_rerank_gives_probabilities_best_first(api):
    client, _ = api
    path = IMAGES[0]
    answer = client.post(
        "/v1/search", files={"image": (path.name, path.read_bytes())}, data={"rerank": "true", "limit": "3"}
    ).json()
    probabilities = [hit["scores"]["rerank"] for hit in answer["hits"]]
    assert answer["reranked"] == len(IMAGES)
    assert all(0.0 <= p <= 1.0 for p in probabilities) and probabilities == sorted(probabilities, reverse=True)


def test_concurrent_text_searches_all_answer_and_the_metrics_count_model_calls(api):
    client, _ = api
    queries = [f"product {n}" for n in range(8)]

    def search(text: str) -> int:
        return client.post("/v1/search", json={"text": text, "rerank": False}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(search, queries)) == [200] * len(queries)
    client.post("/v1/search", json={"text": "mug", "rerank": True, "limit": 2})
    metrics = client.get("/metrics").text
    assert 'vlsearch_model_call_seconds_count{method="embed_queries",role="embedder"}' in metrics
    assert 'vlsearch_model_call_seconds_count{method="caption",role="captioner"}' in metrics
    batches = next(line for line in metrics.splitlines() if line.startswith("vlsearch_rerank_batches_total"))
    assert float(batches.split()[-1]) >= 1


def test_a_lookup_in_full_mode_says_there_are_no_tickets_here(api):
    client, _ = api
    answer = client.post("/v1/lookup", files={"image": ("shot.png", image_bytes(text="PF-4021"))}).json()
    assert answer["ticket"] is None and answer["mode"] == "full"
    assert any("no tickets" in notice for notice in answer["notices"])
