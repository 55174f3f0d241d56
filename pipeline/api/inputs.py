"""Request bodies: the same pydantic model from JSON (an image as base64) or from a multipart form (an image as a
file part, the other fields as form fields, `metadata` as a JSON string), and images decoded within the limits."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile

from pipeline.errors import BadInput
from pipeline.images import DecodedImage, QuerySize, decode_image
from pipeline.ingest.uploads import EXTENSION_BY_MIME

Body = TypeVar("Body", bound=BaseModel)
JSON_FIELDS = ("metadata",)  # form fields that carry JSON


class RequestModel(BaseModel):
    """Unknown fields are refused (a typo is an error, not a silently ignored option)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ImageBytes:
    name: str
    data: bytes


@dataclass(frozen=True)
class Parsed(Generic[Body]):
    body: Body
    image: ImageBytes | None


def parsed_body(model: type[Body], image_field: str) -> Callable[[Request], Awaitable[Parsed[Body]]]:
    """A dependency reading `model` from JSON or multipart; the image from `image_field` (base64 or a file part)."""

    async def parse(request: Request) -> Parsed[Body]:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data") or content_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            fields, image = await _form(request, image_field)
        else:
            fields, image = await _json(request, image_field)
        try:
            return Parsed(model.model_validate(fields), image)
        except ValidationError as error:
            raise RequestValidationError(error.errors()) from error

    return parse


async def _json(request: Request, image_field: str) -> tuple[dict[str, Any], ImageBytes | None]:
    raw = await request.body()
    try:
        fields = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadInput("body", f"not valid JSON: {error}") from error
    if not isinstance(fields, dict):
        raise BadInput("body", f"expected a JSON object, got {type(fields).__name__}")
    encoded = fields.pop(image_field, None)
    if encoded is None:
        return fields, None
    if not isinstance(encoded, str):
        raise BadInput(image_field, "expected the image as a base64 string")
    try:
        data = base64.b64decode(encoded.split(",", 1)[-1] if encoded.startswith("data:") else encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadInput(image_field, f"not valid base64: {error}") from error
    return fields, ImageBytes(image_field, data)


async def _form(request: Request, image_field: str) -> tuple[dict[str, Any], ImageBytes | None]:
    form = await request.form()
    fields: dict[str, Any] = {}
    image = None
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key != image_field:
                raise BadInput(key, f"unexpected file part (send the image as {image_field!r})")
            image = ImageBytes(value.filename or image_field, await value.read())
        elif key in JSON_FIELDS:
            try:
                fields[key] = json.loads(value)
            except json.JSONDecodeError as error:
                raise BadInput(key, f"not valid JSON: {error}") from error
        elif key == image_field:
            raise BadInput(key, "send the image as a file part")
        else:
            fields[key] = value
    return fields, image


def decoded(image: ImageBytes, *, max_bytes: int, max_pixels: int, query_size: QuerySize | None = None) -> DecodedImage:
    """The image within the byte and pixel limits (a query image scaled down to `query_size` as it decodes)."""
    if len(image.data) > max_bytes:
        raise BadInput(image.name, f"image is {len(image.data):,} bytes, over the {max_bytes:,}-byte limit")
    return decode_image(image.data, image.name, max_pixels=max_pixels, query_size=query_size)


def named_by_type(name: str, image: DecodedImage) -> str:
    """The upload's name, with its decoded type's extension when it came without one (base64 in JSON has none)."""
    return name if Path(name).suffix else f"{name}{EXTENSION_BY_MIME[image.mime]}"


def body_docs(model: type[BaseModel], image_field: str, image_help: str) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads `parsed_body`: JSON with the image in base64, or multipart
    with the image as a file part (FastAPI cannot infer either, since the route parses the body itself)."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise TypeError(f"{model.__name__}: request models use plain types so their schema inlines")
    properties = schema.get("properties", {})
    as_json = {**schema, "properties": {**properties, image_field: {"type": "string", "description": image_help}}}
    as_form = {
        **schema,
        "properties": {
            **{name: {"type": "string"} if name in JSON_FIELDS else field for name, field in properties.items()},
            image_field: {"type": "string", "format": "binary", "description": image_help},
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": as_json},
                "multipart/form-data": {"schema": as_form},
            },
        }
    }
