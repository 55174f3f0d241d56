"""What looks the same: how well visual words find a picture's source, and what an image query pays for it.

    python bench/visual_search.py [--records 100000] [--queries 100] [--rebuild]

1. On the samples (45 real images, a store of their thumbnails): each image queried as a 10, 20 and 30 %
   crop, a quarter-size copy and a JPEG at quality 60. Per kind: how often the source is the first candidate
   of `visual_search` and among the VISUAL_CANDIDATES verified, how often it is the first match after
   verification (pipeline/search/visual.py), and how often another picture was verified at all (it then only
   adds a smaller share of the visual weight; see docs/search.md).
2. At scale: a LanceStore of N synthetic screenshots (bench/ingest_compare.py's screens, one per record of
   bench/synthetic.py, each drawn from its own text: one app's chrome on every record, the hard case for
   visual words), written through `upsert` (which computes the words) and indexed by `optimize`. Queries are
   20 % crops of stored screens. Prints the per-query cost (p50 / p95) of the candidate search (with the query's
   ORB and words), of loading the candidates, of verifying them (the rest of the whole step), and of the whole
   step as search runs it (`looks_same`); and how often the source was found first.

Prints markdown tables; asserts nothing. Figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_compare import DESKTOP, PHONE, draw_screen  # noqa: E402
from bench.synthetic import SyntheticCollection  # noqa: E402
from pipeline.images import thumbnail_jpeg  # noqa: E402
from pipeline.keypoints import features  # noqa: E402
from pipeline.records import AssetRecord, SourceKind, asset_id  # noqa: E402
from pipeline.search.visual import VISUAL_CANDIDATES, looks_same  # noqa: E402
from pipeline.store.lance_engine import LanceStore  # noqa: E402
from pipeline.store.visual_words import words_of  # noqa: E402

SAMPLES = ROOT / "samples" / "images"
BUILD_INFO = "visual_build.json"


def variants(image: Image.Image, seed: int) -> list[tuple[str, Image.Image]]:
    """The ways a customer's copy differs from the stored picture."""
    rng = random.Random(seed)
    width, height = image.size
    made = []
    for share in (0.1, 0.2, 0.3):
        left, top = int(width * share * rng.random()), int(height * share * rng.random())
        box = (left, top, left + int(width * (1 - share)), top + int(height * (1 - share)))
        made.append((f"crop {share:.0%}", image.crop(box)))
    made.append(("quarter size", image.resize((max(32, width // 4), max(32, height // 4)))))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=60)
    made.append(("JPEG q60", Image.open(buffer).convert("RGB")))
    return made


def record_of(name: str, image: Image.Image, index: int) -> AssetRecord:
    sha = f"{index:064x}"
    return AssetRecord(
        id=asset_id(sha),
        uri=f"/bench/{name}",
        sha256=sha,
        width=image.width,
        height=image.height,
        mime="image/png",
        source_kind=SourceKind.IMAGE,
        ocr_text="",
        caption="",
        pdq="",
        pdq_quality=0,
        thumbnail=thumbnail_jpeg(image),
        metadata={},
        ocr_model="",
        caption_model="",
        embed_model="",
        ingested_at=SyntheticCollection(1, dim=8).chunk_records(0)[0].ingested_at,
    )


def samples_table(directory: Path) -> None:
    paths = sorted(path for path in SAMPLES.iterdir() if path.suffix in {".png", ".jpg"})
    images = [Image.open(path).convert("RGB") for path in paths]
    store = LanceStore(directory, dim=8)
    records = [record_of(path.name, image, index) for index, (path, image) in enumerate(zip(paths, images))]
    store.upsert(records)
    store.optimize()
    rows: dict[str, list[int]] = {}
    for index, image in enumerate(images):
        for kind, query in variants(image, index):
            found = store.visual_search(words_of(features(thumbnail_jpeg(query))), limit=VISUAL_CANDIDATES)
            ids = [doc_id for doc_id, _ in found]
            same = looks_same(store, query, where=None)
            first = same[0][0].id if same else None
            counts = rows.setdefault(kind, [0, 0, 0, 0, 0])
            counts[0] += 1
            counts[1] += ids[:1] == [records[index].id]
            counts[2] += records[index].id in ids
            counts[3] += first == records[index].id
            counts[4] += any(record.id != records[index].id for record, _ in same)
    print(f"\n### Samples: {len(images)} images, each queried five ways\n")
    print(
        "| query | queries | source first candidate | source among the candidates | source first after verifying "
        "| another picture verified |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, (queries, first, among, verified, other) in rows.items():
        print(f"| {kind} | {queries} | {first} | {among} | {verified} | {other} |")


def screen(record: AssetRecord) -> Image.Image:
    """The record's text as an app screen with a picture panel of its own (an avatar, a chart, a preview: what
    gives a real screenshot its corners), one app's chrome around it."""
    number = int(record.sha256[:8], 16)
    image = draw_screen(record.ocr_text, PHONE if number % 5 < 2 else DESKTOP, dark=number % 10 < 3)
    rng = random.Random(number)
    draw = ImageDraw.Draw(image)
    left, top = image.width // 2, image.height // 2
    right, bottom = image.width - 40, image.height - 40
    draw.rectangle((left, top, right, bottom), fill="#dfe3ea")
    for _ in range(24):
        x, y = rng.randrange(left, right), rng.randrange(top, bottom)
        size = rng.randrange(8, max(9, (right - left) // 5))
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = (x, y, min(right, x + size), min(bottom, y + rng.randrange(8, size + 9)))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(shape, fill=colour)
    return image


def with_screen(record: AssetRecord) -> AssetRecord:
    return replace(record, thumbnail=thumbnail_jpeg(screen(record)), vector=None)


def build(directory: Path, size: int) -> dict[str, float]:
    store = LanceStore(directory, dim=8)
    collection = SyntheticCollection(size, dim=8, seed=11)
    start = time.perf_counter()
    with multiprocessing.get_context("forkserver").Pool() as pool:
        for records in collection.records(batch=5_000):
            store.upsert(pool.map(with_screen, records, chunksize=50))
            print(f"  wrote {store.count():,} / {size:,} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    store.optimize()
    info = {"records": size, "write_s": write_s, "index_s": time.perf_counter() - start}
    (directory / BUILD_INFO).write_text(json.dumps(info))
    return info


def scale_table(directory: Path, size: int, queries: int, rebuild: bool) -> None:
    info_path = directory / BUILD_INFO
    if rebuild or not info_path.exists() or json.loads(info_path.read_text())["records"] != size:
        shutil.rmtree(directory, ignore_errors=True)
        info = build(directory, size)
    else:
        info = json.loads(info_path.read_text())
    store = LanceStore(directory, dim=8)
    collection = SyntheticCollection(size, dim=8, seed=11)
    rng = random.Random(5)
    steps: dict[str, list[float]] = {"candidates": [], "load": [], "verify": [], "whole step": []}
    first = 0
    for _ in range(queries):
        index = rng.randrange(size)
        target = collection.chunk_records(index // 1_000)[index % 1_000]
        image = screen(target)
        query = image.crop((int(image.width * 0.1), int(image.height * 0.1), int(image.width * 0.9), image.height))
        start = time.perf_counter()
        words = words_of(features(thumbnail_jpeg(query)))
        found = store.visual_search(words, limit=VISUAL_CANDIDATES)
        searched = time.perf_counter()
        store.get([doc_id for doc_id, _ in found])
        loaded = time.perf_counter()
        same = looks_same(store, query, where=None)  # the whole step again, as search runs it
        done = time.perf_counter()
        steps["candidates"].append(searched - start)
        steps["load"].append(loaded - searched)
        steps["whole step"].append(done - loaded)
        steps["verify"].append(max(0.0, (done - loaded) - (loaded - start)))
        first += bool(same) and same[0][0].id == target.id
    print(f"\n### At scale: {size:,} synthetic screenshots, {queries} queries (20 % crops)\n")
    print(
        f"Built in {info['write_s']:.0f} s (render, thumbnail, visual words, write) + {info['index_s']:.0f} s "
        f"(optimize: the FTS index of the words). Source first: {first} of {queries}.\n"
    )
    print("| step | p50 ms | p95 ms |")
    print("| --- | --- | --- |")
    for step, values in steps.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"| {step} | {statistics.median(values) * 1000:.0f} | {p95 * 1000:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench_visual")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        samples_table(Path(scratch))
    scale_table(args.data / str(args.records), args.records, args.queries, args.rebuild)


if __name__ == "__main__":
    main()
