"""OCR behind a small interface; RapidOCR (ONNX, Chinese + English models shipped in the wheel) by default."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float
    left: float
    top: float
    bottom: float


class OcrEngine(Protocol):
    name: str

    def read(self, image: Image.Image) -> str:
        """All text in the image, lines in reading order joined by newlines."""


def reading_order(lines: Sequence[OcrLine]) -> str:
    """Join lines top to bottom; boxes whose vertical centres overlap form one row, left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: (item.top + item.bottom) / 2):
        centre = (line.top + line.bottom) / 2
        if rows:
            last = rows[-1][-1]
            if last.top <= centre <= last.bottom:
                rows[-1].append(line)
                continue
        rows.append([line])
    return "\n".join(" ".join(item.text for item in sorted(row, key=lambda item: item.left)) for row in rows)


class RapidOcrEngine:
    """RapidOCR on onnxruntime; the session is created on first use and shared by threads."""

    name = "rapidocr"

    def __init__(self, min_confidence: float = 0.5) -> None:
        self.min_confidence = min_confidence
        self._engine: object | None = None
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> str:
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR

                self._engine = RapidOCR()
            result, _ = self._engine(np.asarray(image.convert("RGB"))[:, :, ::-1])  # type: ignore[operator]
        lines = [
            OcrLine(
                text=str(text).strip(),
                confidence=float(score),
                left=min(point[0] for point in box),
                top=min(point[1] for point in box),
                bottom=max(point[1] for point in box),
            )
            for box, text, score in (result or [])
            if float(score) >= self.min_confidence and str(text).strip()
        ]
        return reading_order(lines)
