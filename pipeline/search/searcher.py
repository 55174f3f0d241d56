"""Search: plan the query, run the store's hybrid search, rerank, explain the result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from pipeline.access.limits import QuerySlots, check_query_text, check_result_limit, process_query_slots
from pipeline.config import Settings
from pipeline.errors import BadInput
from pipeline.images import QuerySize
from pipeline.models import Embedder, Query
from pipeline.ocr import OcrEngine
from pipeline.records import Hit, Vector
from pipeline.search.learned import LearnedBoost, LearnedQuery
from pipeline.search.planner import NO_QUERY, plan_query
from pipeline.search.proximity import add_proximity
from pipeline.search.rerank import RerankStage
from pipeline.search.visual import add_visual, looks_same
from pipeline.search.windows import group_video_hits
from pipeline.store.base import Fusion, Store

MAX_LIMIT = 1000
# A video's frames collapse into one hit, so the store is asked for this many candidates per hit
# wanted: enough that `limit` hits survive grouping and a window sees its neighbouring frames.
CANDIDATES_PER_HIT = 10
VIDEO_WINDOW_S: float = Settings.model_fields["video_window_s"].default
FRAME_INTERVAL_S: float = 1.0 / Settings.model_fields["video_fps"].default
MAX_QUERY_CHARS: int = Settings.model_fields["max_query_chars"].default
VISUAL_WEIGHT: float = Settings.model_fields["visual_weight"].default
QUERY_SIZE = QuerySize(
    Settings.model_fields["query_max_pixels"].default, Settings.model_fields["query_max_side"].default
)
Order = Literal["relevance", "newest"]
RELEVANCE: Order = "relevance"
NEWEST: Order = "newest"
_VISUAL_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="visual-side")
NO_RERANKER = "rerank unavailable: no reranker model is loaded (see VLSEARCH_RERANK_MODEL); hits keep their fused order"


@dataclass
class SearchResult:
    hits: list[Hit]
    keyword_text: str
    ocr_text: str
    alpha: float
    fusion: Fusion
    notices: list[str] = field(default_factory=list)
    reranked: int = 0
    rerank_partial: bool = False
    dropped_below_cutoff: int = 0
    cutoff_not_applied: str = ""  # why a requested relevance cutoff could not filter the hits ("" = applied or none)
    total: int | None = None  # records the query matches (filters applied), where the engine can count them
    order: Order = RELEVANCE  # NEWEST for a filter-only browse
    query_vector: Vector | None = None  # the query's embedding, kept with a vote so similar queries learn from it
    learned_votes: int = 0  # votes (one per person and asset) on the same or similar queries that moved hits


class Searcher:
    def __init__(
        self,
        store: Store,
        ocr: OcrEngine,
        embedder: Embedder | None,
        rerank: RerankStage | None = None,
        *,
        video_window_s: float = VIDEO_WINDOW_S,
        frame_interval_s: float = FRAME_INTERVAL_S,
        max_query_chars: int = MAX_QUERY_CHARS,
        max_results: int = MAX_LIMIT,
        query_size: QuerySize = QUERY_SIZE,
        visual_weight: float = VISUAL_WEIGHT,
        slots: QuerySlots | None = None,
        learned: LearnedBoost | None = None,
    ) -> None:
        """`frame_interval_s` is the time between sampled frames (1 / VLSEARCH_VIDEO_FPS): a window's end.
        `max_query_chars` and `max_results` are VLSEARCH_MAX_QUERY_CHARS and VLSEARCH_MAX_RESULTS; a query image
        is scaled down to `query_size` before OCR and the models, and what looks the same as it joins the fusion
        with `visual_weight` (VLSEARCH_VISUAL_WEIGHT; 0 = off); model-heavy searches take one of `slots`
        (default: the process's, VLSEARCH_MAX_CONCURRENT_QUERIES); `learned` moves hits people voted on for the same
        or similar queries (VLSEARCH_FEEDBACK_WEIGHT; None = off)."""
        self.store = store
        self.ocr = ocr
        self.embedder = embedder
        self.rerank = rerank
        self.video_window_s = video_window_s
        self.frame_interval_s = frame_interval_s
        self.max_query_chars = max_query_chars
        self.max_results = min(max_results, MAX_LIMIT)
        self.query_size = query_size
        self.visual_weight = visual_weight
        self.slots = slots or process_query_slots()
        self.learned = learned

    def search(
        self,
        *,
        text: str | None = None,
        image: Image.Image | None = None,
        alpha: float = 0.5,
        limit: int = 10,
        where: str | None = None,
        fusion: Fusion = Fusion.RELATIVE,
        rerank: bool | None = None,
        min_relevance: float | None = None,
        offset: int = 0,
        image_sha: str = "",
        learned: bool = True,
    ) -> SearchResult:
        """Hits offset .. offset + limit of one ranking (relevance; newest first when only a filter is given).

        `image_sha`: the query image file's sha256, by which votes on the same image are found; `learned`: False
        leaves out what was learned from votes for this search."""
        if not 0.0 <= alpha <= 1.0:
            raise BadInput("alpha", f"{alpha} is outside [0, 1] (0 = keyword only, 1 = vector only)")
        check_result_limit(limit, self.max_results)
        check_query_text(text, self.max_query_chars)
        if offset < 0:
            raise BadInput("offset", f"{offset}: give 0 or more hits to skip")
        if min_relevance is not None and not 0.0 <= min_relevance <= 1.0:
            raise BadInput("min relevance", f"{min_relevance} is not a probability in [0, 1]")
        if not (text or "").strip() and image is None:
            if not (where or "").strip():
                raise BadInput("query", NO_QUERY)
            result = self._browse(where or "", alpha=alpha, fusion=fusion, limit=limit, offset=offset)
            if min_relevance is not None:
                result.cutoff_not_applied = (
                    "a filter alone lists its matches newest first: there is no relevance to cut"
                )
                result.notices.append(result.cutoff_not_applied)
            return result
        if offset + limit > MAX_LIMIT:
            raise BadInput("offset", f"{offset} + limit {limit} reaches past the {MAX_LIMIT} best hits a query ranks")
        if image is not None:
            image = self.query_size.apply(image)
        if rerank is None:
            # Default: rerank on a GPU, or when a cutoff asks for probabilities.
            rerank = self.rerank is not None and (self.rerank.reranker.accelerated or min_relevance is not None)
        heavy = image is not None or self.embedder is not None or (rerank and self.rerank is not None)
        with self.slots.hold() if heavy else nullcontext():
            return self._search(
                text=text,
                image=image,
                alpha=alpha,
                limit=limit,
                where=where,
                fusion=fusion,
                rerank=rerank,
                min_relevance=min_relevance,
                offset=offset,
                image_sha=image_sha,
                learned=learned,
            )

    def _browse(self, where: str, *, alpha: float, fusion: Fusion, limit: int, offset: int) -> SearchResult:
        """Filters alone: what they match, newest first (nothing to rank by relevance)."""
        records = self.store.newest(where=where, limit=limit, offset=offset)
        return SearchResult(
            hits=[Hit(record=record) for record in records],
            keyword_text="",
            ocr_text="",
            alpha=alpha,
            fusion=fusion,
            notices=["no query: showing what the filter matches, newest first"],
            total=self.store.count(where),
            order=NEWEST,
        )

    def _search(
        self,
        *,
        text: str | None,
        image: Image.Image | None,
        alpha: float,
        limit: int,
        where: str | None,
        fusion: Fusion,
        rerank: bool,
        min_relevance: float | None,
        offset: int,
        image_sha: str,
        learned: bool,
    ) -> SearchResult:
        # What looks the same is found on a side thread while OCR reads the image: both take about as long.
        same = (
            _VISUAL_SIDE.submit(looks_same, self.store, image, where=where)
            if image is not None and self.visual_weight > 0
            else None
        )
        plan = plan_query(text=text, image=image, ocr=self.ocr, embedder=self.embedder)
        notices = list(plan.notices)
        effective_alpha = alpha
        if plan.vector is None:
            # Reduced mode: hybrid degrades to BM25 instead of pretending to have vectors.
            effective_alpha = 0.0
            notices.append("OCR + keyword mode: no embedding model, so results are ranked by BM25 only")
        elif not plan.keyword_text:
            effective_alpha = 1.0
        stage = self.rerank if rerank else None
        if rerank and stage is None:
            notices.append(NO_RERANKER)
        hits = self.store.hybrid(
            text=plan.keyword_text,
            vector=plan.vector,
            alpha=effective_alpha,
            limit=min(MAX_LIMIT, max((offset + limit) * CANDIDATES_PER_HIT, stage.depth if stage else 0)),
            where=where,
            fusion=fusion,
        )
        if same is not None:
            hits = add_visual(hits, same.result(), weight=self.visual_weight, fusion=fusion)
        if (text or "").strip():
            hits = add_proximity(hits, text or "")
        matched = 0
        if learned and self.learned is not None:
            query = LearnedQuery(
                text=text or "",
                image_sha=image_sha if image is not None else "",
                vector=plan.vector,
                embed_model=self.embedder.name if self.embedder is not None else "",
            )
            hits, matched = self.learned.apply(hits, query)
        result = SearchResult(
            hits=[],
            keyword_text=plan.keyword_text,
            ocr_text=plan.ocr_text,
            alpha=effective_alpha,
            fusion=fusion,
            notices=notices,
            query_vector=plan.vector,
            learned_votes=matched,
        )
        if stage is not None:
            outcome = stage.apply(
                Query(text=(text or "").strip() or None, image=image), hits, min_relevance=min_relevance
            )
            result.reranked = outcome.scored
            result.rerank_partial = outcome.partial
            result.dropped_below_cutoff = outcome.dropped
            if outcome.error:
                notices.append(f"rerank stopped: {outcome.error}; the rest keep their fused order")
            elif outcome.partial:
                notices.append(
                    f"partially reranked: {outcome.scored} of {min(len(hits), stage.depth)} hits scored within the "
                    f"{stage.budget_s:g} s budget; the rest keep their fused order"
                )
            hits = outcome.hits
        elif min_relevance is not None:
            result.cutoff_not_applied = (
                "no reranker is loaded" if self.rerank is None else "rerank is off for this search"
            ) + ": the relevance cutoff needs the reranker's probabilities, so it was not applied"
            notices.append(result.cutoff_not_applied)
        # Grouped after rerank, so a video's window is placed by the final scores of its frames.
        grouped = group_video_hits(hits, window_s=self.video_window_s, frame_interval_s=self.frame_interval_s)
        result.hits = grouped[offset : offset + limit]
        if plan.vector is None and not result.dropped_below_cutoff:
            # Keyword only: the matches are the records holding a query term (with a vector, every record is near).
            result.total = self.store.keyword_count(plan.keyword_text, where=where)
        return result
