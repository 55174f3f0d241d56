"""Concurrent searches: query micro-batching over the tiny Qwen3-VL, and the shared model and cache state it relies on.

The batches here close on size (max_batch callers with a long window), so which queries share a forward pass does
not depend on how fast this machine schedules threads.
"""

import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.models import Embedder, Models, Query, Vectors, load_models
from pipeline.models.batching import MicroBatchingEmbedder, with_query_batching
from pipeline.models.embedder import QUERY_INSTRUCTION, QwenEmbedder, _conversation
from pipeline.models.loading import load_checkpoint
from pipeline.search.rerank import RerankCache

T = TypeVar("T")
LONG_WINDOW_MS = 60_000.0  # batches below close because they are full, long before this

TEXTS = [
    "red running shoe",
    "login error on the phone app",
    "invoice total in euros",
    "a cat on a sofa",
    "登录错误 密码无效",
    "blue sky over mountains",
    "password reset screen",
    "checkout button greyed out",
    "product photo white background",
    "order number 12345",
    "dark mode settings page",
    "receipt with a coffee and a croissant",
]


def _at_once(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run the calls from as many threads, released together; each outcome is its value or what it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | BaseException:
        barrier.wait()
        try:
            return call()
        except Exception as failure:
            return failure

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _embed(embedder: Embedder, *queries: Query) -> Callable[[], Vectors]:
    return lambda: embedder.embed_queries(list(queries))


@pytest.fixture
def inner(tiny_settings: Settings) -> Embedder:
    """The real embedder, with a model batch large enough that one micro-batch is one forward pass."""
    embedder = load_models(tiny_settings.model_copy(update={"model_batch_size": 16})).embedder
    assert embedder is not None
    return embedder


class FailsOnce:
    """The real embedder, except that its first query call fails as a lost device would."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.failed = False

    def embed_documents(self, images: Sequence[Image.Image]) -> Vectors:
        return self.inner.embed_documents(images)

    def embed_queries(self, queries: Sequence[Query]) -> Vectors:
        if not self.failed:
            self.failed = True
            raise RuntimeError("CUDA error: device lost")
        return self.inner.embed_queries(queries)


def test_concurrent_queries_share_one_forward_pass_and_each_gets_its_own_rows(inner: Embedder) -> None:
    batching = MicroBatchingEmbedder(inner, window_ms=LONG_WINDOW_MS, max_batch=len(TEXTS))
    outcomes = _at_once([_embed(batching, Query(text=text)) for text in TEXTS])
    assert (batching.forward_passes, batching.queries_embedded) == (1, len(TEXTS))
    for text, vectors in zip(TEXTS, outcomes, strict=True):
        assert isinstance(vectors, np.ndarray), vectors
        np.testing.assert_allclose(vectors, inner.embed_queries([Query(text=text)]), atol=1e-5)


def test_a_full_batch_runs_and_later_callers_start_the_next_one(inner: Embedder) -> None:
    batching = MicroBatchingEmbedder(inner, window_ms=LONG_WINDOW_MS, max_batch=4)
    outcomes = _at_once([_embed(batching, Query(text=text)) for text in TEXTS])
    assert (batching.forward_passes, batching.queries_embedded) == (3, len(TEXTS))
    for text, vectors in zip(TEXTS, outcomes, strict=True):
        assert isinstance(vectors, np.ndarray), vectors
        np.testing.assert_allclose(vectors, inner.embed_queries([Query(text=text)]), atol=1e-5)


def test_image_and_mixed_queries_batch_with_text_queries(inner: Embedder) -> None:
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    calls = [
        (Query(text="red shoe"),),
        (Query(image=photo),),
        (Query(text="red shoe", image=photo), Query(text="two queries from one caller")),
    ]
    batching = MicroBatchingEmbedder(inner, window_ms=LONG_WINDOW_MS, max_batch=4)
    outcomes = _at_once([_embed(batching, *queries) for queries in calls])
    assert batching.forward_passes == 1
    for queries, vectors in zip(calls, outcomes, strict=True):
        assert isinstance(vectors, np.ndarray), vectors
        assert vectors.shape == (len(queries), inner.dim)
        np.testing.assert_allclose(vectors, inner.embed_queries(list(queries)), atol=1e-5)


def test_a_failed_forward_pass_fails_every_caller_of_its_batch_and_the_next_batch_works(inner: Embedder) -> None:
    batching = MicroBatchingEmbedder(FailsOnce(inner), window_ms=LONG_WINDOW_MS, max_batch=4)
    outcomes = _at_once([_embed(batching, Query(text=text)) for text in TEXTS[:4]])
    assert all(isinstance(outcome, RuntimeError) and "device lost" in str(outcome) for outcome in outcomes)
    again = _at_once([_embed(batching, Query(text=text)) for text in TEXTS[:4]])
    for text, vectors in zip(TEXTS, again):
        assert isinstance(vectors, np.ndarray), vectors
        np.testing.assert_allclose(vectors, inner.embed_queries([Query(text=text)]), atol=1e-5)


def test_an_empty_query_is_refused_without_touching_a_concurrent_valid_one(inner: Embedder) -> None:
    batching = MicroBatchingEmbedder(inner, window_ms=20.0, max_batch=16)
    refused, answered = _at_once([_embed(batching, Query(text="  ")), _embed(batching, Query(text="red shoe"))])
    assert isinstance(refused, BadInput) and refused.source == "query 0"
    assert isinstance(answered, np.ndarray), answered
    np.testing.assert_allclose(answered, inner.embed_queries([Query(text="red shoe")]), atol=1e-5)
    assert batching.queries_embedded == 1


def test_a_query_the_model_refuses_fails_only_its_caller(inner: Embedder) -> None:
    sliver = Image.new("RGB", (2, 500), "white")  # too elongated for the model: refused in the forward pass itself
    batching = MicroBatchingEmbedder(inner, window_ms=LONG_WINDOW_MS, max_batch=2)
    refused, answered = _at_once([_embed(batching, Query(image=sliver)), _embed(batching, Query(text="red shoe"))])
    assert isinstance(refused, BadInput) and "too elongated" in refused.reason
    assert isinstance(answered, np.ndarray), answered
    np.testing.assert_allclose(answered, inner.embed_queries([Query(text="red shoe")]), atol=1e-5)


def test_window_zero_embeds_directly(inner: Embedder) -> None:
    direct = MicroBatchingEmbedder(inner, window_ms=0, max_batch=16)
    np.testing.assert_array_equal(
        direct.embed_queries([Query(text="red shoe")]), inner.embed_queries([Query(text="red shoe")])
    )
    assert (direct.forward_passes, direct.queries_embedded) == (1, 1)


def test_servers_batch_queries_unless_turned_off_or_without_an_embedder(tiny_settings: Settings) -> None:
    models = load_models(tiny_settings)
    served = with_query_batching(models, tiny_settings)
    assert isinstance(served.embedder, MicroBatchingEmbedder) and served.embedder.inner is models.embedder
    assert (served.captioner, served.reranker, served.notices) == (models.captioner, models.reranker, models.notices)
    assert served.embedder.name == models.embedder.name and served.embedder.dim == models.embedder.dim
    assert with_query_batching(models, tiny_settings.model_copy(update={"query_batch_window_ms": 0.0})) is models
    reduced = Models(embedder=None, captioner=None)
    assert with_query_batching(reduced, tiny_settings) is reduced


def test_documents_go_straight_to_the_inner_embedder(inner: Embedder) -> None:
    batching = MicroBatchingEmbedder(inner, window_ms=LONG_WINDOW_MS, max_batch=16)
    image = Image.new("RGB", (40, 30), (200, 20, 20))
    np.testing.assert_array_equal(batching.embed_documents([image]), inner.embed_documents([image]))
    assert batching.forward_passes == 0


def test_concurrent_first_calls_load_the_weights_once(
    tiny_settings: Settings, tiny_qwen_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Qwen3VLForConditionalGeneration

    fresh = shutil.copytree(tiny_qwen_dir, tmp_path / "fresh-checkpoint")  # a directory nothing has loaded yet
    loads: list[Path] = []
    load_weights = Qwen3VLForConditionalGeneration.from_pretrained

    def counted(path: Path, **options: object) -> Qwen3VLForConditionalGeneration:
        loads.append(path)
        return load_weights(path, **options)

    monkeypatch.setattr(Qwen3VLForConditionalGeneration, "from_pretrained", staticmethod(counted))
    embedder = load_models(tiny_settings.model_copy(update={"embed_model": str(fresh)})).embedder
    assert isinstance(embedder, QwenEmbedder)
    outcomes = _at_once([_embed(embedder, Query(text=text)) for text in TEXTS[:8]])
    assert loads == [fresh]
    for text, vectors in zip(TEXTS, outcomes):
        assert isinstance(vectors, np.ndarray), vectors
        np.testing.assert_allclose(vectors, embedder.embed_queries([Query(text=text)]), atol=1e-5)


def test_concurrent_batches_are_padded_on_the_side_each_role_asked_for(tiny_qwen_dir: Path) -> None:
    # The embedder pads right, the captioner and reranker left, all through one shared processor.
    checkpoint = load_checkpoint(tiny_qwen_dir, torch.device("cpu"))
    conversations = [
        _conversation(QUERY_INSTRUCTION, text="a long query " * 12),
        _conversation(QUERY_INSTRUCTION, text="a"),
    ]

    def padded_as_asked(side: str) -> bool:
        for _ in range(40):
            mask = checkpoint.prepare(conversations, padding_side=side, max_pixels=128 * 128)["attention_mask"]
            if not bool(mask[:, -1 if side == "left" else 0].all()):
                return False
        return True

    assert _at_once([lambda side=side: padded_as_asked(side) for side in ["left", "right"] * 4]) == [True] * 8


def test_rerank_cache_survives_concurrent_searches() -> None:
    cache = RerankCache(max_entries=8)

    def search(seed: int) -> None:
        for step in range(20_000):
            key = ("reranker", "query", str(step * seed % 16))
            cache.put(key, 0.5)
            assert cache.get(key) in (0.5, None)  # another search may have evicted it already

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, as a loaded server might
    try:
        outcomes = _at_once([lambda seed=seed: search(seed) for seed in range(1, 9)])
    finally:
        sys.setswitchinterval(switch_interval)
    assert outcomes == [None] * 8
