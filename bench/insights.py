"""What insights cost on a large collection, and what the page waits for once the cache is warm.

    python bench/insights.py [--records 100000] [--compare 300] [--rebuild]

The collection is bench/visual_search.py's: N synthetic screenshots (bench/synthetic.py's records: OCR text,
captions, created_at over 2025, 12 apps, 10 categories; each with a rendered thumbnail and its visual words),
built once into --data and reused. Steps, each timed in this process:
1. reading the collection (`store.summaries`: no thumbnails) and counting it per month by app and category;
2. topics by text (OCR + keyword mode): the first fit (TF-IDF + MiniBatchKMeans), a run with the cached model,
   placing 1,000 new assets into the cached topics;
3. topics by vectors (full mode): the fit over N 256-d synthetic embeddings (bench/synthetic.py's clusters);
4. near-identical images: --compare assets compared as new against the whole store (a visual search and the
   keypoint check of the candidates per asset), extrapolated to the first pass over all N; then a run with
   nothing new;
5. the whole `insights` call with everything cached: what the Insights page and GET /v1/insights wait for.

Prints markdown tables; asserts nothing. Figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.preprocessing import normalize  # noqa: E402

from bench.synthetic import SyntheticCollection  # noqa: E402
from bench.visual_search import BUILD_INFO, build  # noqa: E402
from pipeline.insights.cache import InsightsCache  # noqa: E402
from pipeline.insights.near_duplicates import compare_new  # noqa: E402
from pipeline.insights.report import InsightsRequest, insights  # noqa: E402
from pipeline.insights.topics import fit, topics_for  # noqa: E402
from pipeline.insights.volume import Period, day_of, volume  # noqa: E402
from pipeline.records import AssetSummary  # noqa: E402
from pipeline.store.lance_engine import LanceStore  # noqa: E402

T = TypeVar("T")
VECTOR_DIM = 256


def timed(call: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def store_of(directory: Path, size: int, rebuild: bool) -> LanceStore:
    info = directory / BUILD_INFO
    if rebuild or not info.exists() or json.loads(info.read_text())["records"] != size:
        shutil.rmtree(directory, ignore_errors=True)
        build(directory, size)
    return LanceStore(directory, dim=8)


def vector_summaries(size: int) -> list[AssetSummary]:
    collection = SyntheticCollection(size, dim=VECTOR_DIM, seed=11)
    return [
        AssetSummary(
            record.id,
            record.uri,
            record.ingested_at,
            record.ocr_text,
            record.caption,
            "",
            0,
            record.metadata,
            record.vector,
        )
        for records in collection.records(batch=5_000)
        for record in records
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--compare", type=int, default=300, help="assets compared as new, to time comparing")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench_visual")
    args = parser.parse_args()
    store = store_of(args.data, args.records, args.rebuild)
    rows: list[tuple[str, str]] = []

    summaries, seconds = timed(store.summaries)
    rows.append((f"read {len(summaries):,} assets (`store.summaries`, no thumbnails)", f"{seconds:.1f} s"))
    date_of = day_of("created_at")
    for column in ("app", "category"):
        _, seconds = timed(
            lambda column=column: volume(
                [(date_of(s), s.metadata.get(column, "")) for s in summaries],
                date_column="created_at",
                by=column,
                period=Period.MONTH,
            )
        )
        rows.append((f"count per month by {column}", f"{seconds:.2f} s"))

    with tempfile.TemporaryDirectory() as scratch:
        cache = InsightsCache(Path(scratch) / "insights.sqlite", "assets")
        (model, _, _), seconds = timed(lambda: topics_for(summaries, cache))
        assert model is not None
        rows.append(
            (f"topics by text: first fit ({len(model.labels)} topics, {len(model.terms):,} terms)", f"{seconds:.1f} s")
        )
        _, seconds = timed(lambda: topics_for(summaries, cache))
        rows.append(("topics by text: a run with the cached model", f"{seconds:.1f} s"))
        newcomers = [
            AssetSummary(f"new-{n}", s.uri, s.ingested_at, s.ocr_text, s.caption, "", 0, s.metadata)
            for n, s in enumerate(summaries[:1000])
        ]
        _, seconds = timed(lambda: topics_for([*summaries, *newcomers], cache))
        rows.append(("topics by text: 1,000 new assets placed in the cached topics", f"{seconds:.1f} s"))
        print("example topics:", "; ".join(" ".join(label) for label in model.labels[:6]), file=sys.stderr)

        with_vectors = vector_summaries(args.records)
        vectors = [s.vector for s in with_vectors]
        points = normalize(np.stack(vectors).astype(np.float64))
        fitted, seconds = timed(lambda: fit(with_vectors, points))
        assert fitted is not None
        rows.append((f"topics by vectors: first fit ({args.records:,} × {VECTOR_DIM}-d)", f"{seconds:.1f} s"))

        # Everything but --compare assets is marked compared, so the run below compares just those, against all N.
        cache.save_comparisons([s.id for s in summaries[args.compare :]], [])
        _, seconds = timed(lambda: compare_new(store, cache, summaries))
        per_asset = seconds / args.compare
        rows.append(
            (f"near-identical: {args.compare} new assets compared", f"{seconds:.1f} s ({per_asset * 1000:.0f} ms each)")
        )
        rows.append(
            (
                f"near-identical: first pass over all {len(summaries):,} (extrapolated)",
                f"{per_asset * len(summaries) / 3600:.1f} h",
            )
        )
        _, seconds = timed(lambda: compare_new(store, cache, summaries))
        rows.append(("near-identical: a run with nothing new", f"{seconds:.1f} s"))

        cache.save_comparisons([s.id for s in summaries], [])
        request = InsightsRequest(by=("app", "category"), period=Period.MONTH)
        found, seconds = timed(lambda: insights(store, cache, request))
        rows.append((f"whole `insights` call, cache warm ({found.assets:,} assets, 2 charts)", f"{seconds:.1f} s"))
        request = InsightsRequest(where="category = 'billing'", by=("app",), period=Period.WEEK)
        found, seconds = timed(lambda: insights(store, cache, request))
        rows.append((f"… with a filter ({found.assets:,} assets in view)", f"{seconds:.1f} s"))

    print(f"\n### Insights at {args.records:,} assets\n")
    print("| step | time |")
    print("| --- | --- |")
    for step, figure in rows:
        print(f"| {step} | {figure} |")


if __name__ == "__main__":
    main()
