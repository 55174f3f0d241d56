"""Safe image decoding: format whitelist, decompression-bomb limit, EXIF orientation, RGB."""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import BadInput

MIME_BY_FORMAT = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # phone cameras write JPEGs that Pillow labels MPO
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
SUPPORTED = "JPEG, PNG, WebP, GIF, BMP, TIFF"


@dataclass(frozen=True)
class ImageLimits:
    """What one image file may cost to read (VLSEARCH_MAX_FILE_BYTES, _MAX_IMAGE_PIXELS, _THUMBNAIL_PX)."""

    max_bytes: int
    max_pixels: int
    thumbnail_px: int = 256


@dataclass(frozen=True)
class QuerySize:
    """The most pixels and the longest side a query image is read at (VLSEARCH_QUERY_MAX_PIXELS, _QUERY_MAX_SIDE).

    OCR and the models cost memory and time with every pixel, and a screenshot's text stays readable at a few
    megapixels, so a query image is scaled down before either sees it (an ingested image keeps its size)."""

    max_pixels: int
    max_side: int

    def fit(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) scaled down to both limits, keeping the aspect ratio; unchanged when it fits."""
        scale = min(1.0, self.max_side / max(width, height), math.sqrt(self.max_pixels / (width * height)))
        if scale >= 1.0:
            return width, height
        fitted = [max(1, math.floor(width * scale)), max(1, math.floor(height * scale))]
        while fitted[0] * fitted[1] > self.max_pixels:  # rounding can leave it a row over
            fitted[fitted[1] > fitted[0]] -= 1
        return fitted[0], fitted[1]

    def apply(self, image: Image.Image) -> Image.Image:
        """A scaled-down copy when the image is over a limit, else the image itself."""
        size = self.fit(image.width, image.height)
        if size == image.size:
            return image
        if image.mode not in RESIZABLE_MODES:
            image = to_rgb(image)
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


# Modes Pillow resizes with a proper filter ("P" and "1" only by nearest neighbour, which loses small text).
RESIZABLE_MODES = frozenset({"RGB", "RGBA", "L", "LA"})


@dataclass(frozen=True)
class DecodedImage:
    """An image that passed every check, ready for OCR and the models."""

    image: Image.Image
    sha256: str
    mime: str

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def read_image_file(
    path: Path, *, max_bytes: int, max_pixels: int, query_size: QuerySize | None = None
) -> DecodedImage:
    """Read and decode one file; every refusal is a BadInput naming the file. `query_size`: see decode_image."""
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BadInput(source, f"cannot read file ({error.strerror or error})") from error
    if size == 0:
        raise BadInput(source, "empty file")
    if size > max_bytes:
        raise BadInput(source, f"file is {size:,} bytes, over the {max_bytes:,}-byte limit")
    return decode_image(path.read_bytes(), source, max_pixels=max_pixels, query_size=query_size)


def decode_image(data: bytes, source: str, *, max_pixels: int, query_size: QuerySize | None = None) -> DecodedImage:
    """Decode bytes into an upright RGB image, refusing anything outside the whitelist.

    With `query_size` (a query image) the result is scaled down to it; a JPEG is decoded at a reduced scale
    straight away (Pillow's draft mode), so a huge photo never exists at full size in memory."""
    if not data:
        raise BadInput(source, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in MIME_BY_FORMAT:
                raise BadInput(source, f"unsupported image format {image.format} (supported: {SUPPORTED})")
            pixels = image.width * image.height
            if pixels > max_pixels:
                raise BadInput(
                    source,
                    f"too many pixels: {image.width}x{image.height} = {pixels:,}, limit {max_pixels:,}",
                )
            mime = MIME_BY_FORMAT[image.format]
            image.seek(0)  # first frame of animations
            if query_size is not None:
                image.draft(None, query_size.fit(image.width, image.height))  # JPEG only; others ignore it
            image.load()
            decoded: Image.Image = image
            if query_size is not None and image.mode in RESIZABLE_MODES:
                decoded = _keep_exif(query_size.apply(image), image)  # before the full-size copies below
            upright = ImageOps.exif_transpose(decoded) or decoded
            rgb = to_rgb(upright)
            if query_size is not None:
                rgb = query_size.apply(rgb)
    except BadInput:
        raise
    except UnidentifiedImageError as error:
        raise BadInput(source, f"not a supported image (supported: {SUPPORTED})") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInput(source, f"too many pixels (decompression-bomb limit): {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise BadInput(source, f"corrupt or truncated image: {error}") from error
    return DecodedImage(image=rgb, sha256=hashlib.sha256(data).hexdigest(), mime=mime)


def _keep_exif(scaled: Image.Image, original: Image.Image) -> Image.Image:
    """Carry the orientation over to a resized copy, so exif_transpose still turns it upright."""
    if scaled is not original:
        scaled.info = dict(original.info)
        exif = original.getexif()
        if exif:
            scaled.info["exif"] = exif.tobytes()
    return scaled


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is flattened onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _high_depth_to_rgb(image)
    if image.mode == "P" and "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    # Pillow's own conversion clips 16-bit values at 255, which turns most photos white.
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= 255 and low >= 0 and image.mode not in ("I;16", "I;16B", "I;16L"):
        scaled = values
    elif image.mode.startswith("I;16"):
        scaled = values / 257.0
    else:
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8)).convert("RGB")


def thumbnail_jpeg(image: Image.Image, max_px: int = 256, quality: int = 80) -> bytes:
    """A small JPEG for result grids, so pages never load the originals."""
    thumb = image.copy()
    thumb.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def pdq_hash(image: Image.Image) -> tuple[str, int]:
    """256-bit PDQ perceptual hash as 64 hex digits, and PDQ's quality score (0-100)."""
    bits, quality = pdqhash.compute(np.asarray(image, dtype=np.uint8))
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return packed.tobytes().hex(), int(quality)


def pdq_distance(left: str, right: str) -> int:
    """Hamming distance between two hex PDQ hashes."""
    return (int(left, 16) ^ int(right, 16)).bit_count()
