"""The benchmark scripts run as documented, on small sizes, and what they print is consistent.

They assert nothing themselves and these tests never look at a timing; they check that each
script ends, prints every row it promises, and that its recall, ratio and size columns mean
what docs/benchmarks.md says they mean (the exact baseline is exact, the ratio is baseline over
ours, the engine's ANN index keeps recall@10 at the issue's 0.95).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.baseline import SeedBaseline
from bench.synthetic import SyntheticCollection
from pipeline.store.lance_engine import LanceStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ANN_RECALL_TARGET = 0.95
MODES = [(mode, label) for label in ("none", "category") for mode in ("keyword", "vector", "hybrid")]


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    return done


def tables(output: str) -> list[list[dict[str, str]]]:
    """Every markdown table in the output, as rows keyed by the header's cells."""
    found: list[list[dict[str, str]]] = []
    lines = output.splitlines()
    for number, line in enumerate(lines[:-1]):
        if line.startswith("| ") and lines[number + 1].startswith(("| -", "| :")):
            header = [cell.strip() for cell in line.strip("|").split("|")]
            rows = []
            for row in lines[number + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, (cell.strip() for cell in row.strip("|").split("|")))))
            found.append(rows)
    return found


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("x"))


def test_search_scale_prints_every_mode_with_exact_baseline_and_ann_recall_on_target(tmp_path):
    args = ["--records", "12000", "--queries", "20", "--warmup", "2", "--data-dir", str(tmp_path)]
    first = run_bench("search_scale.py", *args)
    build, latency, ratios, recall = tables(first.stdout)

    assert [row["records"] for row in build] == ["12,000"]
    assert number(build[0]["disk bytes/record"]) > 2048 * 4  # the float32 vector alone is 8 KB
    # Above VLSEARCH_ANN_MIN_ROWS: the vector rows measure the ANN index, not an exact scan.
    assert "vector_idx" in first.stdout and "search_terms_idx" in first.stdout

    assert [(row["mode"], row["filter"]) for row in latency] == MODES
    for row in latency:
        assert number(row["p50 ms"]) <= number(row["p95 ms"]) <= number(row["p99 ms"])
        if row["mode"] == "keyword":
            assert row["recall@10 vs exact"] == "exact (BM25)"
        else:
            assert number(row["recall@10 vs exact"]) >= ANN_RECALL_TARGET

    assert [(row["mode"], row["filter"]) for row in ratios] == MODES
    for row in ratios:
        ratio = number(row["baseline p50 ms"]) / number(row["ours p50 ms"])  # from figures rounded to 0.1 ms
        assert number(row["p50 ratio"]) == pytest.approx(ratio, rel=0.1, abs=0.1)

    for row in recall:
        assert row["baseline recall@10 vs exact hybrid"] == "1.000"  # a flat index is exact
        assert number(row["ours recall@10 vs exact hybrid"]) >= ANN_RECALL_TARGET
        assert number(row["ours known-item@10"]) >= 0.5  # most queries find the record they were made from

    again = run_bench("search_scale.py", *args, "--baseline-max", "0")
    assert "reusing the collection" in again.stderr and "building" not in again.stderr
    assert "baseline not run at 12,000 records" in again.stdout
    assert [row["recall@10 vs exact"] for row in tables(again.stdout)[1]] == [
        row["recall@10 vs exact"] for row in latency
    ]


def test_the_seed_baseline_searches_the_stored_table_exactly(tmp_path):
    collection = SyntheticCollection(600, seed=3)
    store = LanceStore(tmp_path, dim=collection.dim)
    records = [record for batch in collection.records(batch=600) for record in batch]
    store.upsert(records)
    baseline = SeedBaseline(tmp_path)
    vectors = np.stack([record.vector for record in records])
    categories = {record.id: record.metadata["category"] for record in records}

    for query in collection.queries(10):
        exact = np.argsort(-(vectors @ query.vector))[:10]
        assert [doc_id for doc_id, _ in baseline.vector_search(query.vector, limit=10)] == [
            records[i].id for i in exact
        ]
        filtered = baseline.keyword_search(query.text, limit=50, category=query.category)
        assert filtered and {categories[doc_id] for doc_id, _ in filtered} == {query.category}
        assert len(baseline.hybrid(query.text, query.vector, alpha=0.5, limit=10)) == 10

    # The error code of a screenshot's cluster finds records of that cluster first in both BM25s.
    code_query = next(q for q in collection.queries(50) if any(c.isdigit() for c in q.text))
    ours = {doc_id for doc_id, _ in store.keyword_search(code_query.text, limit=3)}
    theirs = {doc_id for doc_id, _ in baseline.keyword_search(code_query.text, limit=3)}
    assert ours & theirs


