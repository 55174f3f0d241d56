"""Query planning: what goes to BM25 and what goes to the vector index."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from pipeline.errors import BadInput
from pipeline.models import Embedder, Query
from pipeline.ocr import OcrEngine
from pipeline.records import Vector
from pipeline.search.query_words import content_words

NO_QUERY = "give a text, an image, a filter (to browse newest first), or a mix of them"


@dataclass
class QueryPlan:
    keyword_text: str
    vector: Vector | None
    ocr_text: str = ""
    notices: list[str] = field(default_factory=list)


def plan_query(*, text: str | None, image: Image.Image | None, ocr: OcrEngine, embedder: Embedder | None) -> QueryPlan:
    """Text: its content words as BM25 text + query vector. Image: its OCR text as BM25 text + image vector.
    Both: combined.

    The text's length was checked by the caller against VLSEARCH_MAX_QUERY_CHARS (pipeline/access/limits.py).
    """
    text = (text or "").strip()
    if not text and image is None:
        raise BadInput("query", NO_QUERY)
    ocr_text = ocr.read(image) if image is not None else ""
    # A typed question's own words are left out of BM25 (query_words.py); the embedder reads the whole question.
    keyword_text = " ".join(part for part in (content_words(text), ocr_text.replace("\n", " ")) if part)
    notices: list[str] = []
    if image is not None and not ocr_text:
        notices.append("no text was found in the query image")
    vector = None
    if embedder is not None:
        vector = embedder.embed_queries([Query(text=text or None, image=image)])[0]
    return QueryPlan(keyword_text=keyword_text, vector=vector, ocr_text=ocr_text, notices=notices)
