"""Weaviate's inference-module protocol, so a Weaviate server can use vlsearch's Qwen3-VL embedder as the
`multi2vec-clip` module's inference service (CLIP_INFERENCE_API, or a collection's `inferenceUrl`).

The contract is that of weaviate/multi2vec-clip-inference (`app.py`) as Weaviate's client
(modules/multi2vec-clip/clients/*.go) uses it:
- `GET /.well-known/ready` (and `/live`): 204. Weaviate waits for `ready` when it starts; it stays 204 without
  weights, so Weaviate starts and each vectorization then fails with the reason instead of a bare "not ready".
- `POST /vectorize` `{"texts": [...], "images": [base64, ...]}` answers `{"textVectors": [...], "imageVectors":
  [...]}`, one vector per input in order; Weaviate averages them by the collection's field weights.
- `GET /meta`: which model and dimension (Weaviate shows it under its own `/v1/meta`).
- A failure answers `{"error": "<reason>"}`: Weaviate reads `error` as a string and reports "fail with status N:
  <reason>"; an object there (the API's usual error shape) would hide the reason behind a JSON decoding error, so
  these routes put the usual `code` and `field` beside it instead.

Texts versus images. Weaviate sends the same call for an object it imports (its text and image properties) and
for a query (`nearText` sends texts, `nearImage` an image), and cannot say which. Qwen3-VL-Embedding encodes
documents and queries with different instructions, so each kind of input gets the role it mostly has:
- images are documents (`embed_documents`): what vlsearch stores for an ingested image, so a collection filled
  through Weaviate holds the same vectors as one vlsearch ingests itself;
- texts are queries (`embed_queries`, the retrieval instruction): `nearText` is what finds images by words, as
  vlsearch's own text search does. A text property vectorized at import is embedded as a query too, which suits
  short labels but not long passages, so the collection in weaviate/README.md vectorizes its image only.
A `nearImage` query is therefore embedded as a document: image-to-image similarity, not vlsearch's image query.

Access. Weaviate's module sends no Authorization header, so these routes take no token: anyone who can reach
them can spend the embedder. Bind the service to a private network that only Weaviate reaches
(docker-compose.vectorizer.yml publishes no port for it). What limits remain: each client address gets
VLSEARCH_API_REQUESTS_PER_MINUTE calls (Weaviate makes one per imported object, so size it to the import rate),
at most MAX_INPUTS_PER_CALL inputs per call, texts up to VLSEARCH_MAX_QUERY_CHARS, images within the file-size and
pixel limits, and the body within VLSEARCH_API_MAX_BODY_BYTES.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from pipeline.access.auth import client_address
from pipeline.api.context import ApiContext, context
from pipeline.api.errors import STATUS_OF
from pipeline.api.inputs import ImageBytes, RequestModel, decoded
from pipeline.errors import BadInput, LimitReached, ModelUnavailable, VlsearchError
from pipeline.models import Embedder, Query

router = APIRouter(tags=["weaviate vectorizer"])
MAX_INPUTS_PER_CALL = 64  # texts + images; Weaviate sends one object's fields or one query's concepts per call


class VectorizeRequest(RequestModel):
    # Weaviate's Go client sends a nil list as null.
    texts: list[str] | None = Field(None, description="embedded as queries (the retrieval instruction)")
    images: list[str] | None = Field(None, description="base64 images (a data: URL works too), embedded as documents")


class VectorizeResponse(BaseModel):
    """One vector per input, in order; camelCase as Weaviate reads it."""

    textVectors: list[list[float]]
    imageVectors: list[list[float]]


class VectorizerMeta(BaseModel):
    model: str | None = Field(description="the embedding model, or null without weights")
    dimension: int | None = Field(description="length of every vector")
    texts: str = "query"
    images: str = "document"
    reason: str | None = Field(None, description="why there is no model")


REQUEST_DOCS = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": VectorizeRequest.model_json_schema()}},
    }
}


@router.get("/.well-known/live", status_code=204, response_class=Response, summary="The process is up (Weaviate)")
@router.get("/.well-known/ready", status_code=204, response_class=Response, summary="Weaviate may send vectorizations")
def live_and_ready() -> Response:
    return Response(status_code=204)


@router.get("/meta", response_model=VectorizerMeta, summary="The vectorizer's model and dimension (Weaviate)")
def meta(ctx: ApiContext = Depends(context)) -> VectorizerMeta:
    embedder = ctx.services.models.embedder
    if embedder is None:
        return VectorizerMeta(model=None, dimension=None, reason=_no_embedder(ctx))
    return VectorizerMeta(model=embedder.name, dimension=embedder.dim)


@router.post(
    "/vectorize",
    response_model=VectorizeResponse,
    openapi_extra=REQUEST_DOCS,
    summary="Vectors for Weaviate's multi2vec-clip module: texts as queries, images as documents",
    responses={
        422: {"description": "bad input: `{error, code, field}`"},
        429: {"description": "this client address is over VLSEARCH_API_REQUESTS_PER_MINUTE"},
        503: {"description": "no embedder weights; `error` says why"},
    },
)
async def vectorize(request: Request, ctx: ApiContext = Depends(context)) -> Response:
    try:
        address = client_address(
            request.headers, request.client.host if request.client else None, ctx.settings.trusted_proxies
        )
        ctx.requests.of(f"address {address}").spend()
        body = _parsed(await request.body())
        texts, images = _checked(body, ctx)
        embedder = ctx.services.models.embedder
        if embedder is None:
            raise ModelUnavailable(ctx.settings.embed_model, _no_embedder(ctx))
        vectors = await run_in_threadpool(_vectors, ctx, embedder, texts, images)
    except VlsearchError as error:
        return _weaviate_error(error)
    return JSONResponse(vectors.model_dump())


def _parsed(raw: bytes) -> VectorizeRequest:
    try:
        fields: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadInput("body", f"not valid JSON: {error}") from error
    try:
        return VectorizeRequest.model_validate(fields)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        raise BadInput(where, problem["msg"]) from error


def _checked(body: VectorizeRequest, ctx: ApiContext) -> tuple[list[str], list[str]]:
    texts, images = body.texts or [], body.images or []
    if len(texts) + len(images) > MAX_INPUTS_PER_CALL:
        raise BadInput(
            "body",
            f"{len(texts)} texts and {len(images)} images: at most {MAX_INPUTS_PER_CALL} inputs per call",
        )
    limit = ctx.settings.max_query_chars
    for index, text in enumerate(texts):
        if not text.strip():
            raise BadInput(f"texts.{index}", "empty text")
        if len(text) > limit:
            raise BadInput(f"texts.{index}", f"{len(text):,} characters, over the {limit:,} (VLSEARCH_MAX_QUERY_CHARS)")
    return texts, images


def _vectors(ctx: ApiContext, embedder: Embedder, texts: list[str], images: list[str]) -> VectorizeResponse:
    settings = ctx.settings
    pictures = [
        decoded(_image_bytes(index, encoded), max_bytes=settings.max_file_bytes, max_pixels=settings.max_image_pixels)
        for index, encoded in enumerate(images)
    ]
    text_vectors: list[list[float]] = embedder.embed_queries([Query(text=t) for t in texts]).tolist() if texts else []
    image_vectors: list[list[float]] = (
        embedder.embed_documents([picture.image for picture in pictures]).tolist() if pictures else []
    )
    return VectorizeResponse(textVectors=text_vectors, imageVectors=image_vectors)


def _image_bytes(index: int, encoded: str) -> ImageBytes:
    name = f"images.{index}"
    payload = encoded.split(",", 1)[-1] if encoded.startswith("data:") else encoded
    try:
        return ImageBytes(name, base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError) as error:
        raise BadInput(name, f"not valid base64: {error}") from error


def _no_embedder(ctx: ApiContext) -> str:
    return " ".join(ctx.services.models.notices) or "no embedder weights, so no vectors"


def _weaviate_error(error: VlsearchError) -> JSONResponse:
    """The error as Weaviate reads it (`error`: a string), with the API's `code` and `field` beside it."""
    status, code = next(((status, code) for kind, status, code in STATUS_OF if isinstance(error, kind)), (400, "error"))
    headers = {}
    if isinstance(error, LimitReached):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    field = error.source if isinstance(error, BadInput) else None
    return JSONResponse({"error": str(error), "code": code, "field": field}, status_code=status, headers=headers)
