"""Videos with PyAV: frames sampled at a steady rate and at scene changes, decoded lazily.

A frame is sampled when it is due by presentation time (one every 1/fps seconds) or when it
differs from the last sampled frame by at least the scene threshold, so a cut between two
due times still gets its own frame.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipeline.errors import BadInput
from pipeline.formatting import clock

VIDEO_MIME_BY_SUFFIX = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
}
# ISO media files that are still images (HEIF, AVIF), not videos.
IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
SCENE_THUMBNAIL = (64, 36)  # grayscale size frames are compared at


def sniff_video(head: bytes) -> str | None:
    """The MIME type of a video container recognised by its first bytes, else None."""
    if head[4:8] == b"ftyp" and head[8:12] not in IMAGE_BRANDS:
        return {b"qt  ": "video/quicktime", b"M4V ": "video/x-m4v"}.get(head[8:12], "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM when its doctype says so
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None


@dataclass(frozen=True)
class VideoFrame:
    timestamp_s: float  # seconds from the start of the video stream
    image: Image.Image


class VideoFile:
    """An open video with one video stream; use as a context manager so the demuxer is closed."""

    def __init__(self, source: Path | bytes, name: str) -> None:
        self.name = name
        self.cut_short_at: float | None = None
        try:
            self._container = av.open(str(source) if isinstance(source, Path) else io.BytesIO(source), mode="r")
        except (av.FFmpegError, ValueError, OSError) as error:
            raise BadInput(name, f"not a video that can be decoded ({_message(error)})") from error
        demuxer = self._container.format.name
        if demuxer == "image2" or demuxer.endswith("_pipe"):
            self._container.close()
            raise BadInput(name, "an image file named like a video; give it an image extension")
        if not self._container.streams.video:
            self._container.close()
            raise BadInput(name, "the file has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_type = "AUTO"  # frame and slice threads: decoding dominates

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.close()

    def frames(self, *, fps: float, scene_threshold: float, max_frames: int, max_pixels: int) -> Iterator[VideoFrame]:
        """Sampled frames in time order; stops at `max_frames` and then sets `cut_short_at` when more were due.

        `scene_threshold` is a mean absolute difference of grayscale thumbnails in 0..1 (0 turns it off).
        """
        stream = self._stream
        start = stream.start_time or 0
        time_base = stream.time_base or Fraction(1, 90_000)  # a demuxer always sets it; 90 kHz is MPEG's clock
        interval = Fraction(1 / fps).limit_denominator(1000)
        due = Fraction(0)
        last: np.ndarray | None = None
        sampled = 0
        seconds = 0.0
        try:
            for frame in self._container.decode(stream):
                if frame.pts is None or frame.pts < start:  # no time, or decoder preroll that is never shown
                    continue
                position = (frame.pts - start) * time_base
                seconds = float(position)
                thumbnail = _thumbnail(frame) if scene_threshold > 0 else None
                cut = last is not None and thumbnail is not None and _difference(last, thumbnail) >= scene_threshold
                if position < due and not cut:
                    continue
                if sampled == max_frames:
                    self.cut_short_at = seconds
                    return
                sampled += 1
                last = thumbnail
                due = (math.floor(position / interval) + 1) * interval
                yield VideoFrame(seconds, _upright_image(frame, max_pixels))
        except (av.FFmpegError, ValueError, OSError) as error:
            raise BadInput(self.name, f"decoding failed at {clock(seconds, tenths=True)}: {_message(error)}") from error
        if sampled == 0:
            raise BadInput(self.name, "no video frames could be decoded")


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    width, height = SCENE_THUMBNAIL
    return frame.to_ndarray(format="gray", width=width, height=height).astype(np.float32) / 255.0


def _difference(left: np.ndarray, right: np.ndarray) -> float:
    return float(np.abs(left - right).mean())


def _upright_image(frame: av.VideoFrame, max_pixels: int) -> Image.Image:
    """RGB image of the frame, scaled down to the pixel limit and turned as the display matrix says (phone videos)."""
    shrink = min(1.0, math.sqrt(max_pixels / (frame.width * frame.height)))
    image = frame.to_image(width=max(1, int(frame.width * shrink)), height=max(1, int(frame.height * shrink)))
    return image.rotate(frame.rotation, expand=True) if frame.rotation else image


def _message(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)
