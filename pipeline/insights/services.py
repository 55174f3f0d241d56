"""Wiring for insights: a collection's search answers the query, its stored vectors cluster topics in full mode,
its captioner sums topics up, and data_dir/insights.sqlite remembers what was compared and fitted."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sklearn.preprocessing import normalize

from pipeline.insights.cache import INSIGHTS_FILE, InsightsCache
from pipeline.insights.near_duplicates import Progress
from pipeline.insights.report import Insights, InsightsRequest, insights
from pipeline.records import AssetSummary
from pipeline.services import Services

FETCHED_VECTORS = 1000  # past this many, vectors are read with one scan of the collection rather than by id


def collection_insights(
    services: Services,
    request: InsightsRequest,
    *,
    compare_budget_s: float | None = None,
    progress: Progress | None = None,
) -> Insights:
    """Insights over the services' collection: what the page, `vlsearch insights` and GET /v1/insights show."""
    settings = services.settings

    def matching(query: str, where: str | None) -> list[str]:
        hits = services.searcher().search(text=query, where=where, limit=settings.max_results, rerank=False).hits
        return [hit.record.id for hit in hits]

    def vectors_of(summaries: Sequence[AssetSummary]) -> NDArray[np.float64] | None:
        wanted = [summary.id for summary in summaries]
        stored = (
            services.store.summaries(with_vector=True) if len(wanted) > FETCHED_VECTORS else services.store.get(wanted)
        )
        vectors = {found.id: found.vector for found in stored}
        found = [vectors.get(doc_id) for doc_id in wanted]
        if any(vector is None for vector in found):
            return None
        return normalize(np.stack([np.asarray(vector, dtype=np.float64) for vector in found]))

    return insights(
        services.store,
        InsightsCache(settings.data_dir / INSIGHTS_FILE, settings.collection),
        request,
        matching=matching,
        vectors_of=vectors_of if services.models.embedder is not None else None,
        captioner=services.models.captioner,
        compare_budget_s=compare_budget_s,
        progress=progress,
    )
