"""Search at scale on synthetic records: latency, throughput, recall, index build, disk and RAM.

    python bench/search_scale.py --records 10000 100000 [--queries 200] [--rebuild]
    python bench/search_scale.py --records 1000000     # about 30 minutes on 2 cores, 9 GB of disk

For each size, builds a collection of synthetic records (bench/synthetic.py: OCR-like English /
Chinese text, metadata, 2048-d normalised vectors) through the real engine (`LanceStore.upsert`
in batches of 10,000, then `optimize()`, which builds the FTS, scalar and ANN indexes), in a
child process so that the search figures see a freshly opened store. A built store is reused
when its size matches (--rebuild forces a new one).

Then, through the Store methods the app calls (`keyword_search`, `vector_search`, `hybrid` with
alpha 0.5, top 10), single client, sequential, after a warm-up: p50 / p95 / p99 latency and
queries per second, without and with a metadata filter (the target's category, about 10% of the
records). Recall is measured against exact search:
- vector recall@10: overlap of the top 10 with the exact cosine top 10 (brute-force numpy dot
  over every stored vector, filtered the same way);
- hybrid recall@10: overlap with the "exact hybrid" top 10, which fuses the same system's keyword
  top 100 with the exact vector top 100. BM25 is exhaustive in both systems (an inverted index
  scores every matching record), so the only approximation either can make is the vector side;
- known-item recall@10: how often the record the query was made from is in the hybrid top 10,
  which compares the two systems' relevance on the same footing.

The seed article's approach (bench/baseline.py: FAISS IndexFlatIP + rank_bm25, fused in Python)
runs on the same table and queries in the same run, up to --baseline-max records, and the ratio
of its latency to ours is printed. Prints markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import lancedb
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline import SeedBaseline  # noqa: E402
from bench.synthetic import Query, SyntheticCollection  # noqa: E402
from pipeline.store.analyzer import search_tokens  # noqa: E402
from pipeline.store.base import MIN_CANDIDATES  # noqa: E402
from pipeline.store.fusion import relative_score_fusion  # noqa: E402
from pipeline.store.lance_engine import LanceStore  # noqa: E402

LIMIT = 10
BUILD_INFO = "bench_build.json"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def disk_bytes(path: Path) -> int:
    """Allocated bytes under `path`, as du counts them."""
    return sum(entry.stat().st_blocks * 512 for entry in path.rglob("*") if entry.is_file())


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# build ----------------------------------------------------------------------------------------


def build(directory: Path, size: int, seed: int) -> None:
    """Write the collection through LanceStore, index it, and record the timings beside it."""
    collection = SyntheticCollection(size, seed=seed)
    store = LanceStore(directory, dim=collection.dim)
    start = time.perf_counter()
    for records in collection.records(batch=10_000):
        store.upsert(records)
        print(
            f"  wrote {store.count():,} / {size:,} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True
        )
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    store.optimize()
    index_s = time.perf_counter() - start
    table = lancedb.connect(directory).open_table("assets")
    with warnings.catch_warnings():
        # Versions superseded by compaction are kept 7 days by default; count only what is live
        # (no other process uses this table, which is what the warning is about).
        warnings.simplefilter("ignore", UserWarning)
        table.optimize(cleanup_older_than=timedelta(0))
    info = {
        "records": size,
        "seed": seed,
        "write_s": write_s,
        "index_s": index_s,
        "indexes": sorted(index.name for index in table.list_indices()),
    }
    (directory / BUILD_INFO).write_text(json.dumps(info))


def ensure_built(directory: Path, size: int, seed: int, rebuild: bool) -> dict:
    info_path = directory / BUILD_INFO
    if not rebuild and info_path.exists():
        info = json.loads(info_path.read_text())
        if info["records"] == size and info["seed"] == seed:
            print(f"reusing the collection at {directory}", file=sys.stderr)
            return info
    shutil.rmtree(directory, ignore_errors=True)
    print(f"building {size:,} records at {directory}", file=sys.stderr)
    child = multiprocessing.get_context("spawn").Process(target=build, args=(directory, size, seed))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"building the collection failed (exit code {child.exitcode})")
    return json.loads(info_path.read_text())


# exact search -----------------------------------------------------------------------------------


def exact_top(directory: Path, queries: Sequence[Query], depth: int) -> dict[bool, list[list[tuple[str, float]]]]:
    """Brute-force (id, cosine) top `depth` per query over every stored vector: unfiltered (False), filtered (True)."""
    table = lancedb.connect(directory).open_table("assets")
    matrix = np.stack([query.vector for query in queries])
    codes: dict[str, int] = {}
    wanted = np.asarray([codes.setdefault(query.category, len(codes)) for query in queries])
    empty = (np.full((len(queries), 0), -np.inf), np.zeros((len(queries), 0), dtype=np.int64))
    best = {False: empty, True: empty}
    ids: list[str] = []
    for batch in table.search().select(["id", "m_category", "vector"]).limit(None).to_batches(20_000):
        vectors = batch.column("vector").flatten().to_numpy().reshape(len(batch), -1)
        scores = matrix @ vectors.T
        rows = np.arange(len(ids), len(ids) + len(batch))
        ids.extend(batch.column("id").to_pylist())
        batch_codes = np.asarray([codes.get(value, -1) for value in batch.column("m_category").to_pylist()])
        same_category = wanted[:, None] == batch_codes[None, :]
        for filtered, batch_scores in ((False, scores), (True, np.where(same_category, scores, -np.inf))):
            kept_scores, kept_rows = best[filtered]
            merged = np.concatenate([kept_scores, batch_scores], axis=1)
            merged_rows = np.concatenate([kept_rows, np.broadcast_to(rows, batch_scores.shape)], axis=1)
            keep = np.argpartition(-merged, min(depth, merged.shape[1] - 1), axis=1)[:, :depth]
            best[filtered] = (np.take_along_axis(merged, keep, 1), np.take_along_axis(merged_rows, keep, 1))
    exact = {}
    for filtered, (scores, rows) in best.items():
        order = np.argsort(-scores, axis=1)
        exact[filtered] = [
            [(ids[row], float(score)) for row, score in zip(row_list[o], score_list[o]) if score > -np.inf]
            for row_list, score_list, o in zip(rows, scores, order)
        ]
    return exact


def overlap(found: Sequence[str], exact: Sequence[str]) -> float:
    return len(set(found[:LIMIT]) & set(exact[:LIMIT])) / max(1, min(LIMIT, len(exact)))


# timing -----------------------------------------------------------------------------------------


Run = Callable[[Query, bool], list[str]]  # (query, filtered) -> ids, best first
Timings = dict[tuple[str, bool], tuple[list[float], list[list[str]]]]  # (mode, filtered) -> ms, results


def timed(run: Run, filtered: bool, queries: Sequence[Query], warmup: int) -> tuple[list[float], list[list[str]]]:
    for query in queries[:warmup]:
        run(query, filtered)
    latencies, results = [], []
    for query in queries:
        start = time.perf_counter()
        found = run(query, filtered)
        latencies.append((time.perf_counter() - start) * 1000)
        results.append(found)
    return latencies, results


def time_modes(modes: dict[str, Run], queries: Sequence[Query], warmup: int) -> Timings:
    return {
        (mode, filtered): timed(run, filtered, queries, warmup)
        for filtered in (False, True)
        for mode, run in modes.items()
    }


def ids_of(results: list[tuple[str, float]]) -> list[str]:
    return [doc_id for doc_id, _ in results]


def our_modes(store: LanceStore, alpha: float) -> dict[str, Run]:
    def where(query: Query, filtered: bool) -> str | None:
        return query.where if filtered else None

    def hybrid(query: Query, filtered: bool) -> list[str]:
        hits = store.hybrid(
            text=query.text, vector=query.vector, alpha=alpha, limit=LIMIT, where=where(query, filtered)
        )
        return [hit.record.id for hit in hits]

    return {
        "keyword": lambda q, f: ids_of(store.keyword_search(q.text, limit=LIMIT, where=where(q, f))),
        "vector": lambda q, f: ids_of(store.vector_search(q.vector, limit=LIMIT, where=where(q, f))),
        "hybrid": hybrid,
    }


def baseline_modes(baseline: SeedBaseline, alpha: float) -> dict[str, Run]:
    def category(query: Query, filtered: bool) -> str | None:
        return query.category if filtered else None

    return {
        "keyword": lambda q, f: ids_of(baseline.keyword_search(q.text, limit=LIMIT, category=category(q, f))),
        "vector": lambda q, f: ids_of(baseline.vector_search(q.vector, limit=LIMIT, category=category(q, f))),
        "hybrid": lambda q, f: baseline.hybrid(q.text, q.vector, alpha=alpha, limit=LIMIT, category=category(q, f)),
    }


def exact_hybrid(
    keyword: Callable[[Query, bool], list[tuple[str, float]]],
    exact: dict[bool, list[list[tuple[str, float]]]],
    queries: Sequence[Query],
    alpha: float,
) -> dict[bool, list[list[str]]]:
    """Per filter setting, each query's top 10 fusing a system's keyword top 100 with the exact vector top 100."""
    return {
        filtered: [
            ids_of(relative_score_fusion([keyword(query, filtered), nearest], [1.0 - alpha, alpha])[:LIMIT])
            for query, nearest in zip(queries, exact[filtered])
        ]
        for filtered in (False, True)
    }


def mean_overlap(found: Sequence[Sequence[str]], reference: Sequence[Sequence[str]]) -> float:
    return statistics.mean(overlap(f, r) for f, r in zip(found, reference))


def filter_label(filtered: bool) -> str:
    return "category" if filtered else "none"


# report -----------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, size: int) -> None:
    directory = args.data_dir / f"records-{size}"
    info = ensure_built(directory, size, args.seed, args.rebuild)
    queries = SyntheticCollection(size, seed=args.seed).queries(args.queries)

    search_tokens("加载词典")  # jieba loads its dictionary (about 0.7 s) on first use: a start-up cost, not a query's
    before = rss_bytes()
    store = LanceStore(directory, dim=queries[0].vector.shape[0])
    ours = time_modes(our_modes(store, args.alpha), queries, args.warmup)
    our_rss = rss_bytes() - before

    exact = exact_top(directory, queries, MIN_CANDIDATES)
    exact_ids = {filtered: [ids_of(results) for results in exact[filtered]] for filtered in (False, True)}

    def our_keyword(query: Query, filtered: bool) -> list[tuple[str, float]]:
        return store.keyword_search(query.text, limit=MIN_CANDIDATES, where=query.where if filtered else None)

    our_exact_hybrid = exact_hybrid(our_keyword, exact, queries, args.alpha)

    disk = disk_bytes(directory)
    index_disk = disk_bytes(directory / "assets.lance" / "_indices")
    print(f"\n### {size:,} records\n")
    print(
        "| records | write (upsert) s | records/s | index build s | disk bytes/record | of which indexes "
        "| RSS after searching, bytes/record |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {size:,} | {info['write_s']:.1f} | {size / info['write_s']:,.0f} | {info['index_s']:.1f} | "
        f"{disk / size:,.0f} | {index_disk / size:,.0f} | {our_rss / size:,.0f} |"
    )
    print(
        f"\nindexes: {', '.join(info['indexes'])}; {len(queries)} queries per row after {args.warmup} warm-up, "
        f"alpha {args.alpha}\n"
    )
    print("| mode | filter | p50 ms | p95 ms | p99 ms | QPS | recall@10 vs exact |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    references = {"vector": exact_ids, "hybrid": our_exact_hybrid}
    for (mode, filtered), (latencies, results) in ours.items():
        recall = f"{mean_overlap(results, references[mode][filtered]):.3f}" if mode in references else "exact (BM25)"
        print(
            f"| {mode} | {filter_label(filtered)} | {percentile(latencies, 0.5):.1f} | "
            f"{percentile(latencies, 0.95):.1f} | {percentile(latencies, 0.99):.1f} | "
            f"{len(latencies) / (sum(latencies) / 1000):.0f} | {recall} |"
        )

    if size > args.baseline_max:
        print(f"\nbaseline not run at {size:,} records (--baseline-max {args.baseline_max:,})")
        return
    before = rss_bytes()
    start = time.perf_counter()
    baseline = SeedBaseline(directory)
    load_s = time.perf_counter() - start
    baseline_rss = rss_bytes() - before
    theirs = time_modes(baseline_modes(baseline, args.alpha), queries, args.warmup)

    def their_keyword(query: Query, filtered: bool) -> list[tuple[str, float]]:
        return baseline.keyword_search(query.text, limit=MIN_CANDIDATES, category=query.category if filtered else None)

    their_exact_hybrid = exact_hybrid(their_keyword, exact, queries, args.alpha)
    print(
        f"\nseed-article baseline (FAISS IndexFlatIP + rank_bm25, fused in Python): loaded in {load_s:.1f} s, "
        f"RSS {baseline_rss / size:,.0f} bytes/record\n"
    )
    print("| mode | filter | ours p50 ms | baseline p50 ms | p50 ratio | ours p99 ms | baseline p99 ms | p99 ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (mode, filtered), (latencies, _) in ours.items():
        base = theirs[(mode, filtered)][0]
        p50, b50 = percentile(latencies, 0.5), percentile(base, 0.5)
        p99, b99 = percentile(latencies, 0.99), percentile(base, 0.99)
        print(
            f"| {mode} | {filter_label(filtered)} | {p50:.1f} | {b50:.1f} | {b50 / p50:.1f}x | "
            f"{p99:.1f} | {b99:.1f} | {b99 / p99:.1f}x |"
        )
    print(
        "\n| hybrid | filter | ours recall@10 vs exact hybrid | baseline recall@10 vs exact hybrid "
        "| ours known-item@10 | baseline known-item@10 | top-10 overlap ours/baseline |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for filtered in (False, True):
        mine, base = ours[("hybrid", filtered)][1], theirs[("hybrid", filtered)][1]
        print(
            f"| hybrid | {filter_label(filtered)} | {mean_overlap(mine, our_exact_hybrid[filtered]):.3f} | "
            f"{mean_overlap(base, their_exact_hybrid[filtered]):.3f} | "
            f"{statistics.mean(q.target_id in f for q, f in zip(queries, mine)):.3f} | "
            f"{statistics.mean(q.target_id in f for q, f in zip(queries, base)):.3f} | "
            f"{mean_overlap(mine, base):.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000], help="collection sizes")
    parser.add_argument("--queries", type=int, default=200, help="queries per row")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries before each row")
    parser.add_argument("--alpha", type=float, default=0.5, help="hybrid weight of the vector side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-max", type=int, default=100_000, help="largest size the baseline runs at")
    parser.add_argument(
        "--data-dir", type=Path, default=Path("/tmp/vlsearch-bench"), help="where collections are built"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild collections that already exist")
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} CPU cores, lancedb {lancedb.__version__}")
    for size in args.records:
        measure(args, size)


if __name__ == "__main__":
    main()
