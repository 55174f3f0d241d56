"""POST /v1/search and POST /v1/lookup: hybrid search (or a filter-only browse, newest first), and the support
desk's screenshot-to-ticket lookup."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pipeline.access.audit import Action, logged_query
from pipeline.access.auth import Permission, User
from pipeline.access.limits import search_model_calls
from pipeline.api.context import ApiContext, context
from pipeline.api.inputs import ImageBytes, Parsed, RequestModel, body_docs, decoded, parsed_body
from pipeline.api.security import allowed
from pipeline.display.shapes import HitShape
from pipeline.errors import BadInput
from pipeline.search.lookup import TicketMatch, lookup_tickets, relevance_threshold
from pipeline.store.base import Fusion

router = APIRouter(prefix="/v1", tags=["search"])
IMAGE_HELP = "the query image: a file part (multipart) or base64 (JSON)"


class SearchRequest(RequestModel):
    text: str | None = Field(None, description="what to look for")
    alpha: float | None = Field(None, ge=0.0, le=1.0, description="0 = keyword only, 1 = vector only")
    fusion: Literal["relative", "ranked"] | None = None
    limit: int = Field(10, ge=1, description="number of hits")
    offset: int = Field(0, ge=0, description="hits to skip: the next page starts at offset + limit")
    where: str | None = Field(
        None, description="filter, e.g. category = 'billing'; alone (no text, no image) it browses newest first"
    )
    rerank: bool | None = Field(None, description="rerank the top hits with the model (default: on with a GPU)")
    min_relevance: float | None = Field(None, ge=0.0, le=1.0, description="with rerank: drop hits below this")
    allow_unreranked: bool = Field(
        False, description="when min_relevance cannot be applied (no reranker), return every hit instead of a 422"
    )
    learned: bool = Field(
        True,
        description="move hits people voted on for the same or similar queries (POST /v1/feedback, the dashboard); "
        "false leaves the votes out of this search (VLSEARCH_FEEDBACK_WEIGHT=0 turns them off everywhere)",
    )


class SearchResponse(BaseModel):
    mode: str = Field(description="full, partial, or ocr+keyword when no model weights are loaded")
    hits: list[HitShape] = Field(description="best first, each exactly as `search --json` prints it")
    total: int | None = Field(
        description="records the query matches with the filter applied, where the engine can count them; else null"
    )
    order: Literal["relevance", "newest"] = Field(description="newest: a filter-only browse, by ingestion time")
    notices: list[str]
    ocr_text: str = Field(description="text read from the query image")
    alpha: float
    fusion: str
    reranked: int
    dropped_below_cutoff: int


class LookupRequest(RequestModel):
    note: str = Field("", description="the agent's note or the customer's words, searched with the screenshot")
    limit: int = Field(5, ge=1, le=50)


class Evidence(BaseModel):
    codes: list[str]
    shared_terms: list[str]
    conflicting_code: str | None
    looks_same: int | None = Field(description="keypoints the screenshot and the ticket's image agree on, if any")


class TicketCandidate(BaseModel):
    ticket_id: str
    resolution: str
    confident: bool
    reason: str = Field(description="why it matched, or why it is not a confident match")
    evidence: Evidence
    hit: HitShape

    @classmethod
    def of(cls, match: TicketMatch, query_text: str) -> TicketCandidate:
        evidence = match.evidence
        return cls(
            ticket_id=match.ticket_id,
            resolution=match.resolution,
            confident=match.confident,
            reason=match.reason,
            evidence=Evidence(
                codes=evidence.codes,
                shared_terms=evidence.shared_terms,
                conflicting_code=evidence.conflicting_code,
                looks_same=evidence.looks_same,
            ),
            hit=HitShape.of_hit(match.hit, query_text),
        )


class LookupResponse(BaseModel):
    ticket: TicketCandidate | None = Field(description="the confident match, or null: no confident match")
    candidates: list[TicketCandidate]
    ocr_text: str
    query_codes: list[str] = Field(description="error codes read from the screenshot and the note")
    rule: str = Field(description="keyword, or rerank when the reranker judged the candidates")
    threshold: float
    notices: list[str]
    mode: str


@router.post(
    "/search",
    response_model=SearchResponse,
    openapi_extra=body_docs(SearchRequest, "image", IMAGE_HELP),
    summary="Hybrid search by text, image or both",
)
async def search(
    parsed: Parsed[SearchRequest] = Depends(parsed_body(SearchRequest, "image")),
    user: User = Depends(allowed(Permission.SEARCH)),
    ctx: ApiContext = Depends(context),
) -> SearchResponse:
    return await run_in_threadpool(_search, ctx, user, parsed.body, parsed.image)


def _search(ctx: ApiContext, user: User, request: SearchRequest, image: ImageBytes | None) -> SearchResponse:
    services, settings = ctx.services, ctx.settings
    query_image, image_sha = None, ""
    if image is not None:
        read = decoded(
            image,
            max_bytes=settings.max_file_bytes,
            max_pixels=settings.max_image_pixels,
            query_size=services.query_size(),
        )
        query_image, image_sha = read.image, read.sha256
    rerank = services.rerank_by_default() if request.rerank is None else request.rerank
    calls = search_model_calls(
        embedder=services.models.embedder is not None, image=query_image is not None, rerank=rerank
    )
    if calls:
        ctx.model_calls.of(user.name).spend(calls)
    try:
        result = services.searcher().search(
            text=request.text,
            image=query_image,
            alpha=settings.alpha if request.alpha is None else request.alpha,
            limit=request.limit,
            where=request.where,
            fusion=Fusion(request.fusion or settings.fusion),
            rerank=rerank,
            min_relevance=settings.min_relevance if request.min_relevance is None else request.min_relevance,
            offset=request.offset,
            image_sha=image_sha,
            learned=request.learned,
        )
    except BadInput as error:
        if error.source.startswith("filter"):  # the parser names the expression; the caller knows it as `where`
            raise BadInput("where", str(error)) from error
        raise
    if result.cutoff_not_applied and request.min_relevance is not None and not request.allow_unreranked:
        raise BadInput("min_relevance", f"{result.cutoff_not_applied}; set allow_unreranked to get every hit")
    ctx.audit.record(
        Action.SEARCH,
        user=user,
        query=logged_query(request.text),
        image=image is not None,
        where=request.where or "",
        results=len(result.hits),
        via="api",
    )
    return SearchResponse(
        mode=services.models.mode,
        hits=[HitShape.of_hit(hit, result.keyword_text) for hit in result.hits],
        total=result.total,
        order=result.order,
        notices=result.notices,
        ocr_text=result.ocr_text,
        alpha=result.alpha,
        fusion=str(result.fusion),
        reranked=result.reranked,
        dropped_below_cutoff=result.dropped_below_cutoff,
    )


@router.post(
    "/lookup",
    response_model=LookupResponse,
    openapi_extra=body_docs(LookupRequest, "image", "the customer's screenshot: a file part or base64"),
    summary="Past tickets matching a customer's screenshot",
)
async def lookup(
    parsed: Parsed[LookupRequest] = Depends(parsed_body(LookupRequest, "image")),
    user: User = Depends(allowed(Permission.SEARCH)),
    ctx: ApiContext = Depends(context),
) -> LookupResponse:
    return await run_in_threadpool(_lookup, ctx, user, parsed.body, parsed.image)


def _lookup(ctx: ApiContext, user: User, request: LookupRequest, image: ImageBytes | None) -> LookupResponse:
    if image is None:
        raise BadInput("image", "a lookup needs the customer's screenshot")
    services, settings = ctx.services, ctx.settings
    screenshot = decoded(
        image, max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels, query_size=services.query_size()
    )
    rerank = services.rerank_by_default()
    ctx.model_calls.of(user.name).spend(search_model_calls(embedder=True, image=True, rerank=rerank))
    found = lookup_tickets(
        services.searcher(),
        image=screenshot.image,
        note=request.note,
        alpha=settings.alpha,
        rerank=rerank,
        min_probability=relevance_threshold(settings.min_relevance),
        limit=request.limit,
    )
    ctx.audit.record(
        Action.SEARCH,
        user=user,
        lookup=True,
        query=logged_query(request.note),
        results=len(found.matches),
        ticket=found.best.ticket_id if found.best else "",
        via="api",
    )
    return LookupResponse(
        ticket=TicketCandidate.of(found.best, found.query_text) if found.best else None,
        candidates=[TicketCandidate.of(match, found.query_text) for match in found.matches],
        ocr_text=found.ocr_text,
        query_codes=found.query_codes,
        rule=found.rule,
        threshold=found.threshold,
        notices=found.notices,
        mode=services.models.mode,
    )
