"""Ingest throughput and search latency on the bundled samples, in OCR + keyword mode, on this CPU.

    python bench/ingest_search.py [--repeat 20]

Prints figures; asserts nothing. Stages are timed separately so it is visible which one
limits ingest (decode + hash + thumbnail + PDQ, OCR, store write).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Settings  # noqa: E402
from pipeline.images import pdq_hash, read_image_file, thumbnail_jpeg  # noqa: E402
from pipeline.ingest.sources import read_manifest  # noqa: E402
from pipeline.services import build_services  # noqa: E402

TEXT_QUERIES = [
    "payment failed",
    "card declined by issuer",
    "账户已锁定",
    "quota exceeded",
    "VPN connection",
    "coffee mug",
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="searches per query")
    args = parser.parse_args()

    items = read_manifest(ROOT / "samples" / "manifest.jsonl").items
    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir), models_enabled=False))
        settings = services.settings

        start = time.perf_counter()
        decoded = [
            read_image_file(Path(item.uri), max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels)
            for item in items
        ]
        for image in decoded:
            thumbnail_jpeg(image.image)
            pdq_hash(image.image)
        prepare_s = time.perf_counter() - start

        services.ocr.read(decoded[0].image)  # load the ONNX sessions outside the timing
        start = time.perf_counter()
        for image in decoded:
            services.ocr.read(image.image)
        ocr_s = time.perf_counter() - start

        start = time.perf_counter()
        report = services.ingestor().ingest(items)
        ingest_s = time.perf_counter() - start
        if report.failures:
            raise SystemExit(f"samples failed to ingest: {report.failures}")

        searcher = services.searcher()
        text_ms = []
        for query in TEXT_QUERIES:
            for _ in range(args.repeat):
                start = time.perf_counter()
                searcher.search(text=query, limit=10)
                text_ms.append((time.perf_counter() - start) * 1000)
        filtered_ms = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            searcher.search(text="error", limit=10, where="category = 'billing' AND created_at >= '2025-01-01'")
            filtered_ms.append((time.perf_counter() - start) * 1000)
        screens = sorted((ROOT / "tests" / "data" / "query_screens").glob("*.jpg"))
        image_ms = []
        for screen in screens:
            query = read_image_file(screen, max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels)
            start = time.perf_counter()
            searcher.search(image=query.image, limit=10)
            image_ms.append((time.perf_counter() - start) * 1000)

    n = len(items)
    print(f"{n} sample images, OCR + keyword mode, LanceDB, {os.cpu_count()} CPU cores")
    print()
    print("| ingest stage | images/s | ms/image |")
    print("| --- | ---: | ---: |")
    for label, seconds in [
        ("decode + sha256 + thumbnail + PDQ", prepare_s),
        ("OCR (RapidOCR)", ocr_s),
        ("whole ingest (all stages + store write + index)", ingest_s),
    ]:
        print(f"| {label} | {n / seconds:.2f} | {seconds / n * 1000:.0f} |")
    print()
    print("| search | queries | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: |")
    for label, values in [
        ("text (BM25; hybrid falls back to keyword)", text_ms),
        ("text + metadata filter", filtered_ms),
        ("image (OCR of the query image + BM25)", image_ms),
    ]:
        print(f"| {label} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f} |")


if __name__ == "__main__":
    main()
