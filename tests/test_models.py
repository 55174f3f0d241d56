"""Model roles through load_models and the tiny random-weight Qwen3-VL (real transformers, no mocks)."""

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pipeline.models as models_package
from pipeline.config import Settings
from pipeline.errors import BadInput, ModelUnavailable
from pipeline.models import Models, Query, load_models
from pipeline.models.embedder import QwenEmbedder


def _images() -> list[Image.Image]:
    # Different sizes give different numbers of image tokens (6, 15 and 9 at 128x128 max pixels),
    # so a batch of them is padded.
    return [
        Image.new("RGB", (40, 30), (200, 20, 20)),
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)),
        Image.linear_gradient("L").resize((90, 90)).convert("RGB"),
    ]


TEXTS = ["shoe", "a red running shoe on a white background", "登录错误：密码无效 login error on the phone app"]


@pytest.fixture
def models(tiny_settings: Settings) -> Models:
    loaded = load_models(tiny_settings)
    assert loaded.mode == "full", loaded.notices
    return loaded


def _assert_unit_rows(vectors: np.ndarray, rows: int, dim: int) -> None:
    assert vectors.shape == (rows, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_document_vectors_are_unit_float32_and_deterministic(models: Models) -> None:
    first = models.embedder.embed_documents(_images())
    _assert_unit_rows(first, rows=3, dim=32)
    np.testing.assert_array_equal(first, models.embedder.embed_documents(_images()))
    assert not np.allclose(first[0], first[1], atol=1e-3), "different images must not collapse to one vector"


def test_query_vectors_for_text_image_and_both(models: Models) -> None:
    image = _images()[0]
    queries = [Query(text="red shoe"), Query(image=image), Query(text="red shoe", image=image)]
    vectors = models.embedder.embed_queries(queries)
    _assert_unit_rows(vectors, rows=3, dim=32)
    assert not np.allclose(vectors[2], vectors[0], atol=1e-3)
    assert not np.allclose(vectors[2], vectors[1], atol=1e-3)


def test_queries_and_documents_are_encoded_differently(models: Models) -> None:
    image = _images()[1]
    as_document = models.embedder.embed_documents([image])
    as_query = models.embedder.embed_queries([Query(image=image)])
    assert np.abs(as_document - as_query).max() > 1e-3


def test_batch_equals_one_by_one_for_images_of_different_sizes(models: Models) -> None:
    images = _images()
    batched = models.embedder.embed_documents(images)
    single = np.concatenate([models.embedder.embed_documents([image]) for image in images])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_batch_equals_one_by_one_for_queries_of_different_lengths(models: Models) -> None:
    queries = [Query(text=text) for text in TEXTS] + [Query(text="shoe", image=_images()[1])]
    batched = models.embedder.embed_queries(queries)
    single = np.concatenate([models.embedder.embed_queries([query]) for query in queries])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_batches_larger_than_the_batch_size_are_split(tiny_settings: Settings) -> None:
    embedder = load_models(tiny_settings.model_copy(update={"model_batch_size": 2})).embedder
    queries = [Query(text=text) for text in TEXTS]
    np.testing.assert_allclose(
        embedder.embed_queries(queries), load_models(tiny_settings).embedder.embed_queries(queries), atol=1e-4
    )


def test_matryoshka_truncation_is_the_normalised_prefix(tiny_settings: Settings) -> None:
    short = load_models(tiny_settings).embedder
    full = load_models(tiny_settings.model_copy(update={"embed_dim": 64})).embedder
    assert (short.dim, full.dim) == (32, 64)
    images = _images()
    prefix = full.embed_documents(images)[:, :32]
    renormalised = prefix / np.linalg.norm(prefix, axis=1, keepdims=True)
    np.testing.assert_allclose(short.embed_documents(images), renormalised, atol=1e-5)


def test_dimension_above_the_hidden_size_is_a_clear_error(tiny_settings: Settings, tiny_qwen_dir: Path) -> None:
    too_wide = tiny_settings.model_copy(update={"embed_dim": 128})
    with pytest.raises(ModelUnavailable, match="VLSEARCH_EMBED_DIM=128 is larger than the model's hidden size 64"):
        QwenEmbedder(str(tiny_qwen_dir), tiny_qwen_dir, too_wide)

    loaded = load_models(too_wide)
    assert loaded.embedder is None and loaded.captioner is not None
    assert loaded.mode == "partial"
    [notice] = loaded.notices
    assert notice.startswith("No vectors (partial mode)") and "hidden size 64; set it to 64 or less" in notice
    assert "VLSEARCH_EMBED_MODEL" not in notice, "the weights are fine: only the dimension needs changing"


def test_empty_inputs_and_empty_queries(models: Models) -> None:
    assert models.embedder.embed_documents([]).shape == (0, 32)
    assert models.embedder.embed_queries([]).shape == (0, 32)
    assert models.captioner.caption([]) == []
    with pytest.raises(BadInput, match="query 1"):
        models.embedder.embed_queries([Query(text="ok"), Query(text="   ")])


def test_captions_one_string_per_image_deterministic(models: Models) -> None:
    images = _images()
    captions = models.captioner.caption(images)
    assert len(captions) == len(images)
    assert all(isinstance(caption, str) and caption == caption.strip() for caption in captions)
    assert captions == models.captioner.caption(images)
    one_by_one = [models.captioner.caption([image])[0] for image in images]
    assert captions == one_by_one, "padding a batch must not change its captions"


def test_captions_respect_max_new_tokens(tiny_settings: Settings) -> None:
    images = _images()
    long = load_models(tiny_settings).captioner.caption(images)
    one_token = load_models(tiny_settings.model_copy(update={"caption_max_new_tokens": 1})).captioner
    short = one_token.caption(images)
    tokenizer = one_token.load().processor.tokenizer
    single_tokens = {tokenizer.decode([token], skip_special_tokens=True).strip() for token in range(len(tokenizer))}
    assert all(caption in single_tokens for caption in short)
    assert all(full.startswith(prefix) for prefix, full in zip(short, long, strict=True))
    assert any(len(full) > len(prefix) for prefix, full in zip(short, long, strict=True))


def test_one_checkpoint_serves_both_roles(models: Models) -> None:
    embedder_checkpoint = models.embedder.load()
    assert embedder_checkpoint is models.captioner.load()
    assert embedder_checkpoint is models.embedder.load()


def test_missing_weights_give_ocr_keyword_mode_with_one_notice(
    tiny_settings: Settings, tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models_package, "_warned", set())
    caplog.set_level(logging.INFO, logger="pipeline.models")
    missing_dir = str(tmp_path / "no-such-weights")
    missing_id = "vlsearch-tests/no-such-model"
    loaded = load_models(tiny_settings.model_copy(update={"embed_model": missing_dir, "caption_model": missing_id}))
    assert (loaded.embedder, loaded.captioner, loaded.mode) == (None, None, "ocr+keyword")
    [notice] = loaded.notices
    assert notice.startswith("No captions, no vectors: search runs in OCR + keyword mode.")
    assert f"{missing_dir!r} is unavailable: there is no directory {missing_dir}" in notice
    assert f"{missing_id!r} is unavailable" in notice and "HF_HUB_OFFLINE=1" in notice
    assert "VLSEARCH_EMBED_MODEL" in notice and "VLSEARCH_CAPTION_MODEL" in notice
    # The warning is one short line pointing at the docs; the whole explanation is logged at INFO.
    assert [record.getMessage() for record in caplog.records if record.levelname == "WARNING"] == [
        "OCR + keyword mode: no weights for the embedder, captioner "
        "(details: --log-level info; docs/search.md#reduced-mode)"
    ]
    assert [record.getMessage() for record in caplog.records if record.levelname == "INFO"] == [notice]


def test_the_reduced_mode_warning_is_given_once_per_process(tiny_settings: Settings, monkeypatch, caplog) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models_package, "_warned", set())
    missing = tiny_settings.model_copy(
        update={"embed_model": "vlsearch-tests/none", "caption_model": "vlsearch-tests/none"}
    )
    load_models(missing)
    load_models(missing)
    assert len([record for record in caplog.records if record.levelname == "WARNING"]) == 1


