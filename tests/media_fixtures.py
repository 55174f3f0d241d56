"""Small PDFs and videos generated at test time, for ingest, CLI and app tests.

Text is large and black on white so RapidOCR reads it reliably; every file takes well under
a second to make.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

SCAN_SIZE = (1240, 1754)  # an A4 page scanned at 150 dpi


def make_text_pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    """A PDF whose pages carry a real text layer (one string per page); `password` encrypts it."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=16)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    if password is not None:
        pdf.set_encryption(owner_password=password, user_password=password)
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF of page images with the text drawn into the pixels and no text layer, as a scanner makes."""
    pdf = FPDF()
    for text in pages:
        pdf.add_page()
        pdf.image(text_image(text, SCAN_SIZE, font_size=72), x=0, y=0, w=pdf.w, h=pdf.h)
    pdf.output(str(path))
    return path


def make_text_video(
    path: Path, segments: list[tuple[str, float]], fps: int = 10, size: tuple[int, int] = (320, 180)
) -> Path:
    """An H.264 video showing each (text, seconds) segment in turn, black on white."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        index = 0
        for text, seconds in segments:
            picture = text_image(text, size, font_size=size[1] // 6)
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_image(picture)
                frame.pts = index
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
    return path


def text_image(text: str, size: tuple[int, int], *, font_size: int) -> Image.Image:
    """White canvas with the text centred, one line per word group that fits."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    draw.multiline_text(
        (size[0] / 2, size[1] / 2),
        _wrap(text, draw, font, size[0] * 0.9),
        fill="black",
        font=font,
        anchor="mm",
        align="center",
        spacing=font_size // 2,
    )
    return image


def _wrap(text: str, draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont, width: float) -> str:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)
