import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.errors import BadInput
from pipeline.images import decode_image, pdq_distance, pdq_hash, read_image_file, thumbnail_jpeg

LIMIT = 10_000_000


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def scene(size=(120, 80)) -> Image.Image:
    image = Image.new("RGB", size, (30, 120, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 60, 50), fill=(250, 200, 20))
    draw.ellipse((70, 20, 110, 70), fill=(200, 30, 30))
    return image


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_whitelisted_formats_decode_to_rgb(fmt, mime):
    decoded = decode_image(encode(scene(), fmt), "x", max_pixels=LIMIT)
    assert decoded.mime == mime
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (120, 80)
    assert len(decoded.sha256) == 64


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    red = decode_image(encode(cmyk, "JPEG", quality=95), "x", max_pixels=LIMIT).image.getpixel((20, 20))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_sixteen_bit_png_keeps_its_tones_instead_of_clipping_to_white():
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
    decoded = decode_image(encode(Image.fromarray(ramp), "PNG"), "x", max_pixels=LIMIT)
    row = np.asarray(decoded.image)[8, :, 0]
    assert row[0] < 10 and 100 < row[32] < 160 and row[-1] > 245


def test_transparent_palette_and_alpha_images_are_flattened_on_white():
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert decode_image(encode(rgba, "PNG"), "x", max_pixels=LIMIT).image.getpixel((5, 5)) == (255, 255, 255)
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([0, 0, 0] * 256)
    decoded = decode_image(encode(palette, "PNG", transparency=0), "x", max_pixels=LIMIT)
    assert decoded.image.getpixel((5, 5)) == (255, 255, 255)
    la = Image.new("LA", (20, 20), (0, 255))
    assert decode_image(encode(la, "PNG"), "x", max_pixels=LIMIT).image.getpixel((5, 5)) == (0, 0, 0)


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    pixel = decode_image(data, "x", max_pixels=LIMIT).image.getpixel((10, 10))
    assert pixel[0] > 200 and pixel[2] < 60


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    decoded = decode_image(encode(scene((120, 80)), "JPEG", exif=exif), "x", max_pixels=LIMIT)
    assert (decoded.width, decoded.height) == (80, 120)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello, I am a text file", "not a supported image"),
        (encode(scene(), "PNG")[:200], "corrupt or truncated"),
        (encode(scene(), "ICO"), "unsupported image format ICO"),
    ],
)
def test_bad_bytes_are_refused_with_the_reason(data, reason):
    with pytest.raises(BadInput, match=reason) as caught:
        decode_image(data, "upload.png", max_pixels=LIMIT)
    assert caught.value.source == "upload.png"


def test_decompression_bomb_limit_is_enforced_before_decoding():
    with pytest.raises(BadInput, match="too many pixels: 120x80 = 9,600, limit 5,000"):
        decode_image(encode(scene(), "PNG"), "big.png", max_pixels=5_000)


def test_file_limits(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(BadInput, match="empty file"):
        read_image_file(empty, max_bytes=100, max_pixels=LIMIT)
    big = tmp_path / "big.png"
    big.write_bytes(encode(scene(), "PNG"))
    with pytest.raises(BadInput, match="over the 100-byte limit"):
        read_image_file(big, max_bytes=100, max_pixels=LIMIT)
    with pytest.raises(BadInput, match="cannot read file"):
        read_image_file(tmp_path / "missing.png", max_bytes=100, max_pixels=LIMIT)


def test_thumbnail_is_a_small_jpeg_with_the_aspect_ratio():
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(scene((1000, 500)), 256)))
    assert thumb.format == "JPEG" and thumb.size == (256, 128)


def test_pdq_hash_is_stable_under_resizing_and_differs_for_other_images():
    original = scene((400, 300))
    hash_a, quality = pdq_hash(original)
    hash_b, _ = pdq_hash(original.resize((200, 150)))
    other = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    hash_c, _ = pdq_hash(other)
    assert len(hash_a) == 64 and 0 <= quality <= 100
    assert pdq_distance(hash_a, hash_b) <= 16
    assert pdq_distance(hash_a, hash_c) > 64
