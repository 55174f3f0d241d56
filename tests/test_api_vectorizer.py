"""Weaviate's inference-module protocol against a real uvicorn server: the calls Weaviate's multi2vec-clip module
makes (no token), answered with the library embedder's vectors, and failures Weaviate can read (`error`: a string)."""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from pipeline.api.routes.vectorizer import MAX_INPUTS_PER_CALL
from pipeline.config import Settings
from pipeline.images import decode_image
from pipeline.models import Query, load_models
from tests.api_server import running_api

MAX_FILE_BYTES = 30_000
MAX_PIXELS = 200 * 200


def png(width: int, height: int, noise: bool = False, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    image = Image.new("RGB", (width, height), color)
    if noise:
        rng = random.Random(7)
        image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(width * height)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def assert_weaviate_error(response: httpx.Response, status: int, field: str | None = None) -> str:
    """Weaviate's Go client reads `error` as a string and shows it; `code` and `field` are the API's, beside it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body["field"] == field, body
    return body["error"]


@pytest.fixture
def model_settings(tiny_settings: Settings) -> Settings:
    return tiny_settings.model_copy(update={"max_file_bytes": MAX_FILE_BYTES, "max_image_pixels": MAX_PIXELS})


@pytest.mark.slow
def test_vectors_are_the_library_embedders_texts_as_queries_images_as_documents(model_settings):
    red, blue = png(64, 48), png(40, 40, color=(20, 30, 220))
    texts = ["login failed", "a red square"]
    with running_api(model_settings) as url:
        meta = httpx.get(f"{url}/meta").json()
        response = httpx.post(f"{url}/vectorize", json={"texts": texts, "images": [b64(red), b64(blue)]}, timeout=120)
        images_only = httpx.post(f"{url}/vectorize", json={"texts": None, "images": [b64(blue)]}, timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    embedder = load_models(model_settings).embedder
    assert embedder is not None
    expected_texts = embedder.embed_queries([Query(text=text) for text in texts])
    decoded = [decode_image(data, "test", max_pixels=MAX_PIXELS).image for data in (red, blue)]
    expected_images = embedder.embed_documents(decoded)
    np.testing.assert_allclose(np.array(body["textVectors"]), expected_texts, atol=1e-5)
    np.testing.assert_allclose(np.array(body["imageVectors"]), expected_images, atol=1e-5)
    assert meta["model"] == model_settings.embed_model
    assert meta["dimension"] == model_settings.embed_dim == len(body["textVectors"][0]) == len(body["imageVectors"][0])
    # Weaviate's nearImage: no texts (a Go nil list arrives as null), one image, the same vector as in a batch.
    assert images_only.status_code == 200, images_only.text
    assert images_only.json()["textVectors"] == []
    np.testing.assert_allclose(np.array(images_only.json()["imageVectors"]), expected_images[1:], atol=1e-5)


def test_bad_inputs_answer_422_naming_the_input(model_settings):
    cases = [
        ({"images": ["not base64!"]}, "images.0"),
        ({"images": [b64(b"plain text, not an image")]}, "images.0"),
        ({"images": [b64(png(100, 100)), b64(png(120, 120, noise=True))]}, "images.1"),  # over MAX_FILE_BYTES
        ({"images": [b64(png(300, 300))]}, "images.0"),  # over MAX_PIXELS, small in bytes
        ({"texts": "one string, not a list"}, "texts"),
        ({"texts": [42]}, "texts.0"),
        ({"images": [{"data": "x"}]}, "images.0"),
        ({"texts": ["ok", "   "]}, "texts.1"),
        ({"texts": ["x" * 2001]}, "texts.0"),
        ({"text": ["a typo in the field name"]}, "text"),
        ({"texts": ["a"] * (MAX_INPUTS_PER_CALL + 1)}, "body"),
    ]
    assert len(png(120, 120, noise=True)) > MAX_FILE_BYTES and len(png(300, 300)) < MAX_FILE_BYTES
    with running_api(model_settings) as url:
        for body, field in cases:
            response = httpx.post(f"{url}/vectorize", json=body, timeout=120)
            assert_weaviate_error(response, 422, field)
        for raw in (b"{not json", b"[1, 2]"):
            response = httpx.post(f"{url}/vectorize", content=raw, headers={"content-type": "application/json"})
            assert_weaviate_error(response, 422)
        empty = httpx.post(f"{url}/vectorize", json={"texts": [], "images": []}, timeout=120)
    assert empty.status_code == 200 and empty.json() == {"textVectors": [], "imageVectors": []}


def test_without_weights_vectorize_answers_503_with_the_reason_and_weaviate_may_still_start(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", models_enabled=False)
    with running_api(settings) as url:
        live, ready = httpx.get(f"{url}/.well-known/live"), httpx.get(f"{url}/.well-known/ready")
        meta = httpx.get(f"{url}/meta").json()
        response = httpx.post(f"{url}/vectorize", json={"texts": ["login failed"], "images": []})
    assert live.status_code == ready.status_code == 204 and live.content == ready.content == b""
    assert meta["model"] is None and meta["dimension"] is None and "VLSEARCH_MODELS_ENABLED" in meta["reason"]
    reason = assert_weaviate_error(response, 503)
    assert "VLSEARCH_MODELS_ENABLED=false" in reason and response.json()["code"] == "model_unavailable"


def test_each_client_address_gets_its_request_allowance_without_a_token(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", models_enabled=False, api_requests_per_minute=2)
    with running_api(settings) as url:
        answers = [httpx.post(f"{url}/vectorize", json={"texts": ["x"]}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [503, 503, 429]
    reason = assert_weaviate_error(answers[2], 429)
    assert "address 127.0.0.1" in reason and "VLSEARCH_API_REQUESTS_PER_MINUTE" in reason
    assert answers[2].json()["code"] == "too_many_requests"
    assert int(answers[2].headers["Retry-After"]) >= 1