def test_vector_tradeoffs_cover_every_representation_with_exact_float32_as_reference():
    out = run_bench("vectors.py", "--records", "3000", "--queries", "20").stdout
    rows = {row["representation"]: row for table in tables(out) for row in table}

    exact = rows["numpy: float32, 2048-d (exact scan)"]
    assert exact["recall@10 vs float32 2048-d"] == "1.000" and exact["bytes/vector"] == "8,192"
    assert rows["numpy: int8 scalar, 2048-d"]["bytes/vector"] == "2,048"
    assert rows["numpy: 1-bit sign, 2048-d (Hamming)"]["bytes/vector"] == "256"
    assert rows["numpy: Matryoshka 1024-d float32"]["bytes/vector"] == "4,096"
    assert rows["numpy: Matryoshka 512-d float32"]["bytes/vector"] == "2,048"

    def recall(name: str) -> float:
        return number(rows[name]["recall@10 vs float32 2048-d"])

    assert recall("numpy: 1-bit sign + float32 rescoring of the top 100") >= recall(
        "numpy: 1-bit sign, 2048-d (Hamming)"
    )
    lance = [name for name in rows if name.startswith("lance ")]
    assert {name.split(",")[0] for name in lance} == {
        "lance IVF_HNSW_SQ (8-bit)",
        "lance IVF_PQ (1 byte / 16 dims)",
        "lance IVF_RQ (RaBitQ",
    }
    for name in lance:
        if " + refine 10" in name:
            plain = name.replace(" + refine 10", "")
            assert recall(name) >= recall(plain), name
    # What LanceStore builds: RaBitQ on the full vectors, re-scored.
    engine = next(name for name in lance if name.startswith("lance IVF_RQ") and "2048-d + refine" in name)
    assert recall(engine) >= ANN_RECALL_TARGET


def test_ingest_throughput_times_every_stage_with_a_given_checkpoint(tiny_qwen_dir):
    out = run_bench(
        "ingest_throughput.py",
        "--images",
        "3",
        "--checkpoint",
        str(tiny_qwen_dir),
        "--device",
        "cpu",
        "--model-images",
        "2",
        "--model-max-pixels",
        "50176",
        "--caption-tokens",
        "4",
        "--synthetic",
        "2",
    ).stdout
    compared, stages = tables(out)
    assert [(row["folder"], row["code"], row["images"]) for row in compared] == [
        ("3 bundled samples", "before (7ef50ad)", "3"),
        ("3 bundled samples", "now", "3"),
        ("2 synthetic screenshots", "before (7ef50ad)", "2"),
        ("2 synthetic screenshots", "now", "2"),
    ]
    for before, now in zip(compared[::2], compared[1::2]):
        assert number(now["speed-up"]) == pytest.approx(number(now["images/s"]) / number(before["images/s"]), rel=0.05)
        assert now["stage utilisation"].startswith("OCR ") and ", write " in now["stage utilisation"]
    counted = {row["stage"]: row["count"] for row in stages}
    assert counted["decode + sha256 + thumbnail + PDQ"] == "3 images"
    assert counted["OCR (RapidOCR)"] == "3 images"
    assert counted["whole ingest, OCR + keyword mode (all stages + store write + index)"] == "3 images"
    assert counted["embedding (QwenEmbedder)"] == "2 images"
    assert counted["captioning (QwenCaptioner, 4 new tokens)"] == "2 images"
    assert counted["rerank (QwenReranker, query + image + text pairs)"] == "2 pairs"
    assert counted["whole ingest, full mode (OCR + caption + embed + store)"] == "2 images"
    assert any(stage.startswith("PDF page render") for stage in counted)
    assert any(stage.startswith("video frame sampling") for stage in counted)
    for row in stages:
        assert number(row["per second"]) > 0 and number(row["ms each"]) > 0
    assert (
        f"models: {tiny_qwen_dir.name} ({tiny_qwen_dir})" in out and "64-d vectors" in out
    )  # the tiny model's hidden size


