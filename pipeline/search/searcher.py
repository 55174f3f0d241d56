"""Search: plan the query, run the store's hybrid search, explain the result."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from pipeline.errors import BadInput
from pipeline.models import Embedder
from pipeline.ocr import OcrEngine
from pipeline.records import Hit
from pipeline.search.planner import plan_query
from pipeline.store.base import Fusion, Store

MAX_LIMIT = 1000


@dataclass
class SearchResult:
    hits: list[Hit]
    keyword_text: str
    ocr_text: str
    alpha: float
    fusion: Fusion
    notices: list[str] = field(default_factory=list)


class Searcher:
    def __init__(self, store: Store, ocr: OcrEngine, embedder: Embedder | None) -> None:
        self.store = store
        self.ocr = ocr
        self.embedder = embedder

    def search(
        self,
        *,
        text: str | None = None,
        image: Image.Image | None = None,
        alpha: float = 0.5,
        limit: int = 10,
        where: str | None = None,
        fusion: Fusion = Fusion.RELATIVE,
    ) -> SearchResult:
        if not 0.0 <= alpha <= 1.0:
            raise BadInput("alpha", f"{alpha} is outside [0, 1] (0 = keyword only, 1 = vector only)")
        if not 1 <= limit <= MAX_LIMIT:
            raise BadInput("limit", f"{limit} is outside 1..{MAX_LIMIT}")
        plan = plan_query(text=text, image=image, ocr=self.ocr, embedder=self.embedder)
        notices = list(plan.notices)
        effective_alpha = alpha
        if plan.vector is None:
            # Reduced mode: hybrid degrades to BM25 instead of pretending to have vectors.
            effective_alpha = 0.0
            notices.append("OCR + keyword mode: no embedding model, so results are ranked by BM25 only")
        elif not plan.keyword_text:
            effective_alpha = 1.0
        hits = self.store.hybrid(
            text=plan.keyword_text,
            vector=plan.vector,
            alpha=effective_alpha,
            limit=limit,
            where=where,
            fusion=fusion,
        )
        return SearchResult(
            hits=hits,
            keyword_text=plan.keyword_text,
            ocr_text=plan.ocr_text,
            alpha=effective_alpha,
            fusion=fusion,
            notices=notices,
        )
