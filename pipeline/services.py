"""Wiring: the one place that builds real collaborators from settings (CLI and app share it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.access.limits import process_query_slots
from pipeline.config import Settings
from pipeline.images import ImageLimits, QuerySize
from pipeline.ingest.fetch import UrlPolicy
from pipeline.ingest.ingestor import Ingestor, MediaPolicy
from pipeline.models import Models, load_models
from pipeline.ocr import OcrEngine, RapidOcrEngine, ocr_device, usable_cores
from pipeline.private import keep_data_private
from pipeline.search.feedback import FEEDBACK_FILE, FeedbackLog
from pipeline.search.learned import LearnedBoost, LoggedVotes, VoteSource
from pipeline.search.rerank import RerankCache, RerankStage
from pipeline.search.searcher import Searcher
from pipeline.store import Store, build_store


@dataclass
class Services:
    settings: Settings
    store: Store
    ocr: OcrEngine
    models: Models
    rerank_cache: RerankCache = field(default_factory=RerankCache)
    # Ingest's pool of OCR workers (queries use `ocr`, one session on every core, for latency); None: `ocr`.
    ingest_ocr: RapidOcrEngine | None = None
    _feedback: FeedbackLog | None = field(default=None, repr=False)
    _learned_votes: LoggedVotes | None = field(default=None, repr=False)

    def close(self) -> None:
        """Release the store's files and connections (the CLI, the app and the server call this when done)."""
        self.store.close()

    def stats(self) -> dict[str, Any]:
        """What `stats --json` and GET /v1/stats show: the store's figures, the search mode and the data dir."""
        return {**self.store.stats().to_json(), "mode": self.models.mode, "data_dir": str(self.settings.data_dir)}

    def ingestor(self) -> Ingestor:
        limits = ImageLimits(
            max_bytes=self.settings.max_file_bytes,
            max_pixels=self.settings.max_image_pixels,
            thumbnail_px=self.settings.thumbnail_px,
        )
        return Ingestor(
            self.store,
            self.ingest_ocr or self.ocr,
            self.models.embedder,
            self.models.captioner,
            limits,
            batch_size=self.settings.ingest_batch_size,
            url_policy=UrlPolicy.from_settings(self.settings),
            media=MediaPolicy.from_settings(self.settings),
            ocr_workers=self.ingest_ocr.workers if self.ingest_ocr else 1,
        )

    def rerank_by_default(self) -> bool:
        """VLSEARCH_RERANK when set; otherwise rerank only where the reranker runs on a GPU."""
        reranker = self.models.reranker
        if reranker is None:
            return False
        return reranker.accelerated if self.settings.rerank is None else self.settings.rerank

    def feedback_log(self) -> FeedbackLog:
        """The votes of every collection (data_dir/feedback.sqlite); read and write them with this collection's name."""
        if self._feedback is None:
            self._feedback = FeedbackLog(self.settings.data_dir / FEEDBACK_FILE)
        return self._feedback

    def learned_votes(self) -> VoteSource:
        """This collection's votes, which search learns from (never another collection's)."""
        if self._learned_votes is None:
            self._learned_votes = LoggedVotes(self.feedback_log(), self.settings.collection)
        return self._learned_votes

    def searcher(self, votes: VoteSource | None = None) -> Searcher:
        """The searcher of this collection; it learns from `votes` (default: the collection's feedback log)."""
        stage = None
        if self.models.reranker is not None:
            stage = RerankStage(
                self.models.reranker,
                depth=self.settings.rerank_depth,
                batch_size=self.settings.rerank_batch_size,
                budget_s=self.settings.rerank_budget_s,
                max_file_bytes=self.settings.max_file_bytes,
                cache=self.rerank_cache,
            )
        return Searcher(
            self.store,
            self.ocr,
            self.models.embedder,
            stage,
            video_window_s=self.settings.video_window_s,
            frame_interval_s=1.0 / self.settings.video_fps,
            max_query_chars=self.settings.max_query_chars,
            max_results=self.settings.max_results,
            query_size=self.query_size(),
            visual_weight=self.settings.visual_weight,
            slots=process_query_slots(self.settings.max_concurrent_queries),
            learned=LearnedBoost(
                votes or self.learned_votes(),
                weight=self.settings.feedback_weight,
                similarity=self.settings.feedback_similarity,
            ),
        )

    def query_size(self) -> QuerySize:
        """What a query image is scaled down to before OCR and the models (VLSEARCH_QUERY_MAX_PIXELS, _SIDE)."""
        return QuerySize(self.settings.query_max_pixels, self.settings.query_max_side)


def build_services(settings: Settings) -> Services:
    keep_data_private(settings.data_dir)  # before anything is opened: a data dir from an earlier version is tightened
    device = ocr_device(settings.ocr_device)
    workers = settings.ocr_workers or usable_cores()
    return Services(
        settings=settings,
        store=build_store(settings),
        ocr=RapidOcrEngine(workers=1, detector_side=settings.ocr_detector_side, device=device),
        models=load_models(settings),
        ingest_ocr=RapidOcrEngine(workers=workers, detector_side=settings.ocr_detector_side, device=device),
    )
