"""Safe image decoding: format whitelist, decompression-bomb limit, EXIF orientation, RGB."""

from __future__ import annotations

import hashlib
import io
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


def read_image_file(path: Path, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Read and decode one file; every refusal is a BadInput naming the file."""
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BadInput(source, f"cannot read file ({error.strerror or error})") from error
    if size == 0:
        raise BadInput(source, "empty file")
    if size > max_bytes:
        raise BadInput(source, f"file is {size:,} bytes, over the {max_bytes:,}-byte limit")
    return decode_image(path.read_bytes(), source, max_pixels=max_pixels)


def decode_image(data: bytes, source: str, *, max_pixels: int) -> DecodedImage:
    """Decode bytes into an upright RGB image, refusing anything outside the whitelist."""
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
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            rgb = to_rgb(upright)
    except BadInput:
        raise
    except UnidentifiedImageError as error:
        raise BadInput(source, f"not a supported image (supported: {SUPPORTED})") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInput(source, f"too many pixels (decompression-bomb limit): {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise BadInput(source, f"corrupt or truncated image: {error}") from error
    return DecodedImage(image=rgb, sha256=hashlib.sha256(data).hexdigest(), mime=mime)


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
