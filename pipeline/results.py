"""Search results as tables: rows for grids and charts, CSV for export, facet counts.

Every score is kept (None where a side did not find the hit) so an exported result explains
itself as `search --json` does.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipeline.records import Hit, Scores

SCORE_COLUMNS = ("fused", "bm25", "vector_distance", "rerank")
BASE_COLUMNS = ("rank", "id", "uri", *SCORE_COLUMNS, "caption", "ocr_text")
MISSING = "(none)"
# Spreadsheets run cells starting with these as formulas; OCR text from customers is untrusted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def hit_rows(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """One flat row per hit, best first: rank, id, uri, the four scores, caption, OCR text, metadata columns.

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
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return buffer.getvalue().encode("utf-8-sig")


def score_text(scores: Scores) -> str:
    """All four scores on one line, "—" where that side did not score the hit."""
    figures = {"fused": scores.fused, "bm25": scores.bm25, "vector distance": scores.vector_distance,
               "rerank": scores.rerank}
    return " · ".join(f"{name} {'—' if value is None else f'{value:.3f}'}" for name, value in figures.items())


def facet_counts(hits: Sequence[Hit], column: str) -> list[tuple[str, int]]:
    """How many hits carry each value of a metadata column, most frequent first (MISSING last among equals)."""
    counts = Counter(hit.record.metadata.get(column) or MISSING for hit in hits)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0] == MISSING, item[0]))


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value
