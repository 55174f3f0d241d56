"""Images uploaded through the app: checked like every other input, and kept durably when ingested.

An ingested upload is written to data_dir/uploads/<sha256><ext>, so the record's uri points
at a real file (full-size view, "find similar", reranking) and the same bytes uploaded twice
are one file and one asset. The name the user gave the file is kept as the metadata field
`file_name` (cards are titled by it, keywords find it); the same bytes uploaded again under
another name keep the name they were first uploaded under.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.errors import BadInput
from pipeline.images import DecodedImage, ImageLimits, QuerySize, decode_image
from pipeline.ingest.sources import Collected, SourceItem
from pipeline.private import make_private_dir
from pipeline.store.base import Store

UPLOADS_FOLDER = "uploads"  # under the data dir
FILE_NAME_FIELD = "file_name"  # metadata: the name an image was uploaded under
UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")
EXTENSION_BY_MIME = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
}


def max_upload_mb(limits: ImageLimits) -> int:
    """The file-size limit in whole megabytes, as Streamlit's uploader wants it (at least 1)."""
    return max(1, limits.max_bytes // (1024 * 1024))


def check_upload(name: str, data: bytes, limits: ImageLimits, query_size: QuerySize | None = None) -> DecodedImage:
    """Type, size and decode checks; BadInput names the file and the reason. A query image (`query_size`) is
    decoded scaled down to it."""
    extension = Path(name).suffix.lower().lstrip(".")
    if extension not in UPLOAD_TYPES:
        shown = f".{extension}" if extension else "no extension"
        raise BadInput(name, f"file type {shown} is not accepted (accepted: {', '.join(UPLOAD_TYPES)})")
    if len(data) > limits.max_bytes:
        raise BadInput(name, f"file is {len(data):,} bytes, over the {limits.max_bytes:,}-byte limit")
    return decode_image(data, name, max_pixels=limits.max_pixels, query_size=query_size)


def save_upload(name: str, data: bytes, directory: Path, limits: ImageLimits) -> SourceItem:
    """Check and keep one upload under its content hash (writing the same bytes again is a no-op), with the name
    it was uploaded under as its `file_name`."""
    image = check_upload(name, data, limits)
    path = directory / f"{image.sha256}{EXTENSION_BY_MIME[image.mime]}"
    if not path.exists():
        make_private_dir(directory)  # uploads are customers' images; the temporary file below is 0600
        # Write then rename, so a crash never leaves a truncated file under a valid name.
        with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".part") as partial:
            partial.write(data)
        os.replace(partial.name, path)
    return SourceItem(uri=str(path.resolve()), origin=name, metadata={FILE_NAME_FIELD: Path(name).name})


def save_uploads(files: Sequence[tuple[str, bytes]], directory: Path, limits: ImageLimits) -> Collected:
    """Keep every good upload; the bad ones become problems with their reasons, as `collect` reports them."""
    collected = Collected()
    for name, data in files:
        try:
            collected.items.append(save_upload(name, data, directory, limits))
        except BadInput as problem:
            collected.problems.append(problem)
    return collected


def keep_first_names(collected: Collected, store: Store) -> dict[str, str]:
    """Uploads already in the collection keep the name they were first uploaded under (a second upload under
    another name would otherwise rename the asset everyone knows by the first); returns, for each of them, the
    uploaded name -> the name the collection knows it by, so the page can say so."""
    stored = {asset.uri: asset for asset in store.lookup(uris=[item.uri for item in collected.items], ids=[])}
    known: dict[str, str] = {}
    for index, item in enumerate(collected.items):
        asset = stored.get(item.uri)
        first_name = asset.metadata.get(FILE_NAME_FIELD) if asset else None
        if first_name:
            collected.items[index] = replace(item, metadata={})
            known[item.origin] = first_name
    return known
