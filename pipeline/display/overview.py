"""What the home page says about a deployment: the collection, the engine, and the model mode in plain words."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.display.filters import FilterKind, column_filter
from pipeline.models import REDUCED_MODE_DOCS
from pipeline.services import Services
from pipeline.store import Store

ENGINE_NAMES = {"lancedb": "LanceDB", "weaviate": "Weaviate"}
ENGINE_KINDS = {"lancedb": "embedded, on local disk", "weaviate": "server"}
MODE_NAMES = {"full": "full", "partial": "partial", "ocr+keyword": "OCR + keyword"}
MODE_MEANINGS = {
    "full": "Every asset is OCR'd, captioned and embedded by Qwen3-VL; search fuses BM25 over OCR text and "
    "captions with vector similarity, so a query finds images by meaning as well as by the words in them.",
    "partial": "Some models could not be loaded (see the notice): search uses the ones that were and falls "
    "back to keywords where a model is missing.",
    "ocr+keyword": "No captions and no vectors: assets are found by the text OCR reads in them (BM25), and an "
    "image query matches by the text read from it. Photos without text are only found through their metadata.",
}
MODE_SHORT = {
    "full": "search by meaning and by the words in images",
    "partial": "some models are missing: search falls back to keywords where they are",
    "ocr+keyword": "search by the words in images and their metadata, not by meaning",
}
INGEST_COMMAND = "vlsearch ingest --manifest samples/manifest.jsonl"
EXAMPLE_SAMPLE = 300  # records read for example queries: enough to find shared words, quick to read
EXAMPLE_QUERIES = 6
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
# Words too common in screenshots and receipts to say anything about one of them.
_STOP_WORDS = frozenset(
    "this that with from your have will here there please were what when which about into than then them they "
    "more some only also been just like over help back next cancel close continue page home example reference "
    "https http www name".split()
)


@dataclass(frozen=True)
class Overview:
    count: int
    engine: str
    engine_kind: str
    location: str
    with_vector: int
    with_caption: int
    mode: str
    mode_meaning: str
    mode_short: str  # what search can do in this mode, in a few words
    rerank_available: bool
    notices: list[str]
    metadata_columns: list[str]
    data_dir: str


def collection_overview(services: Services) -> Overview:
    """Collection size and what produced it, the engine, and what the model mode means for search."""
    stats = services.store.stats()
    mode = services.models.mode
    return Overview(
        count=stats.count,
        engine=ENGINE_NAMES.get(services.store.engine, services.store.engine),
        engine_kind=ENGINE_KINDS.get(services.store.engine, ""),
        location=stats.location,
        with_vector=stats.with_vector,
        with_caption=stats.with_caption,
        mode=MODE_NAMES.get(mode, mode),
        mode_meaning=MODE_MEANINGS.get(mode, ""),
        mode_short=MODE_SHORT.get(mode, ""),
        rerank_available=services.models.reranker is not None,
        notices=[*services.settings.earlier_version_notices(), *services.models.notices],
        metadata_columns=stats.metadata_columns,
        data_dir=str(services.settings.data_dir),
    )


def facet_values(store: Store) -> dict[str, list[tuple[str, int]]]:
    """Every metadata column with its values and counts, most frequent first: the dashboard's filter choices."""
    return {column: store.distinct_values(column) for column in store.metadata_columns()}


def model_state(overview: Overview) -> str:
    """The model mode in one line, with where the details are written."""
    rerank = "rerank available" if overview.rerank_available else "no rerank"
    return f"{overview.mode} mode: {overview.mode_short} · {rerank} · details in {REDUCED_MODE_DOCS}"


def example_queries(
    store: Store, facets: dict[str, list[tuple[str, int]]], *, limit: int = EXAMPLE_QUERIES
) -> list[str]:
    """Queries that find something in this collection: the words several records share without being common
    (read from up to EXAMPLE_SAMPLE records' OCR text and captions), then the most frequent value of metadata
    columns with a few values (an app, a category)."""
    records = store.get(next(store.iter_ids(EXAMPLE_SAMPLE), []))
    spread: Counter[str] = Counter()
    for record in records:
        seen = {word.lower() for word in _WORD.findall(f"{record.ocr_text} {record.caption}")}
        spread.update(seen - _STOP_WORDS)
    everywhere = max(2, len(records) // 5)  # a word in more records than this says little about any of them
    words = [word for word, count in spread.most_common() if 2 <= count <= everywhere]
    values = [
        values[0][0]
        for column, values in facets.items()
        if len(values) >= 2 and column_filter(column, values).kind == FilterKind.CHOICE and len(values[0][0]) <= 30
    ]
    picked = words[: max(limit - len(values), limit // 2)]
    examples: dict[str, str] = {}
    for example in picked + values:  # one pill per query: "product" may be a category and a kind both
        examples.setdefault(example.casefold(), example)
    return list(examples.values())[:limit]
