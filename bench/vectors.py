"""Vector storage trade-offs: float32 vs quantized vectors, and Matryoshka truncation.

    python bench/vectors.py --records 10000 100000 [--queries 200]     # 10 minutes on 2 cores

On the synthetic vectors of bench/synthetic.py (2048-d, normalised, energy decaying over the
dimensions as in Matryoshka-trained embeddings; synthetic, so truncation figures are indicative),
each representation is searched for the top 10 and compared with exact float32 2048-d search:
- numpy references, exhaustive scans: float32; int8 scalar quantization (per-dimension range,
  scored in float); 1-bit sign quantization (Hamming distance), alone and with the top 100
  rescored in float32; Matryoshka truncation to 1024 and 512 dimensions, renormalised.
- LanceDB ANN indexes (the engine's own quantizers): IVF_HNSW_SQ (8-bit scalar), IVF_PQ
  (product quantization, 16 dimensions per 1-byte code) and IVF_RQ (RaBitQ, 1 bit per
  dimension, what LanceStore builds), each on 2048-d and on the 512-d truncation; Lance's default search
  parameters, alone and with `refine_factor(10)` (the top 100 rescored on the stored float32
  vectors).

Columns: bytes per vector of the representation searched; the index's bytes per record on disk
(Lance keeps the float32 column beside the index); recall@10 against exact float32 2048-d;
median single-query latency. 10k to 100k records is enough to see the trade-offs; prints
markdown tables, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import IvfHnswSq, IvfPq, IvfRq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search_scale import disk_bytes  # noqa: E402
from bench.synthetic import SyntheticCollection  # noqa: E402

LIMIT = 10
RESCORE_DEPTH = 100
Row = tuple[str, int, str, float, float]  # label, bytes/vector, index bytes/record, recall@10, p50 ms


def truncated(vectors: np.ndarray, dim: int) -> np.ndarray:
    cut = vectors[:, :dim]
    return cut / np.linalg.norm(cut, axis=1, keepdims=True)


def top(scores: np.ndarray, limit: int) -> np.ndarray:
    best = np.argpartition(-scores, limit)[:limit]
    return best[np.argsort(-scores[best])]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return len(set(found[:LIMIT].tolist()) & set(exact[:LIMIT].tolist())) / LIMIT


def measure(search: Callable[[int], np.ndarray], queries: int, exact: list[np.ndarray]) -> tuple[float, float]:
    """Median ms and mean recall@10 of `search(query_index) -> row numbers`, after one warm-up query."""
    search(0)
    latencies, recalls = [], []
    for index in range(queries):
        start = time.perf_counter()
        found = search(index)
        latencies.append((time.perf_counter() - start) * 1000)
        recalls.append(recall(found, exact[index]))
    return statistics.median(latencies), statistics.mean(recalls)


def numpy_rows(vectors: np.ndarray, queries: np.ndarray, exact: list[np.ndarray]) -> list[Row]:
    rows = []
    low, high = vectors.min(axis=0), vectors.max(axis=0)
    step = (high - low) / 255
    codes = np.round((vectors - low) / step).astype(np.uint8)
    bits = np.packbits(vectors > 0, axis=1)
    popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    query_bits = np.packbits(queries > 0, axis=1)

    def hamming_top(index: int, depth: int) -> np.ndarray:
        distances = popcount[np.bitwise_xor(bits, query_bits[index])].sum(axis=1, dtype=np.int32)
        return top(-distances.astype(np.float32), depth)

    def rescored(index: int) -> np.ndarray:
        candidates = hamming_top(index, RESCORE_DEPTH)
        return candidates[top(vectors[candidates] @ queries[index], LIMIT)]

    cases: list[tuple[str, int, Callable[[int], np.ndarray]]] = [
        ("float32, 2048-d (exact scan)", 4 * 2048, lambda i: top(vectors @ queries[i], LIMIT)),
        ("int8 scalar, 2048-d", 2048, lambda i: top(codes @ (queries[i] * step), LIMIT)),
        ("1-bit sign, 2048-d (Hamming)", 2048 // 8, lambda i: hamming_top(i, LIMIT)),
        (f"1-bit sign + float32 rescoring of the top {RESCORE_DEPTH}", 2048 // 8, rescored),
    ]
    for dim in (1024, 512):
        short, short_queries = truncated(vectors, dim), truncated(queries, dim)
        cases.append((f"Matryoshka {dim}-d float32", 4 * dim, lambda i, v=short, q=short_queries: top(v @ q[i], LIMIT)))
    for label, size, search in cases:
        ms, recall_at_10 = measure(search, len(queries), exact)
        rows.append((f"numpy: {label}", size, "-", recall_at_10, ms))
    return rows


def lance_rows(vectors: np.ndarray, queries: np.ndarray, exact: list[np.ndarray], workdir: Path) -> list[Row]:
    rows = []
    for dim in (2048, 512):
        data = vectors if dim == 2048 else truncated(vectors, dim)
        query_set = queries if dim == 2048 else truncated(queries, dim)
        configs = [
            ("IVF_HNSW_SQ (8-bit)", dim, IvfHnswSq(distance_type="cosine")),
            ("IVF_PQ (1 byte / 16 dims)", dim // 16, IvfPq(distance_type="cosine", num_sub_vectors=dim // 16)),
            ("IVF_RQ (RaBitQ, 1 bit / dim)", dim // 8, IvfRq(distance_type="cosine")),
        ]
        for label, size, config in configs:
            location = workdir / f"{dim}-{label.split()[0]}"
            db = lancedb.connect(location)
            column = pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), dim)
            table = db.create_table("vectors", pa.table({"row": np.arange(len(data)), "vector": column}))
            start = time.perf_counter()
            table.create_index("vector", config=config)
            build_s = time.perf_counter() - start
            index_bytes = f"{disk_bytes(location / 'vectors.lance' / '_indices') / len(data):,.0f}"

            for refine in (None, 10):

                def search(i: int, table=table, query_set=query_set, refine=refine) -> np.ndarray:
                    query = table.search(query_set[i]).distance_type("cosine").limit(LIMIT)
                    query = query.select(["row", "_distance"])
                    return (query.refine_factor(refine) if refine else query).to_arrow().column("row").to_numpy()

                ms, recall_at_10 = measure(search, len(queries), exact)
                name = f"lance {label}, {dim}-d{f' + refine {refine}' if refine else ''} (built in {build_s:.1f} s)"
                rows.append((name, size, index_bytes, recall_at_10, ms))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for size in args.records:
        collection = SyntheticCollection(size, seed=args.seed)
        vectors = np.concatenate(list(collection.vector_batches()))
        queries = np.stack([query.vector for query in collection.queries(args.queries)])
        exact = [top(vectors @ query, LIMIT) for query in queries]
        with tempfile.TemporaryDirectory() as workdir:
            rows = numpy_rows(vectors, queries, exact) + lance_rows(vectors, queries, exact, Path(workdir))
        print(f"\n### {size:,} records, {len(queries)} queries\n")
        print("| representation | bytes/vector | index bytes/record on disk | recall@10 vs float32 2048-d | p50 ms |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, size_bytes, index_bytes, recall_at_10, ms in rows:
            print(f"| {label} | {size_bytes:,} | {index_bytes} | {recall_at_10:.3f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
