import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.ingest import ImageLimits, Ingestor, Outcome
from pipeline.ocr import RapidOcrEngine
from pipeline.sources import collect
from pipeline.store.lance_engine import LanceStore

DIM = 8
LIMITS = ImageLimits(max_bytes=5_000_000, max_pixels=1_000_000)


class CountingEmbedder:
    """Deterministic stand-in: ingest logic does not depend on what the vectors mean."""

    name = "fake-embedder"
    dim = DIM

    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail

    def embed_documents(self, images):
        self.calls += 1
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        return np.stack([np.eye(DIM, dtype=np.float32)[i % DIM] for i, _ in enumerate(images)])

    def embed_queries(self, queries):
        return np.stack([np.eye(DIM, dtype=np.float32)[0] for _ in queries])


@pytest.fixture(scope="module")
def ocr():
    return RapidOcrEngine()


@pytest.fixture
def store(tmp_path):
    return LanceStore(tmp_path / "store", dim=DIM)


def picture(label: str, colour=(40, 90, 160), size=(320, 120)) -> Image.Image:
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((10, 10, 60, 60), fill=(240, 240, 240))
    ImageDraw.Draw(image).text((80, 40), label, fill=(255, 255, 255))
    return image


def save(image: Image.Image, path, fmt="PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)


@pytest.fixture
def messy_folder(tmp_path):
    folder = tmp_path / "inbox"
    save(picture("one"), folder / "good.png")
    save(picture("two", (150, 40, 40)), folder / "good.jpg", "JPEG")
    save(picture("three", (40, 150, 40)), folder / "nested" / "ok.webp", "WEBP")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    buffer = io.BytesIO()
    picture("four").save(buffer, format="PNG")
    (folder / "truncated.png").write_bytes(buffer.getvalue()[:300])
    save(Image.new("RGB", (1200, 1000), "white"), folder / "huge.png")
    save(picture("icon", size=(32, 32)), folder / "icon.ico", "ICO")
    return folder


def outcomes(report):
    return {result.source.rsplit("/", 1)[-1]: (result.outcome, result.reason) for result in report.results}


def test_a_folder_of_broken_files_is_fully_reported_and_good_files_land(messy_folder, store, ocr):
    report = Ingestor(store, ocr, None, None, LIMITS).ingest(collect([messy_folder]).items)
    got = outcomes(report)
    assert {name for name, (outcome, _) in got.items() if outcome == Outcome.ADDED} == {
        "good.png", "good.jpg", "ok.webp"
    }
    reasons = {name: reason for name, (outcome, reason) in got.items() if outcome == Outcome.FAILED}
    assert reasons.keys() == {"empty.png", "notes.txt", "truncated.png", "huge.png", "icon.ico"}
    assert reasons["empty.png"] == "empty file"
    assert "not a supported image" in reasons["notes.txt"]
    assert "corrupt or truncated" in reasons["truncated.png"]
    assert "too many pixels" in reasons["huge.png"]
    assert "unsupported image format ICO" in reasons["icon.ico"]
    assert store.count() == 3


def test_reingesting_reports_everything_unchanged(messy_folder, store, ocr):
    ingestor = Ingestor(store, ocr, None, None, LIMITS)
    items = collect([messy_folder]).items
    ingestor.ingest(items)
    again = ingestor.ingest(items)
    assert again.summary() == {"added": 0, "updated": 0, "unchanged": 3, "failed": 5}
    assert store.count() == 3


def test_a_changed_file_at_the_same_path_is_updated(tmp_path, store, ocr):
    path = tmp_path / "screen.png"
    save(picture("v1"), path)
    ingestor = Ingestor(store, ocr, None, None, LIMITS)
    first = ingestor.ingest(collect([path]).items).results[0]
    save(picture("v2", (200, 120, 0)), path)
    second = ingestor.ingest(collect([path]).items).results[0]
    assert (first.outcome, second.outcome) == (Outcome.ADDED, Outcome.UPDATED)
    assert store.count() == 1
    assert store.get([second.id])[0].uri == str(path.resolve())
    assert store.get([first.id]) == []


def test_same_content_at_two_paths_is_stored_once(tmp_path, store, ocr):
    save(picture("dup"), tmp_path / "in" / "a.png")
    save(picture("dup"), tmp_path / "in" / "b.png")
    report = Ingestor(store, ocr, None, None, LIMITS).ingest(collect([tmp_path / "in"]).items)
    assert sorted(r.outcome for r in report.results) == [Outcome.ADDED, Outcome.UNCHANGED]
    (duplicate,) = [r for r in report.results if r.outcome == Outcome.UNCHANGED]
    assert duplicate.reason.startswith("same content as ") and duplicate.reason.endswith("a.png")
    assert store.count() == 1


def test_manifest_metadata_is_stored_and_a_metadata_change_keeps_the_enrichment(tmp_path, store, ocr):
    save(picture("ticket"), tmp_path / "img" / "t.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "img/t.png", "ticket_id": "SUP-9", "category": "billing"}) + "\n")
    embedder = CountingEmbedder()
    ingestor = Ingestor(store, ocr, embedder, None, LIMITS)
    (added,) = ingestor.ingest(collect([], manifest).items).results
    assert store.get([added.id])[0].metadata == {"ticket_id": "SUP-9", "category": "billing"}

    manifest.write_text(json.dumps({"path": "img/t.png", "ticket_id": "SUP-9", "category": "refund"}) + "\n")
    (relabelled,) = ingestor.ingest(collect([], manifest).items).results
    assert relabelled.outcome == Outcome.UPDATED
    assert embedder.calls == 1  # no recomputation for a metadata-only change
    record = store.get([added.id])[0]
    assert record.metadata["category"] == "refund" and record.vector is not None

    (plain,) = ingestor.ingest(collect([tmp_path / "img" / "t.png"]).items).results
    assert plain.outcome == Outcome.UNCHANGED
    assert store.get([added.id])[0].metadata["ticket_id"] == "SUP-9"


def test_reduced_mode_never_downgrades_and_full_mode_upgrades(tmp_path, store, ocr):
    save(picture("x"), tmp_path / "in" / "x.png")
    items = collect([tmp_path / "in"]).items
    (reduced,) = Ingestor(store, ocr, None, None, LIMITS).ingest(items).results
    assert store.get([reduced.id])[0].vector is None
    (upgraded,) = Ingestor(store, ocr, CountingEmbedder(), None, LIMITS).ingest(items).results
    assert upgraded.outcome == Outcome.UPDATED
    assert store.get([reduced.id])[0].embed_model == "fake-embedder"
    (again,) = Ingestor(store, ocr, None, None, LIMITS).ingest(items).results
    assert again.outcome == Outcome.UNCHANGED
    assert store.get([reduced.id])[0].vector is not None


def test_a_model_failure_fails_its_batch_with_the_reason_and_stores_nothing_half_done(tmp_path, store, ocr):
    save(picture("x"), tmp_path / "in" / "x.png")
    report = Ingestor(store, ocr, CountingEmbedder(fail=True), None, LIMITS).ingest(collect([tmp_path / "in"]).items)
    (result,) = report.results
    assert result.outcome == Outcome.FAILED and "CUDA out of memory" in result.reason
    assert store.count() == 0


def test_ocr_text_is_searchable_after_ingest(tmp_path, store, ocr):
    image = Image.new("RGB", (640, 160), "white")
    from PIL import ImageFont

    font = ImageFont.load_default(size=40)
    ImageDraw.Draw(image).text((20, 50), "Refund REF-7781 rejected", fill="black", font=font)
    save(image, tmp_path / "in" / "refund.png")
    Ingestor(store, ocr, None, None, LIMITS).ingest(collect([tmp_path / "in"]).items)
    (hit,) = store.hybrid(text="REF-7781", vector=None, alpha=0.0, limit=3)
    assert "REF-7781" in hit.record.ocr_text
    assert hit.record.pdq and hit.record.thumbnail[:2] == b"\xff\xd8"
