"""Topics: clusters of the collection, each labelled by the words that set it apart.

By vectors where the collection has them (full mode: k-means over the embeddings), by text otherwise (OCR +
keyword mode: k-means over TF-IDF of the OCR text and captions, with the keyword index's own analysis, so
Chinese is in words and glued OCR words are split). Either way a topic's label is its most distinctive words:
the terms whose mean TF-IDF in the topic most exceeds their mean over the collection (class-based TF-IDF).

Fitting is the costly step (seconds to minutes at 100k assets: docs/benchmarks.md), so the fitted model is kept
(insights.cache) and reused: assets added since are put in their nearest topic, and the model is fitted again
only when the collection has grown or shrunk by more than REFIT_SHARE since the fit. The fit is seeded, and
ordered by asset id, so the same collection gives the same topics and labels.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jieba
import numpy as np
import wordninja
from numpy.typing import NDArray
from scipy import sparse
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.preprocessing import normalize

from pipeline.insights.cache import InsightsCache
from pipeline.records import AssetSummary
from pipeline.store.analyzer import CJK

MODEL_VERSION = 2  # 2: topic words in whole words (cached models of version 1 are fitted again)
GLUED_FROM = 9  # English tokens this long are checked for words OCR glued together
SEED = 0
MIN_ASSETS = 4
MAX_TOPICS = 40
MAX_TERMS = 5000
LABEL_WORDS = 4
REFIT_SHARE = 0.2
MINI_BATCH_FROM = 5000  # larger collections use MiniBatchKMeans
BY_VECTORS, BY_TEXT = "vectors", "text"
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class TopicModel:
    """The fitted topics: how to place a new asset, and each topic's label."""

    mode: str  # BY_VECTORS or BY_TEXT
    terms: list[str]
    idf: NDArray[np.float64]
    centroids: NDArray[np.float64]
    labels: list[list[str]]
    fitted: int  # assets in the fit

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MODEL_VERSION,
            "mode": self.mode,
            "terms": self.terms,
            "idf": self.idf.tolist(),
            "centroids": self.centroids.tolist(),
            "labels": self.labels,
            "fitted": self.fitted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TopicModel | None:
        if data.get("version") != MODEL_VERSION:
            return None
        return cls(
            mode=data["mode"],
            terms=list(data["terms"]),
            idf=np.asarray(data["idf"], dtype=np.float64),
            centroids=np.asarray(data["centroids"], dtype=np.float64),
            labels=[list(label) for label in data["labels"]],
            fitted=int(data["fitted"]),
        )


def topic_words(text: str) -> list[str]:
    """The words a topic can be known by, as a person would read them: whole Chinese words (jieba's precise mode,
    not the search index's overlapping pieces such as 务器 beside 服务器), English words lower-cased with the
    words OCR glued together split ("thisoperation" -> this, operation), no stop words, no numbers or codes."""
    words: list[str] = []
    for token in _TOKEN.findall(text):
        for word in jieba.lcut(token) if CJK.search(token) else (token,):
            if CJK.search(word):
                words.extend([word] if len(word) >= 2 else [])
            elif word.isalpha():
                words.extend(
                    part for part in _unglued(word.lower()) if len(part) > 2 and part not in ENGLISH_STOP_WORDS
                )
    return words


@functools.lru_cache(maxsize=65536)
def _unglued(word: str) -> tuple[str, ...]:
    if len(word) < GLUED_FROM:
        return (word,)
    parts = wordninja.split(word)
    return tuple(parts) if len(parts) > 1 and all(len(part) >= 2 for part in parts) else (word,)


def topic_count(assets: int) -> int:
    return max(2, min(MAX_TOPICS, round(math.sqrt(assets / 2))))


def document(summary: AssetSummary) -> str:
    return f"{summary.ocr_text}\n{summary.caption}"


def tf_idf(counts: sparse.csr_matrix, idf: NDArray[np.float64]) -> sparse.csr_matrix:
    """Sublinear term frequency times idf, rows L2-normalised (as sklearn's TfidfVectorizer(sublinear_tf=True))."""
    weighted = counts.astype(np.float64)
    weighted.data = 1.0 + np.log(weighted.data)
    return normalize(weighted @ sparse.diags(idf), norm="l2")


def counts_of(summaries: Sequence[AssetSummary], terms: list[str]) -> sparse.csr_matrix:
    return CountVectorizer(analyzer=topic_words, vocabulary=terms).transform([document(s) for s in summaries])


VectorsOf = Callable[[Sequence[AssetSummary]], NDArray[np.float64] | None]


