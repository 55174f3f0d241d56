"""PDF documents with pypdfium2: each page rendered to an image, with its text layer, one page at a time."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from pipeline.errors import BadInput

PDF_MAGIC = b"%PDF-"
POINTS_PER_INCH = 72
# pdfium is not thread-safe, not even across documents: one call at a time in the whole process
# (the app renders pages for several sessions while an ingest may be reading PDFs).
_PDFIUM = threading.RLock()


def is_pdf(head: bytes) -> bool:
    """PDF readers accept the header anywhere in the first kilobyte, so this does too."""
    return PDF_MAGIC in head[:1024]


@dataclass(frozen=True)
class PdfPage:
    number: int  # 1-based, as people count pages
    image: Image.Image
    text: str  # the text layer, whitespace normalised; "" for scanned pages


class PdfFile:
    """An open PDF whose pages are rendered only when asked for, so a long document never sits in memory.

    Close it (or use it as a context manager) when done: pdfium objects must be released under the lock.
    """

    def __init__(self, source: Path | bytes, name: str) -> None:
        self.name = name
        with _PDFIUM:
            self._document = open_document(source, name)
            self.page_count = len(self._document)
        if self.page_count == 0:
            self.close()
            raise BadInput(name, "the PDF has no pages")

    def __enter__(self) -> PdfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the document; safe to call again."""
        with _PDFIUM:
            self._document.close()

    def read_page(self, number: int, *, dpi: int, max_pixels: int) -> PdfPage:
        """Page `number` (1-based) at `dpi`, scaled down where it would exceed `max_pixels`, with its text layer."""
        image, text = self._read(number, lambda width, height: _scale(width, height, dpi, max_pixels), text=True)
        return PdfPage(number, image, text)

    def render(self, number: int, *, max_side: int) -> Image.Image:
        """Page `number` (1-based) with its longer side `max_side` pixels."""
        image, _ = self._read(number, lambda width, height: max_side / max(width, height, 1.0), text=False)
        return image

    def _read(self, number: int, scale: Callable[[float, float], float], *, text: bool) -> tuple[Image.Image, str]:
        source = f"{self.name} page {number}"
        if not 1 <= number <= self.page_count:
            raise BadInput(source, f"no such page: the PDF has {self.page_count}")
        try:
            with _PDFIUM:
                page = self._document[number - 1]
                try:
                    image = _render(page, scale(*page.get_size()))
                    layer = normalise_text(page.get_textpage().get_text_range()) if text else ""
                finally:
                    page.close()  # and its text page with it
        except pdfium.PdfiumError as error:
            raise BadInput(source, f"cannot read the page: {error}") from error
        return image, layer


def _render(page: pdfium.PdfPage, scale: float) -> Image.Image:
    bitmap = page.render(scale=scale)
    try:
        return bitmap.to_pil().convert("RGB")  # a copy, so the bitmap can go
    finally:
        bitmap.close()


def _scale(width: float, height: float, dpi: int, max_pixels: int) -> float:
    """Points to pixels at `dpi`, reduced where the bitmap would exceed `max_pixels` (pdfium rounds sides up)."""
    area, sides = max(width * height, 1.0), width + height
    # The largest s with (width * s + 1) * (height * s + 1) <= max_pixels.
    fitting = (math.sqrt(sides**2 + 4 * area * (max_pixels - 1)) - sides) / (2 * area)
    return min(dpi / POINTS_PER_INCH, fitting)


def open_document(source: Path | bytes, name: str) -> pdfium.PdfDocument:
    """Open with pdfium; encrypted, corrupt and unreadable files are BadInput naming the file."""
    try:
        with _PDFIUM:
            return pdfium.PdfDocument(str(source) if isinstance(source, Path) else source)
    except pdfium.PdfiumError as error:
        reasons = {
            pdfium_c.FPDF_ERR_PASSWORD: "the PDF is password-protected; remove the password and ingest it again",
            pdfium_c.FPDF_ERR_SECURITY: "the PDF uses an encryption scheme that cannot be opened",
            pdfium_c.FPDF_ERR_FILE: "cannot read the file",
        }
        # pdfium refuses an empty page tree without setting an error code of its own.
        reason = reasons.get(error.err_code, "not a valid PDF (corrupt, truncated or without pages)")
        raise BadInput(name, reason) from error


def normalise_text(text: str) -> str:
    """One line per text line, runs of spaces collapsed, blank lines dropped (as OCR output looks)."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def render_page(source: Path | bytes, page: int, *, max_side: int) -> Image.Image:
    """Page `page` (1-based) of a PDF as an RGB image whose longer side is `max_side` pixels (for viewing)."""
    with PdfFile(source, str(source) if isinstance(source, Path) else "PDF") as pdf:
        return pdf.render(page, max_side=max_side)
