"""POST /v1/assets (one upload or URL), GET /v1/assets/{id} and its thumbnail, DELETE /v1/assets/{id}.

An upload is kept in the uploads folder, ingested like any other file, then scanned by moderation: an upload that
matches known content or a rule is queued for review as the app's uploads are."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pipeline.access.audit import Action, Outcome
from pipeline.access.auth import Permission, User
from pipeline.api.context import ApiContext, context
from pipeline.api.errors import http_error
from pipeline.api.inputs import ImageBytes, Parsed, RequestModel, body_docs, decoded, named_by_type, parsed_body
from pipeline.api.routes.moderation import ModerationVerdict
from pipeline.api.security import allowed
from pipeline.display.shapes import RecordShape
from pipeline.errors import BadInput, StoreError
from pipeline.ingest.ingestor import Outcome as IngestOutcome
from pipeline.ingest.ingestor import ingest_collected
from pipeline.ingest.sources import Collected, SourceItem, checked_metadata, checked_url
from pipeline.ingest.uploads import UPLOADS_FOLDER, save_upload
from pipeline.moderation.removal import Removed
from pipeline.records import AssetRecord
from pipeline.records import asset_id as content_id

router = APIRouter(prefix="/v1/assets", tags=["assets"])


class AssetRequest(RequestModel):
    url: str | None = Field(None, description="an http(s) URL to fetch instead of an uploaded file")
    metadata: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="columns stored, shown and filterable with the asset"
    )


class AssetAdded(BaseModel):
    outcome: Literal["added", "updated", "unchanged"]
    id: str
    moderation: ModerationVerdict | None = Field(description="uploads only: clean, or queued for review")


class AssetRemoved(BaseModel):
    id: str
    deleted_files: list[str]
    quarantined_files: list[str]


@router.post(
    "",
    response_model=AssetAdded,
    openapi_extra=body_docs(AssetRequest, "file", "the image (multipart file part, or base64 in JSON)"),
    summary="Add one image (upload or URL)",
)
async def add_asset(
    parsed: Parsed[AssetRequest] = Depends(parsed_body(AssetRequest, "file")),
    user: User = Depends(allowed(Permission.INGEST)),
    ctx: ApiContext = Depends(context),
) -> AssetAdded:
    return await run_in_threadpool(_add, ctx, user, parsed.body, parsed.image)


def _add(ctx: ApiContext, user: User, request: AssetRequest, upload: ImageBytes | None) -> AssetAdded:
    if (upload is None) == (request.url is None):
        raise BadInput("file", "send exactly one of an uploaded file or a url")
    source = upload.name if upload is not None else str(request.url)
    metadata = checked_metadata("metadata", request.metadata)
    settings = ctx.settings
    image = None
    if upload is not None:
        image = decoded(upload, max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels)
        name = named_by_type(upload.name, image)
        item = replace(
            save_upload(name, upload.data, settings.data_dir / UPLOADS_FOLDER, ctx.limits()), metadata=metadata
        )
    else:
        assert request.url is not None
        item = SourceItem(uri=checked_url("url", request.url), origin=request.url, metadata=metadata)
    report = ingest_collected(ctx.services.ingestor(), Collected(items=[item]))
    result = report.results[0]
    ctx.metrics.ingest_outcomes.labels(str(result.outcome)).inc()
    if result.outcome == IngestOutcome.FAILED or result.id is None:
        ctx.audit.record(Action.INGEST, user=user, outcome=Outcome.FAILED, source=source, reason=result.reason)
        raise BadInput(source, result.reason)
    ctx.audit.record(Action.INGEST, user=user, source=source, outcome_of_asset=str(result.outcome), id=result.id)
    verdict = None
    if image is not None:  # an upload: checked by moderation as the app's uploads are
        verdict = ModerationVerdict.of(ctx.moderation.scanner().scan_image(image, item.uri, source))
    return AssetAdded(outcome=str(result.outcome), id=result.id, moderation=verdict)


@router.get("/{asset_id}", response_model=RecordShape, summary="One asset's record (without its vector)")
def get_asset(
    asset_id: str, user: User = Depends(allowed(Permission.SEARCH)), ctx: ApiContext = Depends(context)
) -> RecordShape:
    return RecordShape.of(_record(ctx, asset_id))


@router.get(
    "/{asset_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="The asset's thumbnail (JPEG)",
)
def get_thumbnail(
    asset_id: str, user: User = Depends(allowed(Permission.SEARCH)), ctx: ApiContext = Depends(context)
) -> Response:
    record = _record(ctx, asset_id)
    return Response(record.thumbnail, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.delete("/{asset_id}", response_model=AssetRemoved, summary="Delete an asset (moderator or admin; audited)")
def delete_asset(
    asset_id: str, user: User = Depends(allowed(Permission.DESTRUCTIVE)), ctx: ApiContext = Depends(context)
) -> AssetRemoved:
    record = _record(ctx, asset_id)
    detail: dict[str, Any] = {"id": asset_id, "uri": record.uri, "via": "api"}
    try:
        if record.id == content_id(record.sha256):
            removed = ctx.remover().remove(sha256=record.sha256, uri=record.uri)  # the upload file goes too
        else:  # a PDF page or a video frame: the file holds other parts
            removed = Removed(assets=[asset_id] if ctx.services.store.delete([asset_id]) else [])
    except StoreError as error:
        ctx.audit.record(Action.DESTRUCTIVE, user=user, outcome=Outcome.FAILED, reason=str(error), **detail)
        raise
    ctx.audit.record(Action.DESTRUCTIVE, user=user, **detail, **removed.to_detail())
    return AssetRemoved(id=asset_id, deleted_files=removed.deleted_files, quarantined_files=removed.quarantined_files)


def _record(ctx: ApiContext, id_: str) -> AssetRecord:
    found = ctx.services.store.get([id_])
    if not found:
        raise http_error(404, "not_found", f"no asset with id {id_!r} in {ctx.settings.collection}", "asset_id")
    return found[0]
