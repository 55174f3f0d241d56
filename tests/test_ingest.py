import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.errors import StoreError
from pipeline.images import ImageLimits
from pipeline.ingest.fetch import UrlPolicy
from pipeline.ingest.ingestor import TEXT_LAYER, Ingestor, MediaPolicy, Outcome, ingest_collected
from pipeline.ingest.sources import SourceItem, collect
from pipeline.ocr import RapidOcrEngine
from pipeline.records import SourceKind, asset_id
from pipeline.store.lance_engine import LanceStore
from tests.http_fixture import Reply, serve
from tests.media_fixtures import make_scanned_pdf, make_text_pdf, make_text_video

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
        "good.png",
        "good.jpg",
        "ok.webp",
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


# PDF pages and video frames ------------------------------------------------------------------

MANUAL = [
    "Welcome to the coffee machine manual",
    "To clean it, replace the filter cartridge every month",
    "Warranty terms and service addresses",
]
STEPS = [("STEP ONE", 2.0), ("OPEN THE LAPTOP", 2.0), ("STEP THREE", 2.0)]
MEDIA = MediaPolicy(pdf_render_dpi=72)  # small page images keep OCR fast


class CountingOcr:
    """OCR stand-in for tests about what gets stored and redone, not about what the text says."""

    name = "counting-ocr"

    def __init__(self):
        self.calls = 0

    def read(self, image):
        self.calls += 1
        return "text read by ocr"


class FailingStore(LanceStore):
    """A store whose nth write fails once, as a full disk or a dropped connection would."""

    def __init__(self, directory, fail_on: int):
        super().__init__(directory, dim=DIM)
        self.writes = 0
        self.fail_on = fail_on

    def upsert(self, records):
        self.writes += 1
        if self.writes == self.fail_on:
            raise StoreError("disk full")
        super().upsert(records)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parts_of(store, parent):
    where = f"parent_uri = '{parent.resolve()}'"
    return sorted(store.get(store.ids_where(where, 100)), key=lambda r: (r.page or 0, r.timestamp_s or 0))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_text_video(tmp_path_factory.mktemp("video") / "clip.mp4", STEPS)


def test_pdf_pages_are_assets_read_from_the_text_layer_or_by_ocr(tmp_path, store, ocr):
    manual = make_text_pdf(tmp_path / "manual.pdf", MANUAL)
    scan = make_scanned_pdf(tmp_path / "scan.pdf", ["DESCALE THE BOILER"])
    report = Ingestor(store, ocr, None, None, LIMITS, media=MEDIA).ingest(collect([manual, scan]).items)
    assert [(Path(r.source).name, r.outcome) for r in report.results] == [
        ("manual.pdf page 1", Outcome.ADDED),
        ("manual.pdf page 2", Outcome.ADDED),
        ("manual.pdf page 3", Outcome.ADDED),
        ("scan.pdf page 1", Outcome.ADDED),
    ]
    pages = parts_of(store, manual)
    parent = str(manual.resolve())
    assert [(r.uri, r.page, r.parent_uri, r.source_kind) for r in pages] == [
        (f"{parent}#page={n}", n, parent, SourceKind.PDF_PAGE) for n in (1, 2, 3)
    ]
    assert pages[1].id == asset_id(sha(manual), "page=2") and pages[1].sha256 == sha(manual)
    assert [r.ocr_text for r in pages] == MANUAL
    assert {r.ocr_model for r in pages} == {TEXT_LAYER}
    assert pages[0].thumbnail[:2] == b"\xff\xd8" and pages[0].pdq and pages[0].width == pytest.approx(595, abs=1)
    (scanned,) = parts_of(store, scan)
    assert scanned.ocr_model == "rapidocr" and "BOILER" in scanned.ocr_text

    assert store.hybrid(text="filter cartridge", vector=None, alpha=0.0, limit=3)[0].record.uri == f"{parent}#page=2"
    assert store.hybrid(text="boiler", vector=None, alpha=0.0, limit=3)[0].record.id == scanned.id


def test_a_page_with_too_little_text_in_its_layer_is_ocr_read(tmp_path, store):
    manual = make_text_pdf(tmp_path / "manual.pdf", [MANUAL[1], "Index"])
    counting = CountingOcr()
    Ingestor(store, counting, None, None, LIMITS, media=replace(MEDIA, pdf_min_text_chars=10)).ingest(
        collect([manual]).items
    )
    assert [(r.ocr_model, r.ocr_text) for r in parts_of(store, manual)] == [
        (TEXT_LAYER, MANUAL[1]),
        ("counting-ocr", "text read by ocr"),
    ]
    assert counting.calls == 1


