"""OCR input size against speed, text and lookup: the table VLSEARCH_OCR_DETECTOR_SIDE's default is chosen from.

    python bench/ocr_tradeoff.py [--sides full,1280,1024] [--line-batches 6,2]

For each detector side (the longest side the text detector sees; "full" is RapidOCR's own sizing) and
each number of lines recognised per call (RapidOCR's default is 6), on the 45 bundled samples with one
OCR session on all cores (the query path):
- images per second of OCR alone;
- character error rate (CER) of the text against today's (full size, 6 lines per call): the edit
  distance over all samples divided by the length of today's text; and the worst single image;
- screenshot lookup over tests/data/query_screens: how many find their own ticket first, and the lookup
  latency (OCR of the query image + search) p50 over the queries, against a collection of the samples
  ingested with the same OCR settings.
Configurations run in turn in one process, so compare rows with each other, not with other runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from pipeline.images import ImageLimits, read_image_file  # noqa: E402
from pipeline.ingest.ingestor import Ingestor  # noqa: E402
from pipeline.ingest.sources import read_manifest  # noqa: E402
from pipeline.ocr import RapidOcrEngine  # noqa: E402
from pipeline.search.searcher import Searcher  # noqa: E402
from pipeline.store.lance_engine import LanceStore  # noqa: E402

SAMPLES = ROOT / "samples"
QUERY_SCREENS = sorted((ROOT / "tests" / "data" / "query_screens").glob("*.jpg"))
LIMITS = ImageLimits(max_bytes=50_000_000, max_pixels=89_478_485)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one row at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def read_all(engine: RapidOcrEngine, images: list[Image.Image]) -> tuple[list[str], float]:
    engine.read(images[0])  # the session loads outside the timing
    start = time.perf_counter()
    texts = [engine.read(image) for image in images]
    return texts, time.perf_counter() - start


class Remembered:
    """The engine, except that images it has read already (same pixels) give the text it read then."""

    def __init__(self, engine: RapidOcrEngine, images: list[Image.Image], texts: list[str]) -> None:
        self.name = engine.name
        self._engine = engine
        self._texts = {pixels(image): text for image, text in zip(images, texts)}

    def read(self, image: Image.Image) -> str:
        known = self._texts.get(pixels(image))
        return self._engine.read(image) if known is None else known


def pixels(image: Image.Image) -> str:
    return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


def lookups(engine: RapidOcrEngine, ingest_ocr: Remembered, workdir: Path) -> tuple[int, float]:
    """(queries whose ticket comes first, p50 ms of OCR + search) over a fresh collection of the samples."""
    store = LanceStore(workdir, dim=8)
    Ingestor(store, ingest_ocr, None, None, LIMITS).ingest(read_manifest(SAMPLES / "manifest.jsonl").items)
    searcher = Searcher(store, engine, None)
    right, times = 0, []
    for screen in QUERY_SCREENS:
        query = read_image_file(screen, max_bytes=LIMITS.max_bytes, max_pixels=LIMITS.max_pixels).image
        start = time.perf_counter()
        hits = searcher.search(image=query, limit=5).hits
        times.append((time.perf_counter() - start) * 1000)
        right += bool(hits) and hits[0].record.metadata.get("ticket_id") == screen.stem
    store.close()
    return right, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", default="full,1280,1024", help="detector sides; full = uncapped")
    parser.add_argument("--line-batches", default="6,2", help="lines recognised per call")
    args = parser.parse_args()
    sides = [None if side == "full" else int(side) for side in args.sides.split(",")]
    batches = [int(batch) for batch in args.line_batches.split(",")]

    paths = sorted((SAMPLES / "images").iterdir())
    images = [Image.open(path).convert("RGB") for path in paths]
    reference, _ = read_all(RapidOcrEngine(line_batch=6), images)
    total = sum(len(text) for text in reference)
    print(f"{len(images)} samples, {len(QUERY_SCREENS)} query screenshots, {os.cpu_count()} cores")
    print()
    print(
        "| detector side | lines per call | OCR images/s | CER vs today | worst image | lookup right | lookup p50 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for side in sides:
        for batch in batches:
            engine = RapidOcrEngine(detector_side=side, line_batch=batch)
            texts, seconds = read_all(engine, images)
            distances = [edit_distance(before, after) for before, after in zip(reference, texts)]
            worst = max(distance / max(1, len(before)) for distance, before in zip(distances, reference))
            with tempfile.TemporaryDirectory() as workdir:
                right, p50 = lookups(engine, Remembered(engine, images, texts), Path(workdir))
            print(
                f"| {side or 'full'} | {batch} | {len(images) / seconds:.2f} | {sum(distances) / total:.2%} "
                f"| {worst:.1%} | {right}/{len(QUERY_SCREENS)} | {p50:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
