"""Query images are scaled down before OCR and the models, wherever they enter (the search library, the CLI, the
app's lookup and analyst pages): a huge screenshot costs what a few megapixels cost, and still finds its ticket."""

from __future__ import annotations

import dataclasses
import html
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipeline.cli import app as cli
from pipeline.config import Settings
from pipeline.images import QuerySize, decode_image
from pipeline.ocr import RapidOcrEngine
from pipeline.search.lookup import lookup_tickets
from pipeline.services import build_services
from tests.sample_collection import QUERY_SCREENS, REDUCED_MODE_ENV, ingest_samples

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
HUGE_SIDE = 8000  # 64 megapixels: under the decompression-bomb limit, far over the query limit
QUERY_PIXELS = 1_000_000  # lower than the default (4 MP) so that the OCR in these tests stays quick
QUERY_SIDE = Settings().query_max_side  # the default longest side (RapidOCR reads no more than 2000 px)


class RecordingOcr(RapidOcrEngine):
    """The real OCR, noting the size of every image it is given."""

    sizes: list[tuple[int, int]] = []

    def read(self, image: Image.Image) -> str:
        RecordingOcr.sizes.append(image.size)
        return super().read(image)


@pytest.fixture
def recording_ocr(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """What the CLI and the app build as their OCR engine records the sizes it reads."""
    RecordingOcr.sizes = []
    monkeypatch.setattr("pipeline.services.RapidOcrEngine", RecordingOcr)
    return RecordingOcr.sizes


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingest_samples(tmp_path_factory.mktemp("query-images"))


def huge_screenshot() -> Image.Image:
    """The customer's screenshot of ticket SUP-1042, blown up onto an 8000 x 8000 canvas: text rendered big."""
    screenshot = Image.open(QUERY_SCREENS / "SUP-1042.jpg").convert("RGB")
    canvas = Image.new("RGB", (HUGE_SIDE, HUGE_SIDE), "white")
    height = round(screenshot.height * HUGE_SIDE / screenshot.width)
    canvas.paste(screenshot.resize((HUGE_SIDE, height), Image.Resampling.LANCZOS), (0, (HUGE_SIDE - height) // 2))
    return canvas


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge-screenshot.png"
    huge_screenshot().save(path, format="PNG", compress_level=1)
    return path


def within_query_limit(size: tuple[int, int], max_pixels: int = QUERY_PIXELS) -> bool:
    return size[0] * size[1] <= max_pixels and max(size) <= QUERY_SIDE


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def test_query_images_are_decoded_within_the_query_size_upright_in_every_format():
    wide = Image.new("RGB", (3000, 1500), "white")
    turned = Image.Exif()
    turned[0x0112] = 6  # EXIF orientation: rotate 90 degrees to show upright
    size = QuerySize(max_pixels=200_000, max_side=600)
    files = {
        "JPEG": encoded(wide, "JPEG", exif=turned.tobytes()),
        "PNG": encoded(wide.convert("RGBA"), "PNG", exif=turned.tobytes()),
        "WEBP": encoded(wide, "WEBP", exif=turned.tobytes()),
        "TIFF": encoded(wide, "TIFF", exif=turned.tobytes()),
    }
    for name, data in files.items():
        image = decode_image(data, name, max_pixels=50_000_000, query_size=size).image
        assert image.mode == "RGB" and image.size == (300, 600), name  # upright, longest side at the cap
    thin = decode_image(encoded(Image.new("P", (5000, 100)), "GIF"), "thin.gif", max_pixels=10**8, query_size=size)
    assert thin.image.size == (600, 12)
    small = decode_image(encoded(Image.new("RGB", (400, 300)), "PNG"), "small.png", max_pixels=10**8, query_size=size)
    assert small.image.size == (400, 300)  # within both limits: left alone
    assert QuerySize(4_000_000, 4096).fit(8000, 8000) == (2000, 2000)


@pytest.mark.slow
def test_a_huge_query_image_reaches_ocr_within_the_limit_and_still_finds_its_ticket(collection):
    services = build_services(Settings(data_dir=collection, models_enabled=False, query_max_pixels=QUERY_PIXELS))
    ocr = RecordingOcr()
    RecordingOcr.sizes = []
    lookup = lookup_tickets(dataclasses.replace(services, ocr=ocr).searcher(), image=huge_screenshot())
    assert lookup.best is not None and lookup.best.ticket_id == "SUP-1042"
    (read,) = RecordingOcr.sizes
    assert within_query_limit(read) and read == QuerySize(QUERY_PIXELS, QUERY_SIDE).fit(HUGE_SIDE, HUGE_SIDE)


@pytest.mark.slow
def test_the_cli_reads_a_huge_query_image_small(collection, huge_png, recording_ocr, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(collection))
    monkeypatch.setenv("VLSEARCH_QUERY_MAX_PIXELS", str(QUERY_PIXELS))
    for name, value in REDUCED_MODE_ENV.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        cli, ["search", "--image", str(huge_png), "--where", "ticket_id = 'SUP-1042'", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["metadata"]["ticket_id"] == "SUP-1042"
    assert len(recording_ocr) == 1 and within_query_limit(recording_ocr[0])


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_app_caches")
def test_the_app_pages_read_a_huge_query_image_small(collection, huge_png, recording_ocr, monkeypatch):
    monkeypatch.setenv("VLSEARCH_DATA_DIR", str(collection))
    monkeypatch.setenv("VLSEARCH_QUERY_MAX_PIXELS", str(QUERY_PIXELS))
    for name, value in {**REDUCED_MODE_ENV, "VLSEARCH_AUTH": "off"}.items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(APP), default_timeout=120).run().switch_page("views/lookup.py").run()
    app.file_uploader(key="lookup_screenshot").set_value(("huge.png", huge_png.read_bytes(), "image/png"))
    next(button for button in app.button if button.label == "Find matching tickets").click()
    app.run()
    assert not app.exception and not app.error
    assert html.unescape(app.subheader[0].value) == "Best match: SUP-1042"

    app.switch_page("views/analyst.py").run()
    app.file_uploader(key="analyst_image").set_value(("huge.png", huge_png.read_bytes(), "image/png"))
    next(button for button in app.button if button.label == "Search").click()
    app.run()
    assert not app.exception and not app.error
    assert app.session_state["analyst_search"]["result"].hits[0].record.metadata["ticket_id"] == "SUP-1042"
    assert len(recording_ocr) == 2 and all(within_query_limit(size) for size in recording_ocr)