def test_video_frames_are_assets_and_a_keyword_query_finds_the_time_window(store, ocr, clip):
    report = Ingestor(store, ocr, None, None, LIMITS, media=MEDIA).ingest(collect([clip]).items)
    assert [Path(r.source).name for r in report.results] == [f"clip.mp4 at 00:00:0{s}" for s in range(6)]
    frames = parts_of(store, clip)
    parent = str(clip.resolve())
    assert [(r.timestamp_s, r.uri, r.source_kind, r.mime) for r in frames] == [
        (float(s), f"{parent}#t={s}.000", SourceKind.VIDEO_FRAME, "video/mp4") for s in range(6)
    ]
    assert frames[2].id == asset_id(sha(clip), "t=2.000") and (frames[2].width, frames[2].height) == (320, 180)

    hits = store.hybrid(text="open the laptop", vector=None, alpha=0.0, limit=10)
    assert sorted(hit.record.timestamp_s for hit in hits) == [2.0, 3.0]


def test_rerunning_pdfs_and_videos_reports_them_unchanged_and_reads_nothing_again(tmp_path, store, clip):
    inputs = [make_text_pdf(tmp_path / "manual.pdf", MANUAL), make_scanned_pdf(tmp_path / "scan.pdf", ["A B"]), clip]
    counting = CountingOcr()
    ingestor = Ingestor(store, counting, None, None, LIMITS, media=MEDIA)
    first = ingestor.ingest(collect(inputs).items)
    calls = counting.calls
    again = ingestor.ingest(collect(inputs).items)
    assert first.summary() == {"added": 10, "updated": 0, "unchanged": 0, "failed": 0}
    assert again.summary() == {"added": 0, "updated": 0, "unchanged": 10, "failed": 0}
    assert counting.calls == calls == 7  # the scanned page and six frames; text-layer pages need no OCR
    assert store.count() == 10


def test_the_same_pdf_at_two_paths_is_stored_once(tmp_path, store):
    (tmp_path / "in").mkdir()
    make_text_pdf(tmp_path / "in" / "a.pdf", MANUAL[:2])
    make_text_pdf(tmp_path / "in" / "b.pdf", MANUAL[:2])
    report = Ingestor(store, CountingOcr(), None, None, LIMITS, media=MEDIA).ingest(collect([tmp_path / "in"]).items)
    duplicates = [r for r in report.results if r.outcome == Outcome.UNCHANGED]
    assert [Path(r.source).name for r in duplicates] == ["b.pdf page 1", "b.pdf page 2"]
    assert duplicates[1].reason.startswith("same content as ") and duplicates[1].reason.endswith("a.pdf page 2")
    assert store.count() == 2


def test_a_changed_pdf_with_fewer_pages_leaves_only_its_new_pages(tmp_path, store):
    path = make_text_pdf(tmp_path / "manual.pdf", MANUAL)
    ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, media=MEDIA)
    ingestor.ingest(collect([path]).items)
    make_text_pdf(path, ["Second edition of the coffee machine manual", "Descale the boiler every spring"])
    report = ingestor.ingest(collect([path]).items)
    assert [r.outcome for r in report.results] == [Outcome.UPDATED, Outcome.UPDATED]
    pages = parts_of(store, path)
    assert [(r.page, r.sha256) for r in pages] == [(1, sha(path)), (2, sha(path))]
    assert store.count() == 2
    assert store.hybrid(text="warranty", vector=None, alpha=0.0, limit=3) == []


def test_a_changed_video_replaces_every_frame(tmp_path, store, clip):
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.read_bytes())
    ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, media=MEDIA)
    ingestor.ingest(collect([path]).items)
    make_text_video(path, [("SHORTER CUT", 3.0)])
    ingestor.ingest(collect([path]).items)
    assert [(r.timestamp_s, r.sha256) for r in parts_of(store, path)] == [(float(s), sha(path)) for s in range(3)]


def test_a_rerun_after_an_interrupted_update_removes_the_old_pages(tmp_path):
    path = make_text_pdf(tmp_path / "manual.pdf", MANUAL)
    store = FailingStore(tmp_path / "store", fail_on=5)  # one page a batch: 3 writes, then the update fails at page 2
    ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, batch_size=1, media=MEDIA)
    ingestor.ingest(collect([path]).items)
    make_text_pdf(path, ["Second edition of the coffee machine manual", "Descale the boiler every spring"])
    with pytest.raises(StoreError, match="disk full"):
        ingestor.ingest(collect([path]).items)
    assert sorted(r.page for r in parts_of(store, path)) == [1, 2, 3]  # new page 1 beside the old pages 2 and 3

    report = ingestor.ingest(collect([path]).items)
    assert [r.outcome for r in report.results] == [Outcome.UNCHANGED, Outcome.UPDATED]
    assert [(r.page, r.sha256) for r in parts_of(store, path)] == [(1, sha(path)), (2, sha(path))]


