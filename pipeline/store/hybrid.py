"""Client-side hybrid search for engines without a server-side one (LanceDB)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pipeline.records import Hit, Scores, Vector
from pipeline.store.base import MIN_CANDIDATES, Fusion, Store
from pipeline.store.fusion import ranked_fusion, relative_score_fusion

# The vector side runs here while the caller's thread runs the keyword side: both mostly wait on
# the engine's own threads and I/O, so a hybrid costs the slower side, not the sum.
_VECTOR_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hybrid-vector")


def hybrid_search(
    store: Store,
    *,
    text: str | None,
    vector: Vector | None,
    alpha: float,
    limit: int,
    where: str | None,
    fusion: Fusion,
) -> list[Hit]:
    """Retrieve max(limit, 100) candidates per side, fuse them as Weaviate does, load the top hits."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    depth = max(limit, MIN_CANDIDATES)
    # A side with zero weight is not queried: alpha 0 is pure BM25, alpha 1 pure vector.
    use_keyword = bool(text and text.strip()) and alpha < 1.0
    use_vector = vector is not None and alpha > 0.0
    pending = None
    if use_vector and vector is not None:
        pending = _VECTOR_SIDE.submit(store.vector_search, vector, limit=depth, where=where)
    keyword = store.keyword_search(text or "", limit=depth, where=where) if use_keyword else []
    nearest = pending.result() if pending is not None else []
    # Similarity (1 - cosine distance) so that higher is better on both sides.
    vector_scores = [(doc_id, 1.0 - distance) for doc_id, distance in nearest]
    fuse = relative_score_fusion if fusion == Fusion.RELATIVE else ranked_fusion
    fused = fuse([keyword, vector_scores], [1.0 - alpha, alpha])[:limit]
    bm25 = dict(keyword)
    distances = dict(nearest)
    records = {record.id: record for record in store.get([doc_id for doc_id, _ in fused])}
    return [
        Hit(
            record=records[doc_id],
            scores=Scores(fused=score, bm25=bm25.get(doc_id), vector_distance=distances.get(doc_id)),
        )
        for doc_id, score in fused
        if doc_id in records
    ]
