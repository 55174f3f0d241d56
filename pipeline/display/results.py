"""Search results as people read them: labels, the one "match" figure, rows for grids and charts, CSV for export,
facet counts.

Every score is kept (None where a side did not find the hit) so an exported result explains
itself as `search --json` does. A hit has one label wherever it is shown (hit_label): its ticket
id, else the name an upload was given, else where it is: "manual.pdf, page 3", or for a video hit
"clip.mp4, 00:01:23–00:01:26" (its time window).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipeline.formatting import clock, file_name, safe_cell
from pipeline.ingest.uploads import FILE_NAME_FIELD
from pipeline.records import AssetRecord, Hit, Scores, SourceKind, TimeWindow

SCORE_COLUMNS = ("fused", "bm25", "vector_distance", "rerank")
# Newer columns come last so that readers of the older columns by position are unaffected.
BASE_COLUMNS = (
    "rank",
    "id",
    "uri",
    *SCORE_COLUMNS,
    "caption",
    "ocr_text",
    "source",
    "page",
    "window",
    "label",
    "visual_pairs",
    "learned",
    "voted_up",
    "voted_down",
)
MISSING = "(none)"
TICKET_FIELD = "ticket_id"
NEWEST = "newest"  # SearchResult.order of a filter-only browse
RELATIVE_ORDER_NOTE = (
    "Ranked relative to this query: without the reranker's probabilities no score means the same from one query "
    "to the next (the fused score is scaled per query, so the first hit always has 1.000). The scores of each "
    "side are in Details."
)


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


def hit_location(hit: Hit) -> str:
    """Where a hit is, for people: "manual.pdf, page 3", "clip.mp4, 00:01:23–00:01:26" or the file name."""
    if hit.window is not None:
        return f"{file_name(hit.record.parent_uri or hit.record.uri)}, {window_label(hit.window)}"
    return record_label(hit.record)


def hit_label(hit: Hit) -> str:
    """The one name of a hit on cards, in Details, the table, the CSV and the CLI: the ticket id of a ticket, else
    the name an image was uploaded under, else where it is (hit_location). A ticket that is a page or a video frame
    keeps its place: "SUP-7 · manual.pdf, page 3"."""
    metadata = hit.record.metadata
    ticket = metadata.get(TICKET_FIELD)
    if ticket:
        return ticket if hit.record.source_kind == SourceKind.IMAGE else f"{ticket} · {hit_location(hit)}"
    return metadata.get(FILE_NAME_FIELD) or hit_location(hit)


def match_text(hit: Hit, rank: int, total: int | None, order: str = "relevance") -> str:
    """The one figure a card shows. The reranker's relevance probability means the same in every query, so it is
    shown when the hit has one; otherwise the hit's place in this query's order ("rank 3 of 37"), or for a browse
    of the newest records the day it was added: fused, BM25 and vector figures are not comparable across queries."""
    if order == NEWEST:
        return f"added {hit.record.ingested_at:%Y-%m-%d}"
    if hit.scores.rerank is not None:
        return f"match {hit.scores.rerank:.0%}"
    return f"rank {rank:,} of {total:,}" if total is not None else f"rank {rank:,} · relative to this query"


def count_text(shown: int, total: int | None, order: str = "relevance") -> str:
    """How many records the query matches, as far as the engine can count them: "37 matches · 12 shown"."""
    if total is None:
        return f"top {shown:,} shown (the engine cannot count every match of this query)"
    if order == NEWEST:
        return f"{total:,} {'record' if total == 1 else 'records'}, newest first · {shown:,} shown"
    return f"{total:,} {'match' if total == 1 else 'matches'} · {shown:,} shown"


def score_rows(hit: Hit) -> list[tuple[str, str]]:
    """Every side's score with what it means, for Details: rows of (name, figure and meaning)."""
    scores = hit.scores
    rows = [
        (
            "rerank",
            "—"
            if scores.rerank is None
            else f"{scores.rerank:.3f} (probability the hit is relevant; the same scale in every query)",
        ),
        ("bm25", "—" if scores.bm25 is None else f"{scores.bm25:.3f} (keyword score; higher is better, unbounded)"),
        (
            "vector distance",
            "—"
            if scores.vector_distance is None
            else f"{scores.vector_distance:.3f} (cosine distance; 0 is identical, lower is closer)",
        ),
        (
            "looks the same",
            "—"
            if scores.visual_pairs is None
            else f"{scores.visual_pairs} keypoints agree with the query image (the same picture, cropped or rescaled)",
        ),
        (
            "learned from votes",
            "—"
            if scores.learned is None
            else f"{scores.learned:+.3f} ({scores.voted_up} up, {scores.voted_down} down: people's votes on the same "
            "or similar queries; part of fused)",
        ),
        ("fused", f"{scores.fused:.3f} (every side combined, scaled within this query)"),
    ]
    return rows if hit.window is None else [*rows, ("video window", window_text(hit.window))]


def why_text(reasons: Sequence[str], hit: Hit, *, image_query: bool) -> str:
    """The short "why this hit" line: the reasons explain.why found and, when they do not already say it, how
    close the vectors are (for an image query, or when nothing else explains the hit)."""
    parts = list(reasons)
    distance = hit.scores.vector_distance
    if distance is not None and (image_query or not parts) and not any("vector distance" in part for part in parts):
        parts.append(f"{'looks alike' if image_query else 'close in meaning'} (vector distance {distance:.2f})")
    return " · ".join(parts)


def without_asset(hits: Sequence[Hit], limit: int, *, sha256: str) -> tuple[list[Hit], int]:
    """Up to `limit` hits that are not the image `sha256` (any copy of it), and how many of the given hits were
    gone through to find them: the offset the next page of the same ranking starts at."""
    kept: list[Hit] = []
    consumed = 0
    for hit in hits:
        if len(kept) == limit:
            break
        consumed += 1
        if hit.record.sha256 != sha256:
            kept.append(hit)
    return kept, consumed


def hit_rows(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """One flat row per hit, best first: rank, id, uri, the four scores, caption, OCR text, where the hit is
    (source: its place; page; window: the time window's label), its label (hit_label), the keypoints agreeing with
    a query image (visual_pairs), what people's votes on similar queries added (learned, voted_up, voted_down),
    metadata columns.

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
            "source": hit_location(hit),
            "page": hit.record.page,
            "window": None if hit.window is None else window_label(hit.window),
            "label": hit_label(hit),
            "visual_pairs": scores.visual_pairs,
            "learned": scores.learned,
            "voted_up": scores.voted_up,
            "voted_down": scores.voted_down,
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
