"""The upload pipeline's check (POST /v1/moderation/check) and the review queue (list, claim, decide), with the
same lease and state rules as `moderate claim | decide` and the app's desk."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pipeline.access.auth import Permission, User
from pipeline.api.context import ApiContext, context
from pipeline.api.errors import http_error
from pipeline.api.inputs import ImageBytes, Parsed, RequestModel, body_docs, decoded, named_by_type, parsed_body
from pipeline.api.security import allowed
from pipeline.errors import BadInput
from pipeline.ingest.uploads import UPLOADS_FOLDER, save_upload
from pipeline.moderation.desk import ReviewDesk
from pipeline.moderation.queue import State
from pipeline.moderation.scan import ScanResult
from pipeline.moderation.shapes import QueueItemShape

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])


class CheckRequest(RequestModel):
    name: str = Field("upload", description="the upload's name on the platform (kept with a queued item)")


class ModerationVerdict(BaseModel):
    status: Literal["clean", "queued"]
    matches: list[dict[str, Any]] = Field(description="the rules that fired and the references they matched")
    item_id: int | None = Field(description="the queue item to review, when queued")

    @classmethod
    def of(cls, result: ScanResult) -> ModerationVerdict:
        if result.error:
            raise BadInput(result.source, result.error)
        return cls(
            status="queued" if result.queued else "clean",
            matches=[match.to_json() for match in result.matches],
            item_id=result.queued.item_id if result.queued else None,
        )


class DecisionRequest(RequestModel):
    state: Literal["approved", "removed", "escalated"]
    note: str = Field("", max_length=2000, description="why (kept in the audit log)")


@router.post(
    "/check",
    response_model=ModerationVerdict,
    openapi_extra=body_docs(CheckRequest, "file", "the uploaded image: a file part or base64"),
    summary="Check one upload against known content and the rules; queue it for review when it matches",
)
async def check(
    parsed: Parsed[CheckRequest] = Depends(parsed_body(CheckRequest, "file")),
    user: User = Depends(allowed(Permission.INGEST)),
    ctx: ApiContext = Depends(context),
) -> ModerationVerdict:
    return await run_in_threadpool(_check, ctx, parsed.body, parsed.image)


def _check(ctx: ApiContext, request: CheckRequest, upload: ImageBytes | None) -> ModerationVerdict:
    if upload is None:
        raise BadInput("file", "send the uploaded image")
    settings = ctx.settings
    image = decoded(upload, max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels)
    name = named_by_type(upload.name if upload.name != "file" else request.name, image)

    def keep() -> str:  # only an upload that goes to review is written to disk
        return save_upload(name, upload.data, settings.data_dir / UPLOADS_FOLDER, ctx.limits()).uri

    return ModerationVerdict.of(ctx.moderation.scanner().scan_image(image, keep, name))


@router.get("/items", response_model=list[QueueItemShape], summary="Queue items, oldest first")
def items(
    state: Literal["pending", "approved", "removed", "escalated"] | None = Query("pending"),
    category: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    user: User = Depends(allowed(Permission.MODERATE)),
    ctx: ApiContext = Depends(context),
) -> list[QueueItemShape]:
    found = ctx.moderation.queue.items(state=state, category=category, limit=limit)
    return [QueueItemShape.of(item) for item in found]


@router.post("/items/{item_id}/claim", response_model=QueueItemShape, summary="Claim (or renew) the lease on an item")
def claim(
    item_id: int, user: User = Depends(allowed(Permission.MODERATE)), ctx: ApiContext = Depends(context)
) -> QueueItemShape:
    _known(ctx, item_id)
    return QueueItemShape.of(_desk(ctx, user).claim(item_id))


@router.post(
    "/items/{item_id}/decision",
    response_model=QueueItemShape,
    summary="Decide an item (claiming it when free); removed deletes the content (destructive: audited)",
)
def decide(
    item_id: int,
    request: DecisionRequest,
    user: User = Depends(allowed(Permission.MODERATE)),
    ctx: ApiContext = Depends(context),
) -> QueueItemShape:
    _known(ctx, item_id)
    decision = _desk(ctx, user).decide(item_id, State(request.state), request.note)
    return QueueItemShape.of(decision.item)


def _desk(ctx: ApiContext, user: User) -> ReviewDesk:
    return ReviewDesk(ctx.moderation.queue, ctx.audit, user, user.name, ctx.remover())


def _known(ctx: ApiContext, item_id: int) -> None:
    try:
        ctx.moderation.queue.get(item_id)
    except BadInput as error:
        raise http_error(404, "not_found", str(error), "item_id") from error
