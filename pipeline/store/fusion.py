"""Score fusion for hybrid search, with Weaviate's semantics so both engines rank alike.

Each result set is a sequence of ``(id, score)`` where higher is better; the weight of a
set is applied to its normalised (relative) or rank-based (ranked) contribution.

Equal fused scores are ordered by rank evidence before id: each set adds weight / (rank + 60), where
ids with equal scores in a set share the mean of their ranks. At alpha 0.5 the unique nearest vector
that BM25 missed and each of the N records tied for the best BM25 score (a generic query: dozens at
100k records) all fuse to exactly 0.5; the unique first place outranks a first place shared by N.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

ResultSet = Sequence[tuple[str, float]]

RANK_CONSTANT = 60


def relative_score_fusion(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Min-max normalise each set to [0, 1], weight, and sum per id (missing ids get 0)."""
    return _fused(result_sets, weights, relative_scores)


def ranked_fusion(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each set adds weight / (rank + 60), rank counted from 0."""
    return _fused(result_sets, weights, ranked_scores)


def relative_scores(results: ResultSet) -> dict[str, float]:
    """Each id's score min-max normalised to [0, 1]; all-equal scores carry no ranking signal, so Weaviate gives
    each the full 1."""
    if not results:
        return {}
    scores = [score for _, score in results]
    low, high = min(scores), max(scores)
    span = high - low
    return {doc_id: (score - low) / span if span > 0 else 1.0 for doc_id, score in results}


def ranked_scores(results: ResultSet) -> dict[str, float]:
    """Each id's 1 / (rank + 60), rank counted from 0 in order of score."""
    ranked = sorted(results, key=lambda item: item[1], reverse=True)
    return {doc_id: 1.0 / (rank + RANK_CONSTANT) for rank, (doc_id, _) in enumerate(ranked)}


def _fused(
    result_sets: Sequence[ResultSet], weights: Sequence[float], scored: Callable[[ResultSet], dict[str, float]]
) -> list[tuple[str, float]]:
    _check(result_sets, weights)
    fused: dict[str, float] = {}
    for results, weight in zip(result_sets, weights):
        for doc_id, score in scored(results).items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * score
    return _best_first(fused, _rank_evidence(result_sets, weights))


def _rank_evidence(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> dict[str, float]:
    """Weighted reciprocal ranks, ids with equal scores in a set sharing their mean rank: the tie-break."""
    evidence: dict[str, float] = {}
    for results, weight in zip(result_sets, weights):
        ranked = sorted((score for _, score in results), reverse=True)
        first: dict[float, int] = {}
        last: dict[float, int] = {}
        for rank, score in enumerate(ranked):
            first.setdefault(score, rank)
            last[score] = rank
        for doc_id, score in results:
            shared_rank = (first[score] + last[score]) / 2
            evidence[doc_id] = evidence.get(doc_id, 0.0) + weight / (shared_rank + RANK_CONSTANT)
    return evidence


def _check(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> None:
    if len(result_sets) != len(weights):
        raise ValueError(f"{len(result_sets)} result sets but {len(weights)} weights")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"fusion weights must be non-negative, got {list(weights)}")


def _best_first(fused: dict[str, float], evidence: dict[str, float]) -> list[tuple[str, float]]:
    # Ties broken by rank evidence, then by id so the order is deterministic across engines and runs.
    return sorted(fused.items(), key=lambda item: (-item[1], -evidence.get(item[0], 0.0), item[0]))