def fit(
    summaries: Sequence[AssetSummary], vectors: NDArray[np.float64] | None = None, *, seed: int = SEED
) -> tuple[TopicModel, NDArray[np.int64]] | None:
    """Topics of `summaries` (in id order) and each one's topic, clustered by `vectors` (their L2-normalised
    embeddings, one row each) when given, else by text; None when there are too few assets or words."""
    if len(summaries) < MIN_ASSETS:
        return None
    counter = CountVectorizer(analyzer=topic_words, min_df=2 if len(summaries) >= 20 else 1, max_features=MAX_TERMS)
    try:
        counts = counter.fit_transform([document(summary) for summary in summaries])
    except ValueError:  # no words at all
        return None
    terms = [str(term) for term in counter.get_feature_names_out()]
    df = np.bincount(counts.indices, minlength=len(terms))
    idf = np.log((1 + len(summaries)) / (1 + df)) + 1.0
    weights = tf_idf(counts, idf)
    mode = BY_VECTORS if vectors is not None else BY_TEXT
    # By text, an asset without words (a photo in OCR + keyword mode) belongs to no topic.
    rows = np.arange(len(summaries)) if mode == BY_VECTORS else np.flatnonzero(np.diff(counts.indptr) > 0)
    if len(rows) < MIN_ASSETS:
        return None
    points = vectors[rows] if vectors is not None else weights[rows]
    k = min(topic_count(len(rows)), len(rows))
    clusterer: KMeans | MiniBatchKMeans = (
        MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048)
        if len(rows) >= MINI_BATCH_FROM
        else KMeans(n_clusters=k, random_state=seed, n_init=4)
    )
    assigned = np.full(len(summaries), -1, dtype=np.int64)
    with warnings.catch_warnings():
        # Fewer distinct assets than topics (copies of one text): some topics stay empty and are not shown.
        warnings.simplefilter("ignore", ConvergenceWarning)
        assigned[rows] = clusterer.fit_predict(points)
    centroids = np.asarray(clusterer.cluster_centers_, dtype=np.float64)
    model = TopicModel(mode, terms, idf, centroids, _labels(weights, assigned, k, terms), len(summaries))
    return model, assigned


def assign(
    model: TopicModel, summaries: Sequence[AssetSummary], vectors: NDArray[np.float64] | None = None
) -> NDArray[np.int64]:
    """The nearest topic of each asset, by the model's own kind of point; -1 for an asset without it."""
    if not summaries:
        return np.zeros(0, dtype=np.int64)
    points: NDArray[np.float64] | sparse.csr_matrix
    wordless = np.zeros(len(summaries), dtype=bool)
    if model.mode == BY_VECTORS:
        if vectors is None:  # assets without vectors wait for the next fit
            return np.full(len(summaries), -1, dtype=np.int64)
        points = vectors
    else:
        points = tf_idf(counts_of(summaries, model.terms), model.idf)
        wordless = np.diff(points.indptr) == 0
    centroids = model.centroids
    distances = -2 * np.asarray(points @ centroids.T) + (centroids**2).sum(axis=1)[None, :]
    nearest = np.asarray(distances.argmin(axis=1), dtype=np.int64)
    if model.mode == BY_TEXT:
        nearest[wordless] = -1  # no known words: no topic
    return nearest


def _labels(weights: sparse.csr_matrix, assigned: NDArray[np.int64], k: int, terms: list[str]) -> list[list[str]]:
    overall = np.asarray(weights[assigned >= 0].mean(axis=0)).ravel()
    labels: list[list[str]] = []
    for topic in range(k):
        rows = np.flatnonzero(assigned == topic)
        if not len(rows):
            labels.append([])
            continue
        lift = np.asarray(weights[rows].mean(axis=0)).ravel() - overall
        best = sorted(np.flatnonzero(lift > 0), key=lambda column: (-lift[column], terms[column]))[:LABEL_WORDS]
        labels.append([terms[column] for column in best])
    return labels


def topics_for(
    summaries: Sequence[AssetSummary], cache: InsightsCache, vectors_of: VectorsOf | None = None, *, seed: int = SEED
) -> tuple[TopicModel | None, dict[str, int], bool]:
    """(model, asset id -> topic, whether it was fitted now) for the whole collection, from the cache where it
    still fits. `summaries` is every asset of the collection, in id order; `vectors_of` loads embeddings
    (None in OCR + keyword mode), only for the assets that need them: all of them for a fit, the new ones else."""
    stored = cache.topic_model()
    model = TopicModel.from_json(stored) if stored else None
    known = cache.topics_of()
    ids = {summary.id for summary in summaries}
    new = [summary for summary in summaries if summary.id not in known]
    removed = len(set(known) - ids)
    wants_vectors = vectors_of is not None
    stale = (
        model is None
        or len(new) + removed > REFIT_SHARE * max(model.fitted, 1)
        or (model.mode == BY_VECTORS) != wants_vectors
    )
    if stale:
        fitted = fit(summaries, vectors_of(summaries) if vectors_of else None, seed=seed)
        if fitted is None:
            cache.save_topics(None, {}, refit=True)
            return None, {}, True
        model, assigned = fitted
        # Assets in no topic (-1) are kept too, so they are not new on the next run.
        placed = {summary.id: int(topic) for summary, topic in zip(summaries, assigned, strict=True)}
        cache.save_topics(model.to_json(), placed, refit=True)
        return model, {doc_id: topic for doc_id, topic in placed.items() if topic >= 0}, True
    assert model is not None
    nearest = assign(model, new, vectors_of(new) if vectors_of and new else None)
    added = {summary.id: int(topic) for summary, topic in zip(new, nearest, strict=True)}
    if added:
        cache.save_topics(None, added, refit=False)
    topics = {doc_id: topic for doc_id, topic in {**known, **added}.items() if doc_id in ids and topic >= 0}
    return model, topics, False


def distinctive(words: set[str], model: TopicModel | None, limit: int = LABEL_WORDS) -> list[str]:
    """The rarest of `words` in the collection first (by the model's idf); topic words only."""
    idf = dict(zip(model.terms, model.idf.tolist(), strict=True)) if model else {}
    usable = [word for word in words if topic_words(word) == [word]]
    return sorted(usable, key=lambda word: (-idf.get(word, 0.0), -len(word), word))[:limit]