def test_api_bench_times_search_through_the_server_beside_the_searcher_and_vectorize(tiny_qwen_dir, tmp_path):
    out = run_bench(
        "api.py",
        "--records",
        "3000",
        "--queries",
        "5",
        "--warmup",
        "2",
        "--concurrency",
        "1",
        "3",
        "--vectorize-batches",
        "2",
        "--checkpoint",
        str(tiny_qwen_dir),
        "--data-dir",
        str(tmp_path),
    ).stdout
    search, vectorize = tables(out)

    # The API serves the same collection as the in-process Searcher: the same hits for the same queries.
    assert "same top 10 through the API and in process for 20 of 20 queries" in out
    assert [row["clients"] for row in search] == ["1", "3"]
    for row in search:
        for side in ("in-process", "API"):
            assert number(row[f"{side} p50 ms"]) <= number(row[f"{side} p99 ms"])
            assert number(row[f"{side} QPS"]) > 0
        overhead = number(row["API p50 ms"]) - number(row["in-process p50 ms"])
        assert number(row["API overhead p50 ms"]) == pytest.approx(overhead, abs=0.02)

    assert [row["inputs"] for row in vectorize] == ["texts", "images"]
    for row in vectorize:
        assert number(row["API vectors/s"]) > 0 and number(row["in-process vectors/s"]) > 0
    assert f"/vectorize: {tiny_qwen_dir.name} on CPU" in out


def test_visual_search_bench_prints_the_samples_and_the_cost_at_a_given_size(tmp_path):
    done = run_bench("visual_search.py", "--records", "300", "--queries", "5", "--data", str(tmp_path))
    samples, steps = tables(done.stdout)
    assert [row["query"] for row in samples] == ["crop 10%", "crop 20%", "crop 30%", "quarter size", "JPEG q60"]
    for row in samples:  # each count is out of the row's queries, and what is first is among the candidates
        queries = number(row["queries"])
        assert queries == 45
        assert number(row["source first candidate"]) <= number(row["source among the candidates"]) <= queries
        assert number(row["source first after verifying"]) <= queries
    assert [row["step"] for row in steps] == ["candidates", "load", "verify", "whole step"]
    assert all(number(row["p50 ms"]) <= number(row["p95 ms"]) for row in steps)
    assert "300 synthetic screenshots, 5 queries" in done.stdout


def test_feedback_boost_bench_learns_on_some_wordings_and_leaves_the_rest_unchanged(tmp_path):
    done = run_bench("feedback_boost.py", "--queries", "4", "--seeds", "1", "--data", str(tmp_path))
    per_seed, mean = tables(done.stdout)
    assert [row["held-out queries"] for row in mean] == ["a similar query learned", "no similar query learned"]
    for row in per_seed + mean:
        assert number(row["changed"]) <= number(row["n"])
    rest = mean[1]
    assert number(rest["changed"]) == 0
    before, after = rest["nDCG@10 off -> on"].split(" -> ")
    assert before == after
    assert "4 typed questions x 3 wordings" in done.stdout


def test_insights_bench_times_every_step_at_a_given_size(tmp_path):
    done = run_bench("insights.py", "--records", "300", "--compare", "20", "--data", str(tmp_path))
    (steps,) = tables(done.stdout)
    names = [row["step"] for row in steps]
    assert names[0] == "read 300 assets (`store.summaries`, no thumbnails)"
    assert any(name.startswith("topics by text: first fit") for name in names)
    assert any(name.startswith("topics by vectors: first fit (300 ") for name in names)
    assert "near-identical: 20 new assets compared" in names
    assert any(name.startswith("whole `insights` call, cache warm (300 assets") for name in names)
    assert all(row["time"].endswith((" s", " h", " ms each)")) for row in steps)
