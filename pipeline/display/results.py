"""Search results as people read them: labels, rows for grids and charts, CSV for export, facet counts.

Every score is kept (None where a side did not find the hit) so an exported result explains
itself as `search --json` does. A PDF page is labelled "manual.pdf, page 3" and a video hit
"clip.mp4, 00:01:23–00:01:26" (its time window) wherever a hit is shown.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipeline.formatting import clock, file_name, safe_cell
from pipeline.records import AssetRecord, Hit, Scores, SourceKind, TimeWindow

SCORE_COLUMNS = ("fused", "bm25", "vector_distance", "rerank")
# source, page and window come last so that readers of the older columns by position are unaffected.
BASE_COLUMNS = ("rank", "id", "uri", *SCORE_COLUMNS, "caption", "ocr_text", "source", "page", "window")
MISSING = "(none)"


def window_label(window: TimeWindow) -> str:
    """ "00:01:23–00:01:26": the start rounded down and the end rounded up, so the label covers the window.

    Whole seconds are what a player seeks to; tenths are shown only for a window under a second,
    which whole seconds would blur.
    """
    tenths = window.end_s - window.start_s < 1.0
    return f"{clock(window.start_s, tenths=tenths)}–{clock(window.end_s, tenths=tenths, round_up=True)}"


def window_text(window: TimeWindow) -> str:
    """How a video hit's window scored: "window score 2.410 over 3 frames"."""
    return f"window score {window.score:.3f} over {window.frames} frames"


def record_label(record: AssetRecord) -> str:
    """ "manual.pdf, page 3", "clip.mp4, 00:01:23" (the frame's time) or the file name."""
    if record.source_kind == SourceKind.PDF_PAGE and record.page is not None:
        return f"{file_name(record.parent_uri or record.uri)}, page {record.page}"
    if record.source_kind == SourceKind.VIDEO_FRAME and record.timestamp_s is not None:
        return f"{file_name(record.parent_uri or record.uri)}, {clock(record.timestamp_s)}"
    return file_name(record.uri)


def hit_label(hit: Hit) -> str:
    """Where a hit is, for people: "manual.pdf, page 3", "clip.mp4, 00:01:23–00:01:26" or the file name."""
    if hit.window is not None:
        return f"{file_name(hit.record.parent_uri or hit.record.uri)}, {window_label(hit.window)}"
    return record_label(hit.record)


def hit_rows(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """One flat row per hit, best first: rank, id, uri, the four scores, caption, OCR text, where the hit is
    (source: its label; page; window: the time window's label), metadata columns.

    A metadata column whose name is taken by a built-in column is written as metadata.<name>.
    """
    rows = []
    for rank, hit in enumerate(hits, start=1):
        scores = hit.scores
        row: dict[str, Any] = {
            "rank": rank,
            "id": hit.record.id,
            "uri": hit.record.uri,
            "fused": scores.fused,
            "bm25": scores.bm25,
            "vector_distance": scores.vector_distance,
            "rerank": scores.rerank,
            "caption": hit.record.caption,
            "ocr_text": hit.record.ocr_text,
            "source": hit_label(hit),
            "page": hit.record.page,
            "window": None if hit.window is None else window_label(hit.window),
        }
        for column, value in sorted(hit.record.metadata.items()):
            row[f"metadata.{column}" if column in BASE_COLUMNS else column] = value
        rows.append(row)
    return rows


def results_csv(hits: Sequence[Hit]) -> bytes:
    """UTF-8 CSV (with a BOM, so spreadsheets read Chinese right) of hit_rows; formula-like text is defused."""
    rows = hit_rows(hits)
    columns = list(BASE_COLUMNS) + sorted({key for row in rows for key in row} - set(BASE_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: safe_cell(value) for key, value in row.items()})
    return buffer.getvalue().encode("utf-8-sig")


def score_text(scores: Scores) -> str:
    """All four scores on one line, "—" where that side did not score the hit."""
    figures = {
        "fused": scores.fused,
        "bm25": scores.bm25,
        "vector distance": scores.vector_distance,
        "rerank": scores.rerank,
    }
    return " · ".join(f"{name} {'—' if value is None else f'{value:.3f}'}" for name, value in figures.items())


def hit_score_text(hit: Hit) -> str:
    """score_text, and for a video hit how its time window scored."""
    figures = score_text(hit.scores)
    return figures if hit.window is None else f"{figures} · {window_text(hit.window)}"


def facet_counts(hits: Sequence[Hit], column: str) -> list[tuple[str, int]]:
    """How many hits carry each value of a metadata column, most frequent first (MISSING last among equals)."""
    counts = Counter(hit.record.metadata.get(column) or MISSING for hit in hits)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0] == MISSING, item[0]))
