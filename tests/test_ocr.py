import json
from pathlib import Path

import pytest
from PIL import Image

from pipeline.ocr import OcrLine, RapidOcrEngine, reading_order

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_reading_order_groups_rows_and_sorts_left_to_right():
    lines = [
        OcrLine("world", 0.9, left=200, top=10, bottom=30),
        OcrLine("second row", 0.9, left=5, top=50, bottom=70),
        OcrLine("Hello", 0.9, left=10, top=12, bottom=32),
    ]
    assert reading_order(lines) == "Hello world\nsecond row"


def test_reading_order_of_nothing_is_empty():
    assert reading_order([]) == ""


@pytest.fixture(scope="module")
def ocr():
    return RapidOcrEngine()


def sample_rows():
    return [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "zh"])
def test_rapidocr_reads_error_codes_from_rendered_screens(ocr, language):
    rows = [row for row in sample_rows() if row["kind"] == "screenshot" and row["language"] == language][:2]
    assert rows, f"no {language} screenshots in samples/manifest.jsonl"
    for row in rows:
        text = ocr.read(Image.open(SAMPLES / row["path"]).convert("RGB"))
        normalised = text.replace(" ", "").upper()
        assert row["error_code"].replace(" ", "").upper() in normalised, (row["path"], text)


def test_rapidocr_reads_chinese_characters(ocr):
    row = next(row for row in sample_rows() if row["kind"] == "screenshot" and row["language"] == "zh")
    text = ocr.read(Image.open(SAMPLES / row["path"]).convert("RGB"))
    assert sum("\u4e00" <= char <= "\u9fff" for char in text) >= 10, text


def test_blank_image_has_no_text(ocr):
    assert ocr.read(Image.new("RGB", (200, 100), "white")) == ""