def test_page_and_frame_caps_are_reported_and_progress_counts_every_result(tmp_path, store, clip):
    manual = make_text_pdf(tmp_path / "manual.pdf", MANUAL)
    save(picture("photo"), tmp_path / "photo.png")
    collected = collect([manual, clip, tmp_path / "photo.png", tmp_path / "missing.pdf"])
    seen, grown = [], []
    capped = replace(MEDIA, pdf_max_pages=2, video_max_frames=3)
    ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, media=capped)
    report = ingest_collected(ingestor, collected, seen.append, grown.append)
    failures = {Path(r.source).name: r.reason for r in report.failures}
    assert failures == {
        "missing.pdf": "no such file or folder",
        "manual.pdf": "1 page after page 2 not ingested: the PDF has 3 pages, the limit is 2 (VLSEARCH_PDF_MAX_PAGES)",
        "clip.mp4": "frames after 00:00:03 not ingested: 3 frames sampled already (VLSEARCH_VIDEO_MAX_FRAMES)",
    }
    assert report.summary() == {"added": 6, "updated": 0, "unchanged": 0, "failed": 3}
    assert seen == report.results
    assert len(collected.items) + len(collected.problems) + sum(grown) == len(report.results)


def test_bad_pdfs_and_videos_fail_with_the_reason_while_the_rest_lands(tmp_path, store):
    folder = tmp_path / "inbox"
    folder.mkdir()
    make_text_pdf(folder / "locked.pdf", ["secret plans for the new machine"], password="pw")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj garbage")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "fake.mp4").write_text("this is a text file, not a video")
    make_text_pdf(folder / "manual.pdf", MANUAL[:1])
    save(picture("photo"), folder / "photo.png")
    report = Ingestor(store, CountingOcr(), None, None, LIMITS, media=MEDIA).ingest(collect([folder]).items)
    assert {Path(r.source).name: r.reason for r in report.failures} == {
        "locked.pdf": "the PDF is password-protected; remove the password and ingest it again",
        "corrupt.pdf": "not a valid PDF (corrupt, truncated or without pages)",
        "empty.pdf": "empty file",
        "fake.mp4": "not a video that can be decoded (Invalid data found when processing input)",
    }
    assert sorted(Path(r.source).name for r in report.results if r.outcome == Outcome.ADDED) == [
        "manual.pdf page 1",
        "photo.png",
    ]


def test_pdfs_and_videos_at_urls_become_pages_and_frames_of_the_url(tmp_path, store, clip):
    manual = make_text_pdf(tmp_path / "manual.pdf", MANUAL)
    with serve() as server:
        server.routes["/docs/manual.pdf"] = Reply(manual.read_bytes(), "application/pdf")
        server.routes["/media/clip"] = Reply(clip.read_bytes(), "video/mp4")
        items = [SourceItem(server.url("/docs/manual.pdf"), "manual"), SourceItem(server.url("/media/clip"), "clip")]
        policy = UrlPolicy(allow_loopback=True, timeout_s=5)
        ingestor = Ingestor(store, CountingOcr(), None, None, LIMITS, url_policy=policy, media=MEDIA)
        report = ingestor.ingest(items)
    assert report.count(Outcome.ADDED) == 9, report.failures
    (page,) = store.get([asset_id(sha(manual), "page=2")])
    assert (page.uri, page.parent_uri) == (f"{items[0].uri}#page=2", items[0].uri)
    (frame,) = store.get([asset_id(sha(clip), "t=4.000")])
    assert (frame.uri, frame.parent_uri, frame.timestamp_s) == (f"{items[1].uri}#t=4.000", items[1].uri, 4.0)


def test_an_update_that_fails_in_the_models_keeps_the_old_pages_until_a_run_succeeds(tmp_path, store):
    path = make_text_pdf(tmp_path / "manual.pdf", MANUAL)
    Ingestor(store, CountingOcr(), CountingEmbedder(), None, LIMITS, media=MEDIA).ingest(collect([path]).items)
    old = [r.id for r in parts_of(store, path)]
    make_text_pdf(path, ["Second edition of the coffee machine manual", "Descale the boiler every spring"])
    failing = Ingestor(store, CountingOcr(), CountingEmbedder(fail=True), None, LIMITS, media=MEDIA)
    assert failing.ingest(collect([path]).items).summary()["failed"] == 2
    assert [r.id for r in parts_of(store, path)] == old

    Ingestor(store, CountingOcr(), CountingEmbedder(), None, LIMITS, media=MEDIA).ingest(collect([path]).items)
    assert [(r.page, r.sha256) for r in parts_of(store, path)] == [(1, sha(path)), (2, sha(path))]
