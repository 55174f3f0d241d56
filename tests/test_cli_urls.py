"""`python -m pipeline ingest URL...` end to end: a real server on 127.0.0.1, the real CLI, store and OCR."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.http_fixture import Reply, serve
from tests.media_fixtures import make_text_pdf, make_text_video
from tests.test_cli import run

pytestmark = pytest.mark.slow
LOOPBACK_FLAG = {"VLSEARCH_URL_ALLOW_LOOPBACK": "true"}


def text_png(text: str) -> bytes:
    image = Image.new("RGB", (640, 160), "white")
    ImageDraw.Draw(image).text((20, 50), text, fill="black", font=ImageFont.load_default(size=40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server():
    with serve() as running:
        running.routes["/invoice.png"] = Reply(text_png("Invoice INV-4021 overdue"), "image/png")
        running.routes["/to-private"] = Reply.redirect("http://10.0.0.5/x")
        yield running


def test_url_arguments_are_stored_under_their_url_and_refusals_are_reported(server, tmp_path):
    image_url, refused = server.url("/invoice.png"), server.url("/to-private")
    result = run(tmp_path, "ingest", image_url, refused, "ftp://example.com/a.png", extra_env=LOOPBACK_FLAG)
    assert result.returncode == 0, result.stderr
    assert "added 1, updated 0, unchanged 0, failed 2" in result.stdout
    assert f"failed {refused}: redirect to http://10.0.0.5/x: resolves to private address 10.0.0.5" in result.stdout
    assert "failed ftp://example.com/a.png: ftp URLs are not fetched (http and https only)" in result.stdout
    search = run(tmp_path, "search", "--text", "INV-4021", "--json", extra_env=LOOPBACK_FLAG)
    assert [hit["uri"] for hit in json.loads(search.stdout)] == [image_url]


def test_without_the_test_flag_a_local_url_is_refused_and_nothing_is_fetched(server, tmp_path):
    image_url = server.url("/invoice.png")
    requests_before = len(server.seen)
    result = run(tmp_path, "ingest", image_url)
    assert result.returncode == 1
    assert f"failed {image_url}: resolves to loopback address 127.0.0.1" in result.stdout
    assert len(server.seen) == requests_before


def test_a_manual_a_clip_and_a_url_ingest_in_one_command_and_search_names_the_page_and_the_window(server, tmp_path):
    """`ingest manual.pdf clip.mp4 https://...`, then `search` answers with a page and a window."""
    manual = make_text_pdf(
        tmp_path / "manual.pdf",
        ["Model X200 coffee grinder: unpacking", "Cleaning: replace the filter cartridge every month", "Warranty"],
    )
    clip = make_text_video(tmp_path / "clip.mp4", [("STEP ONE", 2.0), ("OPEN THE LAPTOP", 2.0), ("STEP THREE", 2.0)])
    leaflet = make_text_pdf(tmp_path / "leaflet.pdf", ["Descaling kit order form"])
    server.routes["/leaflet.pdf"] = Reply(leaflet.read_bytes(), "application/pdf")
    leaflet_url = server.url("/leaflet.pdf")

    ingest = run(tmp_path, "ingest", str(manual), str(clip), leaflet_url, extra_env=LOOPBACK_FLAG)
    assert ingest.returncode == 0, ingest.stderr
    assert "failed 0" in ingest.stdout

    page = run(tmp_path, "search", "--text", "filter cartridge", extra_env=LOOPBACK_FLAG)
    assert page.stdout.splitlines()[0].startswith("1. manual.pdf, page 2")
    window = run(tmp_path, "search", "--text", "open the laptop", "--json", extra_env=LOOPBACK_FLAG)
    best = json.loads(window.stdout)[0]
    assert best["parent_uri"] == str(clip.resolve())
    assert best["window"]["label"] == "00:00:02–00:00:04"
    remote = run(tmp_path, "search", "--text", "descaling kit", "--json", extra_env=LOOPBACK_FLAG)
    assert [(hit["parent_uri"], hit["page"]) for hit in json.loads(remote.stdout)][:1] == [(leaflet_url, 1)]
