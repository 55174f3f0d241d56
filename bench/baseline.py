"""The seed article's approach, as a baseline: FAISS IndexFlatIP + rank_bm25, fused in Python.

Built from the same stored table the engine searches (ids, analysed text, vectors, category),
so both systems see the same data. Keyword side: `rank_bm25.BM25Okapi` over our analyser's
tokens (pipeline/store/analyzer.py, as stored in the table's search_terms column), lower-cased and
split on non-word characters as Lance's tokenizer does. Vector side: exact inner product on the
L2-normalised vectors (= cosine). Hybrid: the top 100 of each side fused by the same
relative_score_fusion (pipeline/store/fusion.py). A metadata filter is applied the way such a
script would: BM25 scores masked with a numpy array, FAISS searched with an id selector; the
per-category masks and selectors are prepared once, outside the timings.
"""

from __future__ import annotations

import re
from pathlib import Path

import faiss
import lancedb
import numpy as np
from rank_bm25 import BM25Okapi

from pipeline.store.analyzer import search_tokens
from pipeline.store.base import MIN_CANDIDATES
from pipeline.store.fusion import relative_score_fusion
from pipeline.store.lance_engine import TEXT_COLUMN

_WORD = re.compile(r"\w+", re.UNICODE)


def tokens(analysed: str) -> list[str]:
    return _WORD.findall(analysed.lower())


class SeedBaseline:
    """In-memory keyword, vector and hybrid search over one LanceStore table's contents."""

    def __init__(self, table_dir: Path, *, table: str = "assets", category_column: str = "m_category"):
        data = lancedb.connect(table_dir).open_table(table)
        ids: list[str] = []
        corpus: list[list[str]] = []
        categories: list[str] = []
        vectors: list[np.ndarray] = []
        columns = ["id", TEXT_COLUMN, category_column, "vector"]
        for batch in data.search().select(columns).limit(None).to_batches(10_000):
            ids.extend(batch.column("id").to_pylist())
            corpus.extend(tokens(text or "") for text in batch.column(TEXT_COLUMN).to_pylist())
            categories.extend(batch.column(category_column).to_pylist())
            flat = batch.column("vector").flatten().to_numpy()
            vectors.append(flat.reshape(len(batch), -1).astype(np.float32))
        self.ids = ids
        matrix = np.concatenate(vectors)
        self.index = faiss.IndexFlatIP(matrix.shape[1])
        self.index.add(matrix)
        self.bm25 = BM25Okapi(corpus)
        labels = np.asarray(categories, dtype=object)
        self._masks = {value: labels == value for value in set(categories)}
        self._selectors = {
            value: faiss.IDSelectorBatch(np.flatnonzero(mask).astype(np.int64)) for value, mask in self._masks.items()
        }

    def keyword_search(self, text: str, *, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        scores = self.bm25.get_scores(tokens(search_tokens(text)))
        if category is not None:
            scores = np.where(self._masks[category], scores, -np.inf)
        top = np.argpartition(-scores, min(limit, len(scores) - 1))[:limit]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def vector_search(self, vector: np.ndarray, *, limit: int, category: str | None = None) -> list[tuple[str, float]]:
        params = faiss.SearchParameters(sel=self._selectors[category]) if category is not None else None
        similarities, rows = self.index.search(vector[None, :].astype(np.float32), limit, params=params)
        return [(self.ids[row], float(sim)) for row, sim in zip(rows[0], similarities[0]) if row >= 0]

    def hybrid(
        self, text: str, vector: np.ndarray, *, alpha: float, limit: int, category: str | None = None
    ) -> list[str]:
        depth = max(limit, MIN_CANDIDATES)
        keyword = self.keyword_search(text, limit=depth, category=category)
        nearest = self.vector_search(vector, limit=depth, category=category)
        return [doc_id for doc_id, _ in relative_score_fusion([keyword, nearest], [1.0 - alpha, alpha])[:limit]]
