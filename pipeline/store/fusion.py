"""Score fusion for hybrid search, with Weaviate's semantics so both engines rank alike.

Each result set is a sequence of ``(id, score)`` where higher is better; the weight of a
set is applied to its normalised (relative) or rank-based (ranked) contribution.
"""

from __future__ import annotations

from collections.abc import Sequence

ResultSet = Sequence[tuple[str, float]]

RANK_CONSTANT = 60


def relative_score_fusion(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Min-max normalise each set to [0, 1], weight, and sum per id (missing ids get 0)."""
    _check(result_sets, weights)
    fused: dict[str, float] = {}
    for results, weight in zip(result_sets, weights):
        if not results:
            continue
        scores = [score for _, score in results]
        low, high = min(scores), max(scores)
        span = high - low
        for doc_id, score in results:
            # All-equal scores carry no ranking signal; Weaviate gives each the full weight.
            normalised = (score - low) / span if span > 0 else 1.0
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * normalised
    return _best_first(fused)


def ranked_fusion(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each set adds weight / (rank + 60), rank counted from 0."""
    _check(result_sets, weights)
    fused: dict[str, float] = {}
    for results, weight in zip(result_sets, weights):
        ranked = sorted(results, key=lambda item: item[1], reverse=True)
        for rank, (doc_id, _) in enumerate(ranked):
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (rank + RANK_CONSTANT)
    return _best_first(fused)


def _check(result_sets: Sequence[ResultSet], weights: Sequence[float]) -> None:
    if len(result_sets) != len(weights):
        raise ValueError(f"{len(result_sets)} result sets but {len(weights)} weights")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"fusion weights must be non-negative, got {list(weights)}")


def _best_first(fused: dict[str, float]) -> list[tuple[str, float]]:
    # Ties broken by id so the order is deterministic across engines and runs.
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
