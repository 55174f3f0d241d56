"""OCR behind a small interface; RapidOCR (ONNX, Chinese + English models shipped in the wheel) by default.

RapidOCR spends its time in three onnxruntime sessions (text detection about a third, recognition of
each detected line the rest). One engine's own threads keep only about 1.4 of 2 cores busy, so the engine
keeps a pool of them, each with its share of the cores, and ingest reads as many images at once as the
pool has workers. The detector sees the image at most `detector_side` pixels on its longest side (the
lines it finds are still read from the full-size image), which is where most of the saving without loss
of text comes from: see docs/benchmarks.md for the measured trade-off.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image

from pipeline.errors import ModelUnavailable

if TYPE_CHECKING:
    from rapidocr_onnxruntime import RapidOCR

# RapidOCR's own rule, kept: a small image is enlarged for the detector until its short side is this long.
DETECTOR_MIN_SIDE = 736
CUDA_PROVIDER = "CUDAExecutionProvider"
# Lines recognised per onnxruntime call. RapidOCR pads every line of a call to the widest one; on a CPU the
# padding of its default 6 costs more than the fewer calls save (docs/benchmarks.md, "OCR input size").
LINE_BATCH = 2


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


def detector_size(width: int, height: int, longest_side: int | None) -> tuple[int, int]:
    """The (width, height) the text detector reads an image at: RapidOCR's enlargement of small images,
    then capped at `longest_side` (None: uncapped, RapidOCR's default), both sides multiples of 32."""
    scale = max(1.0, DETECTOR_MIN_SIDE / min(width, height))
    if longest_side is not None:
        scale = min(scale, longest_side / max(width, height))
    return max(32, round(int(width * scale) / 32) * 32), max(32, round(int(height * scale) / 32) * 32)


def ocr_device(setting: str) -> str:
    """ "cpu" or "cuda" for VLSEARCH_OCR_DEVICE; "cuda" only where onnxruntime has its CUDA provider."""
    import onnxruntime

    has_cuda = CUDA_PROVIDER in onnxruntime.get_available_providers()
    if setting == "cuda" and not has_cuda:
        raise ModelUnavailable(
            RapidOcrEngine.name,
            "VLSEARCH_OCR_DEVICE=cuda but onnxruntime has no CUDA provider: replace the onnxruntime package with "
            "onnxruntime-gpu of the same version (docs/cli.md, 'Ingest speed')",
        )
    return "cuda" if setting == "cuda" or (setting == "auto" and has_cuda) else "cpu"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset limits it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(workers: int, cores: int | None = None) -> int:
    """onnxruntime threads per worker: the cores shared out, so the workers together do not oversubscribe them."""
    return max(1, (cores or usable_cores()) // workers)


class RapidOcrEngine:
    """RapidOCR on onnxruntime: a pool of `workers` sessions, created on first use, each read by one thread at
    a time; more threads than workers wait for a free one."""

    name = "rapidocr"

    def __init__(
        self,
        min_confidence: float = 0.5,
        *,
        workers: int = 1,
        detector_side: int | None = None,
        device: str = "cpu",
        line_batch: int = LINE_BATCH,
    ) -> None:
        if workers < 1:
            raise ValueError(f"an OCR pool needs at least one worker, not {workers}")
        self.min_confidence = min_confidence
        self.workers = workers
        self.detector_side = detector_side
        self.device = device
        self.line_batch = line_batch
        self._threads = 1 if device == "cuda" else worker_threads(workers)
        self._idle: queue.LifoQueue[RapidOCR] = queue.LifoQueue()
        self.sessions_opened = 0
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> str:
        session = self._take()
        try:
            result, _ = session(np.asarray(image.convert("RGB"))[:, :, ::-1])
        finally:
            self._idle.put(session)
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

    def _take(self) -> RapidOCR:
        """An idle session, a new one while the pool is not full, else the next one another thread gives back."""
        with self._lock:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                create = self.sessions_opened < self.workers
                self.sessions_opened += create
        if not create:
            return self._idle.get()
        try:
            return self._open_session()
        except BaseException:
            with self._lock:
                self.sessions_opened -= 1
            raise

    def _open_session(self) -> RapidOCR:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        cuda = self.device == "cuda"
        session = RapidOCR(
            intra_op_num_threads=self._threads,
            inter_op_num_threads=1,
            det_use_cuda=cuda,
            cls_use_cuda=cuda,
            rec_use_cuda=cuda,
            rec_batch_num=self.line_batch,
        )
        detector = session.text_det
        preprocess = DetPreProcess(DETECTOR_MIN_SIDE, "min", detector.mean, detector.std)
        # RapidOCR 1.4 has no setting for a longest side (its "max" mode picks 960/1500/2000 itself), so the
        # detector's resize step is replaced; boxes are mapped back to the full-size image as before.
        preprocess.resize = lambda pixels: _resize_for_detector(pixels, self.detector_side)
        detector.get_preprocess = lambda _longest: preprocess
        return session


def _resize_for_detector(pixels: Any, longest_side: int | None) -> Any:
    import cv2

    height, width = pixels.shape[:2]
    return cv2.resize(pixels, detector_size(width, height, longest_side))
