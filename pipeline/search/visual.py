"""What looks the same as a query image: the third result set of an image query, beside keywords and vectors.

The embedding finds what is similar (another error dialog, another red sneaker); this finds the same picture
again, cropped, rescaled or re-encoded, including pictures with no text for OCR to read. Two steps, so no query
compares against every stored asset:
1. candidates: the store's BM25 over visual words (pipeline/store/visual_words.py), VISUAL_CANDIDATES of them;
2. verification: the query's ORB features paired with each candidate's (from its stored thumbnail) must agree on
   one plausible similarity transform (pipeline/keypoints.py). Candidates with fewer than MIN_INLIERS agreeing
   pairs are dropped: unrelated pictures reach about 10, and screenshots of one app that share its chrome reach
   20 to 100, which relative fusion then ranks far below the same screen (hundreds on a rescale, 75+ on a crop
   of 30 %).

Fusion adds the set with its own weight (VLSEARCH_VISUAL_WEIGHT) the way Weaviate fuses its two: min-max
normalised agreeing pairs (relative) or 1 / (rank + 60) (ranked). A hit the text and vectors missed joins the
ranking; the count is kept on the hit (Scores.visual_pairs) and shown as its reason.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
from PIL import Image

from pipeline.images import thumbnail_jpeg
from pipeline.keypoints import MIN_INLIERS, agreeing_pairs, features
from pipeline.records import AssetRecord, Hit, Scores
from pipeline.store.base import Fusion, Store
from pipeline.store.fusion import ranked_scores, relative_scores
from pipeline.store.visual_words import words_of

VISUAL_CANDIDATES = 32


def looks_same(
    store: Store, image: Image.Image, *, where: str | None, candidates: int = VISUAL_CANDIDATES
) -> list[tuple[AssetRecord, int]]:
    """Stored assets that show the query image (or a part of it, or it a part of them), with their agreeing
    keypoint pairs, most first. Empty for a picture too plain to have keypoints."""
    query = features(thumbnail_jpeg(image))
    if query is None:
        return []
    found = store.visual_search(words_of(query), limit=candidates, where=where)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    same = []
    for record in store.get([doc_id for doc_id, _ in found]):
        stored = features(record.thumbnail) if record.thumbnail else None
        pairs = agreeing_pairs(query, stored, matcher, MIN_INLIERS) if stored is not None else 0
        if pairs >= MIN_INLIERS:
            same.append((record, pairs))
    return sorted(same, key=lambda match: (-match[1], match[0].id))


def add_visual(hits: list[Hit], same: list[tuple[AssetRecord, int]], *, weight: float, fusion: Fusion) -> list[Hit]:
    """`hits` (fused keyword + vector, best first) with the visual set fused in, best first."""
    if not same or weight <= 0:
        return hits
    pairs = {record.id: count for record, count in same}
    results = [(record.id, float(count)) for record, count in same]
    added = relative_scores(results) if fusion == Fusion.RELATIVE else ranked_scores(results)
    by_id = {hit.record.id: hit for hit in hits}
    for record, _ in same:
        by_id.setdefault(record.id, Hit(record=record, scores=Scores(fused=0.0)))
    fused = [
        replace(hit, scores=_with_visual(hit.scores, weight * added[doc_id], pairs[doc_id])) if doc_id in pairs else hit
        for doc_id, hit in by_id.items()
    ]
    return sorted(fused, key=lambda hit: (-hit.scores.fused, hit.record.id))


def _with_visual(scores: Scores, added: float, pairs: int) -> Scores:
    return replace(scores, fused=scores.fused + added, visual_pairs=pairs)
