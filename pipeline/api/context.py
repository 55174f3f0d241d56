"""What a request needs, built once when the server starts: the services, moderation, tokens, logs and limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from pipeline.access.audit import AuditLog, open_audit_log
from pipeline.access.limits import API_REQUESTS, ModelCallBudgets
from pipeline.access.tokens import TokenStore, open_tokens
from pipeline.api.metrics import ApiMetrics
from pipeline.config import Settings
from pipeline.images import ImageLimits
from pipeline.models.batching import with_query_batching
from pipeline.moderation.removal import ContentRemover, content_remover
from pipeline.moderation.services import Moderation, build_moderation
from pipeline.search.feedback import FeedbackLog
from pipeline.services import Services, build_services

REQUEST_WINDOW_S = 60.0


@dataclass
class ApiContext:
    services: Services
    moderation: Moderation
    tokens: TokenStore
    audit: AuditLog
    feedback: FeedbackLog
    requests: ModelCallBudgets  # requests per token (or per client address in open mode), per minute
    model_calls: ModelCallBudgets  # the same per-user model-call allowance as the app's
    metrics: ApiMetrics
    open_access: bool  # VLSEARCH_AUTH=off: requests without a token act as the local admin, from loopback only

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def limits(self) -> ImageLimits:
        settings = self.settings
        return ImageLimits(settings.max_file_bytes, settings.max_image_pixels, settings.thumbnail_px)

    def remover(self) -> ContentRemover:
        return content_remover(self.services.store, self.settings)

    def close(self) -> None:
        self.moderation.library.close()
        self.services.close()


def build_context(settings: Settings, metrics: ApiMetrics) -> ApiContext:
    services = build_services(settings)
    # Time the real model calls, then batch concurrent query embeddings in front of them.
    services.models = with_query_batching(metrics.instrument(services.models), settings)
    data_dir = settings.data_dir
    return ApiContext(
        services=services,
        moderation=build_moderation(services),
        tokens=open_tokens(data_dir),
        audit=open_audit_log(data_dir),
        feedback=services.feedback_log(),  # the one the searcher learns from
        requests=ModelCallBudgets(settings.api_requests_per_minute, REQUEST_WINDOW_S, counted=API_REQUESTS),
        model_calls=ModelCallBudgets.from_settings(settings),
        metrics=metrics,
        open_access=settings.auth == "off",
    )


def context(request: Request) -> ApiContext:
    """The app's context (a FastAPI dependency)."""
    found: ApiContext = request.app.state.context
    return found
