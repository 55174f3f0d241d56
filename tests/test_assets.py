"""What the app shows for a page or frame hit: the page rendered from its PDF, the video to play, or why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.display import assets
from pipeline.display.assets import asset_view, parent_of, player_span
from pipeline.display.results import hit_label
from pipeline.records import Hit, Scores, TimeWindow
from tests.media_fixtures import make_text_pdf, make_text_video
from tests.media_records import frame_record, image_record, page_record

MAX_FILE_BYTES = 10 * 1024**2


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> Path:
    return make_text_pdf(tmp_path_factory.mktemp("docs") / "manual.pdf", ["Welcome", "Open the lid", "Warranty"])


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_text_video(tmp_path_factory.mktemp("videos") / "desk.mp4", [("desk", 1.0), ("lid", 1.0)], fps=5)


def test_a_local_pdf_page_is_rendered_large_with_its_document_at_hand(pdf):
    view = asset_view(page_record(str(pdf), 2, "Open the lid"), max_file_bytes=MAX_FILE_BYTES, page_max_side=800)
    assert view.original and max(view.image.size) == 800 and view.image.height > view.image.width  # A4, portrait
    assert view.note == "page 2 of manual.pdf"
    assert view.parent.path == pdf and view.parent.mime == "application/pdf" and view.parent.problem is None


def test_a_pdf_at_a_url_is_not_fetched_the_thumbnail_says_so():
    view = asset_view(page_record("https://docs.example.com/guide.pdf?v=2", 4, "x"), max_file_bytes=MAX_FILE_BYTES)
    assert not view.original and view.image.size == (32, 24)
    assert view.note == "stored thumbnail (guide.pdf is at a URL, not on this server)"
    assert view.parent.url == "https://docs.example.com/guide.pdf?v=2" and view.parent.path is None


def test_a_moved_or_broken_document_is_named_with_the_reason(pdf, tmp_path):
    moved = tmp_path / "moved.pdf"
    gone = asset_view(page_record(str(moved), 1, "x"), max_file_bytes=MAX_FILE_BYTES)
    assert gone.parent.problem == f"{moved} is not readable on this server (moved or deleted since ingest)"
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(pdf.read_bytes()[:300])
    view = asset_view(page_record(str(broken), 1, "x"), max_file_bytes=MAX_FILE_BYTES)
    assert view.image.size == (32, 24) and "broken.pdf" in view.parent.problem and view.parent.path is None
    missing_page = asset_view(page_record(str(pdf), 9, "x"), max_file_bytes=MAX_FILE_BYTES)
    assert "no such page: the PDF has 3" in missing_page.parent.problem


def test_a_local_video_is_playable_unless_too_large_to_serve(video, monkeypatch):
    parent = parent_of(frame_record(str(video), 1.0, "lid"))
    assert parent.path == video and parent.mime == "video/mp4" and parent.problem is None
    monkeypatch.setattr(assets, "PLAYER_MAX_BYTES", 100)
    parent = parent_of(frame_record(str(video), 1.0, "lid"))
    assert parent.path is None and "the app plays videos up to" in parent.problem and str(video) in parent.problem


def test_an_image_has_no_parent():
    assert parent_of(image_record("card", "x")) is None


def test_the_player_starts_at_the_window_and_pauses_at_its_end():
    frame = frame_record("/v/desk.mp4", 84.0, "lid")
    assert player_span(Hit(frame, Scores(fused=1.0), TimeWindow(83.4, 85.6, frames=3, score=2.0))) == (83, 86)
    assert player_span(Hit(frame)) == (84, None)


def test_titles_keep_a_tickets_page():
    ticket = page_record("/docs/manual.pdf", 3, "x", metadata={"ticket_id": "SUP-7"})
    assert hit_label(Hit(ticket)) == "SUP-7 · manual.pdf, page 3"
    assert hit_label(Hit(image_record("card", "x"))) == "card.png"
