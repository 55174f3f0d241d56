"""The reranker role through load_models and the tiny random-weight Qwen3-VL (real transformers, no mocks)."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pipeline.models as models_package
from pipeline.config import Settings
from pipeline.errors import BadInput, ModelUnavailable
from pipeline.models import Query, RerankDocument, load_models
from pipeline.models.reranker import MAX_OCR_CHARS, QwenReranker, judge_conversation

MAX_PIXELS = 96 * 96  # 9 image tokens at most, so the tests stay fast


@pytest.fixture
def settings(tiny_settings: Settings) -> Settings:
    return tiny_settings.model_copy(update={"rerank_max_pixels": MAX_PIXELS, "rerank_batch_size": 4})


@pytest.fixture
def reranker(settings: Settings) -> QwenReranker:
    loaded = load_models(settings)
    assert isinstance(loaded.reranker, QwenReranker) and loaded.notices == []
    return loaded.reranker


def _documents() -> list[RerankDocument]:
    # Different image sizes and text lengths give rows of different token counts, so a batch is padded.
    noise = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    return [
        RerankDocument(Image.new("RGB", (40, 30), (200, 20, 20)), caption="a red running shoe"),
        RerankDocument(None, caption="login page", ocr_text="invalid password " * 30),
        RerankDocument(Image.fromarray(noise), ocr_text="登录错误"),
        RerankDocument(Image.linear_gradient("L").resize((300, 200)).convert("RGB")),
        RerankDocument(None),
    ]


def _query_image() -> Image.Image:
    return Image.linear_gradient("L").rotate(90).resize((64, 48)).convert("RGB")


def _assert_probabilities(scores: list[float], count: int) -> None:
    assert len(scores) == count
    assert all(isinstance(score, float) and 0.0 <= score <= 1.0 for score in scores)


def test_scores_are_deterministic_probabilities_that_depend_on_the_document(reranker: QwenReranker) -> None:
    documents = _documents()
    scores = reranker.score(Query(text="red shoe"), documents)
    _assert_probabilities(scores, len(documents))
    assert scores == reranker.score(Query(text="red shoe"), documents)
    assert max(scores) - min(scores) > 1e-4, "different documents must not get one score"


def test_batched_scores_equal_one_by_one_scores(settings: Settings, reranker: QwenReranker) -> None:
    query, documents = Query(text="login error", image=_query_image()), _documents()
    conversations = [judge_conversation(query, document) for document in documents[:4]]
    mask = reranker.load().prepare(conversations, padding_side="left", max_pixels=MAX_PIXELS)["attention_mask"]
    assert (mask[:, 0] == 0).any() and (mask[:, -1] == 1).all(), "the first batch must be left-padded"

    batched = reranker.score(query, documents)  # 4 + 1: more than one pass
    one_by_one = [reranker.score(query, [document])[0] for document in documents]
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    pairs_of_two = load_models(settings.model_copy(update={"rerank_batch_size": 2})).reranker
    np.testing.assert_allclose(pairs_of_two.score(query, documents), one_by_one, atol=1e-4)


def test_text_image_and_mixed_queries_are_each_judged(reranker: QwenReranker) -> None:
    documents = _documents()
    queries = [Query(text="red shoe"), Query(image=_query_image()), Query(text="red shoe", image=_query_image())]
    by_query = [reranker.score(query, documents) for query in queries]
    for scores in by_query:
        _assert_probabilities(scores, len(documents))
    for first, second in [(0, 1), (0, 2), (1, 2)]:
        assert np.abs(np.subtract(by_query[first], by_query[second])).max() > 1e-5


def test_documents_without_image_are_judged_on_their_text(reranker: QwenReranker) -> None:
    image = _documents()[0].image
    with_image, text_only, empty = reranker.score(
        Query(text="red shoe"),
        [RerankDocument(image, caption="a red shoe"), RerankDocument(None, caption="a red shoe"), RerankDocument(None)],
    )
    _assert_probabilities([with_image, text_only, empty], 3)
    assert abs(with_image - text_only) > 1e-5 and abs(text_only - empty) > 1e-5


def test_score_is_the_sigmoid_of_the_yes_no_logit_difference(settings: Settings, reranker: QwenReranker) -> None:
    query, document = Query(text="red shoe"), _documents()[3]  # a 300x200 image, more than MAX_PIXELS
    checkpoint = reranker.load()
    inputs = checkpoint.prepare([judge_conversation(query, document)], padding_side="left", max_pixels=MAX_PIXELS)
    grid = inputs["image_grid_thw"][0]
    assert int(grid[1] * grid[2]) * 16 * 16 <= MAX_PIXELS, "the document image must be resized"
    with torch.inference_mode():
        logits = checkpoint.model(**inputs).logits[0, -1]
    tokenizer = checkpoint.processor.tokenizer
    [yes], [no] = tokenizer.encode("yes"), tokenizer.encode("no")
    expected = 1 / (1 + math.exp(-(logits[yes] - logits[no]).item()))
    assert reranker.score(query, [document]) == pytest.approx([expected], abs=1e-5)


def test_prompt_follows_the_reference_layout_and_cuts_long_ocr_text(reranker: QwenReranker) -> None:
    ocr_text = "x" * (MAX_OCR_CHARS + 500)
    conversation = judge_conversation(Query(text="shoe"), RerankDocument(None, caption="a shoe", ocr_text=ocr_text))
    [text] = reranker.load().processor.apply_chat_template([conversation], tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nJudge whether the Document meets the requirements")
    user = (
        "<|im_start|>user\n<Instruct>: Retrieve images or text relevant to the user's query.<Query>:shoe\n"
        f"<Document>:Caption: a shoe\nText in the image: {'x' * MAX_OCR_CHARS}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert text.endswith(user)


def test_the_reranker_shares_the_checkpoint_of_the_other_roles(settings: Settings) -> None:
    loaded = load_models(settings)
    assert loaded.reranker.load() is loaded.embedder.load() is loaded.captioner.load()


def test_empty_documents_and_empty_queries(reranker: QwenReranker) -> None:
    assert reranker.score(Query(text="shoe"), []) == []
    with pytest.raises(BadInput, match="a query needs text, an image or both"):
        reranker.score(Query(text="  "), _documents())


def test_answers_that_are_not_single_tokens_make_the_model_unavailable(settings: Settings, tmp_path: Path) -> None:
    checkpoint = shutil.copytree(settings.rerank_model, tmp_path / "split-yes")
    tokenizer_file = checkpoint / "tokenizer.json"
    tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    tokenizer["model"]["merges"].remove(["y", "es"])
    tokenizer_file.write_text(json.dumps(tokenizer), encoding="utf-8")
    reranker = QwenReranker("split-yes", checkpoint, settings)
    with pytest.raises(ModelUnavailable, match="splits the answer 'yes' into 2 tokens"):
        reranker.score(Query(text="shoe"), _documents())


def test_missing_reranker_keeps_full_mode_with_a_notice(settings: Settings, monkeypatch, caplog) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models_package, "_warned", set())
    missing = "vlsearch-tests/no-such-reranker"
    loaded = load_models(settings.model_copy(update={"rerank_model": missing}))
    assert loaded.reranker is None and loaded.embedder is not None and loaded.captioner is not None
    assert loaded.mode == "full"
    [notice] = loaded.notices
    assert notice.startswith("No rerank: ")
    assert f"{missing!r} is unavailable" in notice and "HF_HUB_OFFLINE=1" in notice
    assert "VLSEARCH_RERANK_MODEL" in notice and "VLSEARCH_EMBED_MODEL" not in notice
    assert [record.getMessage() for record in caplog.records if record.levelname == "WARNING"] == [
        "no rerank: no weights for the reranker (details: --log-level info; docs/search.md#reduced-mode)"
    ]


def test_every_model_missing_is_one_ocr_keyword_notice(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = {role: f"vlsearch-tests/no-such-{role}" for role in ("embed_model", "caption_model", "rerank_model")}
    loaded = load_models(settings.model_copy(update=missing))
    assert (loaded.embedder, loaded.captioner, loaded.reranker, loaded.mode) == (None, None, None, "ocr+keyword")
    [notice] = loaded.notices
    assert notice.startswith("No captions, no vectors, no rerank: search runs in OCR + keyword mode.")
    assert all(f"{model!r} is unavailable" in notice for model in missing.values())