def test_one_missing_role_gives_partial_mode(tiny_settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_models(tiny_settings.model_copy(update={"caption_model": "vlsearch-tests/no-such-model"}))
    assert loaded.embedder is not None and loaded.captioner is None
    assert loaded.mode == "partial"
    [notice] = loaded.notices
    assert notice.startswith("No captions (partial mode)")
    assert "'vlsearch-tests/no-such-model' is unavailable" in notice and "VLSEARCH_CAPTION_MODEL" in notice
    assert "VLSEARCH_EMBED_MODEL" not in notice


def test_directory_without_a_qwen3_vl_config_is_unavailable(tiny_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    loaded = load_models(tiny_settings.model_copy(update={"embed_model": str(tmp_path)}))
    assert loaded.embedder is None
    assert "'bert'" in loaded.notices[0]


def test_models_disabled_skips_every_lookup(tiny_settings: Settings, tmp_path: Path) -> None:
    missing = str(tmp_path / "would-be-reported-if-looked-up")
    off = {"models_enabled": False, "embed_model": missing, "caption_model": missing}
    loaded = load_models(tiny_settings.model_copy(update=off))
    assert (loaded.embedder, loaded.captioner, loaded.mode) == (None, None, "ocr+keyword")
    [notice] = loaded.notices
    assert "VLSEARCH_MODELS_ENABLED" in notice and missing not in notice
