import io

import pytest
from PIL import Image

from pipeline.errors import BadInput
from pipeline.images import ImageLimits
from pipeline.ingest.ingestor import Ingestor, Outcome, ingest_collected
from pipeline.ingest.uploads import check_upload, keep_first_names, max_upload_mb, save_upload, save_uploads
from pipeline.store.lance_engine import LanceStore

LIMITS = ImageLimits(max_bytes=200_000, max_pixels=500_000)


class FixedOcr:
    name = "fixed-ocr"

    def read(self, image: Image.Image) -> str:
        return "uploaded screenshot"


def png(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_good_image_is_saved_once_under_its_hash(tmp_path):
    first = save_upload("Screen Shot.PNG", png(), tmp_path / "uploads", LIMITS)
    again = save_upload("copy.png", png(), tmp_path / "uploads", LIMITS)
    saved = list((tmp_path / "uploads").iterdir())
    assert first.uri == again.uri
    assert [path.name for path in saved] == [f"{check_upload('x.png', png(), LIMITS).sha256}.png"]
    assert saved[0].read_bytes() == png() and first.origin == "Screen Shot.PNG"
    assert first.metadata == {"file_name": "Screen Shot.PNG"} and again.metadata == {"file_name": "copy.png"}


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.png", png()[:60], "corrupt or truncated image"),
        ("text.png", b"hello, not an image", "not a supported image"),
        ("notes.txt", png(), "file type .txt is not accepted"),
        ("noext", png(), "file type no extension is not accepted"),
        ("big.png", png() + b"\0" * 200_001, "over the 200,000-byte limit"),
        ("huge.png", png(size=(1000, 600)), "too many pixels"),
        ("empty.jpg", b"", "empty file"),
    ],
)
def test_bad_uploads_are_refused_with_the_reason(tmp_path, name, data, reason):
    with pytest.raises(BadInput, match=reason) as refused:
        save_upload(name, data, tmp_path / "uploads", LIMITS)
    assert refused.value.source == name
    assert not (tmp_path / "uploads").exists()


def test_uploads_are_ingested_beside_the_reasons_for_the_bad_ones(tmp_path):
    collected = save_uploads([("a.png", png()), ("b.png", b"nope")], tmp_path / "uploads", LIMITS)
    assert [problem.source for problem in collected.problems] == ["b.png"]
    store = LanceStore(tmp_path / "lance", dim=8)
    seen = []
    report = ingest_collected(Ingestor(store, FixedOcr(), None, None, LIMITS), collected, seen.append)
    assert [(result.source, result.outcome) for result in report.results] == [
        ("b.png", Outcome.FAILED),
        ("a.png", Outcome.ADDED),
    ]
    assert seen == report.results
    (record,) = store.get([report.results[1].id])
    assert record.uri == collected.items[0].uri and record.ocr_text == "uploaded screenshot"


def test_the_uploader_limit_is_whole_megabytes():
    assert max_upload_mb(ImageLimits(max_bytes=50 * 1024 * 1024, max_pixels=1)) == 50
    assert max_upload_mb(LIMITS) == 1


def test_the_same_image_uploaded_under_another_name_keeps_its_first_name(tmp_path):
    store = LanceStore(tmp_path / "lance", dim=8)
    ingestor = Ingestor(store, FixedOcr(), None, None, LIMITS)
    first = save_uploads([("checkout-declined.png", png())], tmp_path / "uploads", LIMITS)
    assert keep_first_names(first, store) == {}  # new: it takes the name it was uploaded under
    ingest_collected(ingestor, first, lambda result: None)
    again = save_uploads([("IMG_0001.png", png()), ("other.png", png(colour=(0, 90, 0)))], tmp_path / "uploads", LIMITS)
    assert keep_first_names(again, store) == {"IMG_0001.png": "checkout-declined.png"}
    report = ingest_collected(ingestor, again, lambda result: None)
    assert [(result.source, result.outcome) for result in report.results] == [
        ("IMG_0001.png", Outcome.UNCHANGED),
        ("other.png", Outcome.ADDED),
    ]
    names = sorted(record.metadata["file_name"] for record in store.get([result.id for result in report.results]))
    assert names == ["checkout-declined.png", "other.png"]
