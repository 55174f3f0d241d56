"""Learning from votes: does a thumbs-up on one wording help the same question asked in other words, and does it
leave every other query alone?

    python bench/feedback_boost.py [--queries 69] [--seeds 3] [--people 2] [--data DIR] [--qrels FILE ...]

1. Ingests samples/manifest.jsonl (45 images, OCR + keyword mode) into a temporary data directory (or --data).
2. Simulated people: every typed query of samples/qrels.jsonl, bench/data/eval_set/qrels.jsonl and
   bench/data/eval_set/recurring.jsonl (vague questions asked again and again; --qrels picks others) is asked in
   three wordings with the same normalised text (as typed; its words in reverse order; "please help: ...?"). For
   each wording, --people people search it (nothing learned yet) and vote on its top 10: thumbs up on every hit
   the judgments call relevant, thumbs down on every other hit ranked above the last relevant one.
3. `vlsearch eval --feedback --split-seed S` for each seed: search learns from the votes on about half of the
   wordings and is judged by the votes on the others, with the learned boost off and on.

Prints a markdown table per seed and the mean over the seeds: the held-out queries that have a similar learned
query (another wording of the same question was voted on) and the rest (which learning must leave unchanged).
Asserts nothing. Figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import Settings  # noqa: E402
from pipeline.ingest.sources import read_manifest  # noqa: E402
from pipeline.search.evaluation import JudgedQuery, read_qrels  # noqa: E402
from pipeline.services import Services, build_services  # noqa: E402

QRELS = (
    ROOT / "samples" / "qrels.jsonl",
    ROOT / "bench" / "data" / "eval_set" / "qrels.jsonl",
    ROOT / "bench" / "data" / "eval_set" / "recurring.jsonl",
)
REDUCED = {"VLSEARCH_MODELS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
GROUPS = ("a similar query learned", "no similar query learned")
METRICS = ("recall@1", "mrr", "ndcg@10")


def wordings(text: str) -> list[str]:
    """Three ways to type one question that normalise to the same words."""
    return [text, " ".join(reversed(text.split())), f"please help: {text}?"]


def typed_queries(limit: int | None, files: Sequence[Path] = QRELS) -> list[JudgedQuery]:
    seen: dict[str, JudgedQuery] = {}
    for path in files:
        for query in read_qrels(path):
            if query.text and query.image is None:
                seen.setdefault(query.text.lower(), query)
    return list(seen.values())[:limit]


def vote(services: Services, queries: list[JudgedQuery], people: int) -> int:
    """Each wording's people vote on its top 10 (learning off); returns the number of votes."""
    searcher, log, collection = services.searcher(), services.feedback_log(), services.settings.collection
    count = 0
    for number, query in enumerate(queries):
        for variant, text in enumerate(wordings(query.text or "")):
            hits = searcher.search(text=text, limit=10, learned=False).hits
            relevant = [any(key.matches(hit.record) for key in query.relevant) for hit in hits]
            if not any(relevant):
                continue
            last = max(rank for rank, good in enumerate(relevant) if good)
            for person in range(people):
                for rank, (hit, good) in enumerate(zip(hits, relevant, strict=True)):
                    if good or rank < last:
                        log.record(
                            collection=collection,
                            query_text=text,
                            query_image_sha="",
                            asset_id=hit.record.id,
                            vote=1 if good else -1,
                            voter=f"q{number}-w{variant}-p{person}",
                        )
                        count += 1
    return count


def run_eval(data_dir: Path, seed: int) -> dict[str, object]:
    env = {**os.environ, **REDUCED, "VLSEARCH_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "pipeline", "eval", "--feedback", "--split-seed", str(seed)]
    command += ["--alpha", "0", "--fusion", "relative", "--no-rerank", "--json"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def table(rows: list[tuple[str, dict[str, object]]]) -> None:
    print("| seed | held-out queries | n | changed | R@1 off -> on | MRR off -> on | nDCG@10 off -> on |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seed, group in rows:
        before, after = group["before"], group["after"]
        assert isinstance(before, dict) and isinstance(after, dict)
        figures = " | ".join(f"{before[name]:.3f} -> {after[name]:.3f}" for name in METRICS)
        print(f"| {seed} | {group['group']} | {group['queries']} | {group['changed']} | {figures} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=None, help="typed queries of the judgments to use (all)")
    parser.add_argument("--seeds", type=int, default=3, help="splits of the votes to evaluate (0, 1, ...)")
    parser.add_argument("--people", type=int, default=2, help="people voting on each wording")
    parser.add_argument("--data", type=Path, default=None, help="data directory (default: a temporary one)")
    parser.add_argument("--qrels", type=Path, action="append", help="judgments to ask (repeatable; default: all three)")
    args = parser.parse_args()
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="vlsearch-feedback-"))
    for key, value in REDUCED.items():
        os.environ[key] = value
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    try:
        services.ingestor().ingest(read_manifest(ROOT / "samples" / "manifest.jsonl").items)
        queries = typed_queries(args.queries, args.qrels or QRELS)
        votes = vote(services, queries, args.people)
        weight = services.settings.feedback_weight
    finally:
        services.close()
    print(
        f"{len(queries)} typed questions x 3 wordings, {args.people} people each: {votes} votes; "
        f"VLSEARCH_FEEDBACK_WEIGHT={weight:g}; OCR + keyword mode, alpha 0, relative fusion, no rerank\n"
    )
    rows: list[tuple[str, dict[str, object]]] = []
    totals: dict[str, list[dict[str, object]]] = {name: [] for name in GROUPS}
    for seed in range(args.seeds):
        groups = run_eval(data_dir, seed)["learned_groups"]
        assert isinstance(groups, list)
        for group in groups:
            rows.append((str(seed), group))
            totals[group["group"]].append(group)
    table(rows)
    print()
    print(f"Mean over {args.seeds} seeds, weighted by queries:\n")
    mean_rows = []
    for name, groups in totals.items():
        count = sum(int(group["queries"]) for group in groups)  # type: ignore[call-overload]
        mean: dict[str, object] = {"group": name, "queries": count, "changed": sum(g["changed"] for g in groups)}  # type: ignore[misc]
        for side in ("before", "after"):
            mean[side] = {
                metric: sum(g[side][metric] * g["queries"] for g in groups) / max(count, 1)  # type: ignore[index]
                for metric in METRICS
            }
        mean_rows.append(("all", mean))
    table(mean_rows)


if __name__ == "__main__":
    main()
