"""Image queries find what looks the same (pipeline/search/visual.py), in OCR + keyword mode, on real samples.

The cases that failed before the visual signal: a crop of a photo with no text, and a screenshot shrunk until
its text is too small to read, found nothing or the wrong asset first, because their only evidence was OCR.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import Settings
from pipeline.ingest.sources import collect
from pipeline.ocr import RapidOcrEngine
from pipeline.search.explain import why
from pipeline.search.searcher import VISUAL_WEIGHT, Searcher
from pipeline.services import build_services
from pipeline.store.lance_engine import LanceStore
from tests.sample_collection import SAMPLES

IMAGES = SAMPLES / "images"
STORED = (
    "photo_cat_chelsea.jpg",
    "product_sneaker_red.jpg",
    "product_backpack_green.jpg",
    "payflow_card_declined_en_desktop_light.png",
    "payflow_duplicate_payment_en_desktop_dark.png",
)
NOT_STORED = IMAGES / "photo_rocket_launch.jpg"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LanceStore:
    settings = Settings(data_dir=tmp_path_factory.mktemp("visual"), models_enabled=False)
    services = build_services(settings)
    report = services.ingestor().ingest(collect([IMAGES / name for name in STORED]).items)
    assert not report.failures
    assert isinstance(services.store, LanceStore)
    return services.store


def searcher(store: LanceStore, visual_weight: float = VISUAL_WEIGHT) -> Searcher:
    return Searcher(store, RapidOcrEngine(), None, visual_weight=visual_weight)


def crop(path: Path, left: float, top: float, right: float, bottom: float) -> Image.Image:
    image = Image.open(path).convert("RGB")
    width, height = image.size
    return image.crop((int(width * left), int(height * top), int(width * right), int(height * bottom)))


def names(hits) -> list[str]:
    return [Path(hit.record.uri).name for hit in hits]


def test_a_crop_of_a_photo_without_text_finds_the_photo_and_says_why(store):
    query = crop(IMAGES / "photo_cat_chelsea.jpg", 0.15, 0.1, 0.9, 0.95)

    before = searcher(store, visual_weight=0).search(image=query, limit=3)
    after = searcher(store).search(image=query, limit=3)

    assert "photo_cat_chelsea.jpg" not in names(before.hits)  # OCR reads nothing: nothing to find it by
    assert names(after.hits) == ["photo_cat_chelsea.jpg"]  # and nothing else looks the same
    pairs = after.hits[0].scores.visual_pairs
    assert pairs is not None and pairs >= 20
    assert why(after.hits[0], after.keyword_text) == [f"looks the same: {pairs} matching keypoints"]


def test_a_screenshot_shrunk_until_its_text_is_unreadable_finds_its_source_first(store):
    source = Image.open(IMAGES / "payflow_card_declined_en_desktop_light.png").convert("RGB")
    tiny = source.resize((source.width // 5, source.height // 5), Image.Resampling.LANCZOS)

    result = searcher(store).search(image=tiny, limit=3)

    assert names(result.hits)[0] == "payflow_card_declined_en_desktop_light.png"
    assert result.hits[0].scores.visual_pairs is not None
    # Its sibling screen of the same app shares the chrome but is not the same picture: far fewer pairs, if any.
    sibling = [hit for hit in result.hits if "duplicate_payment" in hit.record.uri]
    assert all((hit.scores.visual_pairs or 0) < result.hits[0].scores.visual_pairs / 2 for hit in sibling)


def test_the_visual_set_adds_to_the_text_evidence_of_a_cropped_screenshot(store):
    query = crop(IMAGES / "payflow_duplicate_payment_en_desktop_dark.png", 0.05, 0.12, 0.92, 0.9)

    result = searcher(store).search(image=query, limit=3)

    first = result.hits[0]
    assert names(result.hits)[0] == "payflow_duplicate_payment_en_desktop_dark.png"
    assert first.scores.bm25 is not None and first.scores.visual_pairs is not None
    # The full weight of keywords (1 - alpha, alpha being 0 without vectors) and of looking the same.
    assert first.scores.fused == pytest.approx(1.0 + VISUAL_WEIGHT)
    assert any(reason.startswith("words in the image text") for reason in why(first, result.keyword_text))


def test_a_picture_that_is_not_in_the_collection_looks_like_nothing(store):
    result = searcher(store).search(image=Image.open(NOT_STORED).convert("RGB"), limit=5)
    assert all(hit.scores.visual_pairs is None for hit in result.hits)


def test_a_filter_applies_to_what_looks_the_same(store):
    query = crop(IMAGES / "product_sneaker_red.jpg", 0.1, 0.1, 0.9, 0.9)
    kept = searcher(store).search(image=query, limit=3, where="uri LIKE '%sneaker%'")
    dropped = searcher(store).search(image=query, limit=3, where="uri LIKE '%backpack%'")
    assert names(kept.hits) == ["product_sneaker_red.jpg"]
    assert "product_sneaker_red.jpg" not in names(dropped.hits)
