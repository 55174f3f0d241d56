"""Video hits: one hit per video, placed on the time window where its matching frames cluster.

Search ranks sampled frames one by one. A moment in a video ("when does the person open the
laptop") spans several neighbouring frames, so the frames of each video are put on the time
axis and a window of `window_s` seconds slides over them:

- A frame's score is the one that ranked it: the rerank probability where the reranker
  scored it, else its fused score.
- A window's score is the **sum** of its frames' scores. Several neighbouring frames that all
  match are stronger evidence than one frame that matches slightly better on its own (a
  single frame can match by accident: OCR noise, a caption word), and the sum rewards both
  how well and how many frames match. The fixed window length bounds how many frames can add
  up, so a long video does not win by length.
- The window reported starts at its first matched frame and ends one sampling interval after
  its last one: a frame stands for the interval until the next sample, so three frames at
  83, 84 and 85 s sampled once a second read as 00:01:23–00:01:26.
- Ordering: a video takes the place of its highest-ranked frame in the incoming ranking.
  Grouping never moves a video below where its best evidence ranked, and every other hit
  keeps its position relative to the rest.

The grouped hit carries the best frame inside the window (its record, thumbnail and scores)
and the window. Hits that are not video frames pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipeline.records import Hit, SourceKind, TimeWindow

# Timestamps are kept to the millisecond (frame ids use t=<seconds:.3f>); this absorbs float noise.
EPSILON_S = 1e-6


def frame_score(hit: Hit) -> float:
    """The score a frame adds to its window: rerank probability when reranked, else the fused score."""
    return hit.scores.fused if hit.scores.rerank is None else hit.scores.rerank


def is_video_frame(hit: Hit) -> bool:
    record = hit.record
    return record.source_kind == SourceKind.VIDEO_FRAME and record.timestamp_s is not None


def best_window(frames: Sequence[Hit], *, window_s: float, frame_interval_s: float) -> tuple[TimeWindow, Hit]:
    """The window of one video's matched frames with the highest summed score, and its best frame.

    Ties go to the earlier window. Only windows starting at a matched frame are tried: any other
    window holds the same frames as the one starting at its first frame.
    """
    if not frames:
        raise ValueError("best_window needs at least one frame")
    timeline = sorted(frames, key=lambda hit: hit.record.timestamp_s or 0.0)
    times = [hit.record.timestamp_s or 0.0 for hit in timeline]
    spans: list[tuple[int, int]] = []  # (first frame, one past the last frame) of each window tried
    end = 0
    for first, start_s in enumerate(times):
        end = max(end, first + 1)
        while end < len(times) and times[end] < start_s + window_s - EPSILON_S:
            end += 1
        spans.append((first, end))

    def summed(span: tuple[int, int]) -> float:
        return sum(frame_score(hit) for hit in timeline[span[0] : span[1]])

    first, end = max(spans, key=lambda span: (summed(span), -span[0]))
    inside = timeline[first:end]
    window = TimeWindow(
        start_s=times[first], end_s=times[end - 1] + frame_interval_s, frames=len(inside), score=summed((first, end))
    )
    return window, max(inside, key=frame_score)


def group_video_hits(hits: Sequence[Hit], *, window_s: float, frame_interval_s: float) -> list[Hit]:
    """One hit per video at its best time window, in the place of its highest-ranked frame; others unchanged."""
    if window_s <= 0 or frame_interval_s <= 0:
        raise ValueError(f"window_s and frame_interval_s must be positive, got {window_s} and {frame_interval_s}")
    frames_by_video: dict[str, list[Hit]] = {}
    for hit in hits:
        if is_video_frame(hit):
            frames_by_video.setdefault(_video_key(hit), []).append(hit)
    grouped: list[Hit] = []
    placed: set[str] = set()
    for hit in hits:
        if not is_video_frame(hit):
            grouped.append(hit)
            continue
        video = _video_key(hit)
        if video in placed:
            continue
        placed.add(video)
        window, best = best_window(frames_by_video[video], window_s=window_s, frame_interval_s=frame_interval_s)
        grouped.append(replace(best, window=window))
    return grouped


def _video_key(hit: Hit) -> str:
    # Frames always carry their video's uri; the file hash keeps a frame without one apart from other videos.
    return hit.record.parent_uri or hit.record.sha256
