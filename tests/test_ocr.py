import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import ModelUnavailable
from pipeline.ocr import (
    DETECTOR_MIN_SIDE,
    OcrLine,
    RapidOcrEngine,
    detector_size,
    ocr_device,
    reading_order,
    worker_threads,
)

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


@pytest.mark.parametrize("size", [(1280, 800), (780, 1688), (451, 300), (600, 940), (3000, 40), (736, 736)])
def test_the_uncapped_detector_sees_what_rapidocr_gives_it(size):
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    resized = DetPreProcess(DETECTOR_MIN_SIDE, "min").resize(np.zeros((size[1], size[0], 3), dtype=np.uint8))
    assert detector_size(*size, None) == (resized.shape[1], resized.shape[0])


def test_the_detector_cap_shrinks_the_longest_side_and_still_enlarges_small_images():
    assert detector_size(780, 1688, 1280) == (576, 1280)  # a phone screenshot, capped
    assert detector_size(1280, 800, 1280) == (1280, 800)  # at the cap: as it was
    assert detector_size(451, 300, 1280) == (1120, 736)  # small: enlarged as RapidOCR does, within the cap
    assert detector_size(20_000, 20, 1280) == (1280, 32)  # a sliver keeps one row of 32 pixels


def test_workers_share_the_cores_without_oversubscribing_them():
    assert worker_threads(2, cores=2) == 1
    assert worker_threads(1, cores=2) == 2
    assert worker_threads(3, cores=8) == 2
    assert worker_threads(16, cores=2) == 1


def test_ocr_on_a_gpu_without_onnxruntimes_cuda_provider_is_refused_by_name():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has onnxruntime's CUDA provider")
    assert ocr_device("auto") == "cpu"
    assert ocr_device("cpu") == "cpu"
    with pytest.raises(ModelUnavailable, match="VLSEARCH_OCR_DEVICE=cuda .* onnxruntime-gpu"):
        ocr_device("cuda")


@pytest.mark.slow
def test_a_pool_of_workers_reads_at_once_and_says_what_one_session_says():
    screens = [row for row in sample_rows() if row["kind"] == "screenshot"][:4]
    images = [Image.open(SAMPLES / row["path"]).convert("RGB") for row in screens]
    alone = RapidOcrEngine(detector_side=1280)
    expected = [alone.read(image) for image in images]
    pool = RapidOcrEngine(workers=2, detector_side=1280)
    with ThreadPoolExecutor(max_workers=4) as threads:
        assert list(threads.map(pool.read, images)) == expected
    assert pool.sessions_opened == 2  # four threads, never more sessions than workers
