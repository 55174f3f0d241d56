"""The service's own routes: feedback votes, collection stats, liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission, User
from pipeline.api.context import ApiContext, context
from pipeline.api.errors import error_body, http_error
from pipeline.api.inputs import RequestModel
from pipeline.api.security import allowed
from pipeline.errors import VlsearchError
from pipeline.models import Query

router = APIRouter(tags=["service"])


class FeedbackRequest(RequestModel):
    query: str = Field(min_length=1, max_length=2000, description="the query text the hit was found for")
    asset_id: str
    vote: Literal[1, -1] = Field(description="1 relevant, -1 not relevant")
    query_image_sha256: str = Field("", pattern=r"^([0-9a-f]{64})?$", description="for an image query: its SHA-256")


class Recorded(BaseModel):
    recorded: bool


@router.post("/v1/feedback", response_model=Recorded, summary="A relevance vote on one hit")
def feedback(
    request: FeedbackRequest, user: User = Depends(allowed(Permission.SEARCH)), ctx: ApiContext = Depends(context)
) -> Recorded:
    services = ctx.services
    if not services.store.get([request.asset_id]):
        raise http_error(404, "not_found", f"no asset with id {request.asset_id!r}", "asset_id")
    embedder = services.models.embedder
    vector = None
    if embedder is not None and not request.query_image_sha256:
        # The query's vector lets the vote count for similar wordings too (an image query's image is not sent).
        ctx.model_calls.of(user.name).spend(1)
        vector = embedder.embed_queries([Query(text=request.query)])[0]
    ctx.feedback.record(
        collection=ctx.settings.collection,
        query_text=request.query,
        query_image_sha=request.query_image_sha256,
        asset_id=request.asset_id,
        vote=request.vote,
        voter=user.name,
        query_vector=vector,
        embed_model=embedder.name if vector is not None and embedder is not None else "",
    )
    ctx.audit.record(
        Action.FEEDBACK, user=user, query=logged_query(request.query), asset=request.asset_id, vote=request.vote
    )
    return Recorded(recorded=True)


@router.get("/v1/stats", summary="How many assets, and which models produced them (as `stats --json`)")
def stats(user: User = Depends(allowed(Permission.SEARCH)), ctx: ApiContext = Depends(context)) -> dict[str, Any]:
    return ctx.services.stats()


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store answers; which models are loaded or that it runs in OCR + keyword mode")
def readyz(ctx: ApiContext = Depends(context)) -> Response:
    services = ctx.services
    try:
        assets = services.store.count()
    except (VlsearchError, OSError, RuntimeError) as error:
        body = error_body("store_unavailable", f"the {services.store.engine} store does not answer: {error}")
        return JSONResponse(body, status_code=503)
    models = services.models
    return JSONResponse(
        {
            "status": "ready",
            "store": services.store.engine,
            "collection": ctx.settings.collection,
            "assets": assets,
            "mode": models.mode,
            "models": {
                role: getattr(getattr(models, role), "name", None) for role in ("embedder", "captioner", "reranker")
            },
            "notices": models.notices,
        }
    )


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(ctx: ApiContext = Depends(context)) -> Response:
    return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)
